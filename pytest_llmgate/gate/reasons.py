"""Typed reasons: why a gate FAILs or is INCONCLUSIVE, each with the remedy that fits its cause.

A reason is a value, not a sentence matched later: `gate/verdict.evaluate` builds them from
the results alone, and every renderer (terminal, markdown, PR comment, HTML report, JUnit)
shows the same list. The remedy belongs to the kind, so an update is offered only where an
update is the fix (a score change the team accepts), never for a spent budget or a typo.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ReasonKind = Literal[
    # blocking: each fails the gate
    "regression",  # a primary metric (or gated slice) dropped beyond its tolerance, significantly
    "below_floor",  # a metric's current mean is below its absolute floor (`min_score`)
    "newly_failing",  # strict mode, or a gated slice's `max_newly_failing`: cases that newly fail
    "no_baseline",  # a selected suite has no baseline file
    "baseline_error",  # a baseline file cannot be read (broken JSON, newer format)
    "fingerprint",  # dataset, rubric, judge or format changed: scores are not comparable
    "judge_changed",  # the judge changed: the baseline's outputs can be re-judged
    "metric_missing",  # a metric in the baseline (or named in `primary=`) was not recorded
    "suite_errored",  # every selected case of a suite errored (SUT outage): nothing to compare
    "judge_errors",  # a rubric's share of judge errors is above the limit
    "calibration",  # judge-human agreement below `min_agreement`
    "replay_miss",  # replay mode: judge calls not in the cache
    "budget",  # the judge budget (tokens or dollars) ran out before every verdict
    "deadline",  # the judge deadline cut verdicts
    "loosened",  # the run's gate settings are looser than the baseline was accepted under
    "drift",  # accepted updates add up to a drop beyond the tolerance (when set to fail)
    "usage",  # a usage error found before or during the run (a `primary=` or `slices=` name that matches nothing)
    "update_refused",  # update mode: this run must not become the baseline (errors, judge errors, nothing run)
    "legacy",  # a reason read from a results file written before reasons were typed
    # not blocking: INCONCLUSIVE unless `fail_inconclusive`
    "inconclusive",  # a primary metric could tell neither a material drop nor its absence
    # never blocking: shown beside the verdict
    "partial",  # a shard (`--llm-gate-shard I/N`): gated only once merged
    "note",  # e.g. a gated slice with no selected case, a deselected suite
]

#: Kinds whose remedy is to accept the new scores (`--llm-gate-update`).
UPDATE_KINDS: frozenset[str] = frozenset(
    {
        "regression",
        "below_floor",
        "newly_failing",
        "no_baseline",
        "baseline_error",
        "fingerprint",
        "metric_missing",
        "loosened",
    }
)
#: Kinds that leave the run INCONCLUSIVE rather than FAILed.
UNSURE_KINDS: frozenset[str] = frozenset({"inconclusive"})
#: Kinds that never change the status.
NOTE_KINDS: frozenset[str] = frozenset({"note", "partial"})

UPDATE_REMEDY = "Re-run with --llm-gate-update to accept the new scores."
REJUDGE_REMEDY = "Re-run with --llm-gate-rejudge-baseline to judge the baseline's outputs with the new judge."
#: The remedy each kind carries unless a reason names a more precise one (e.g. the rubric to label).
REMEDIES: dict[str, str | None] = {
    "regression": "Fix the regression, or if the new scores are intended, re-run with --llm-gate-update "
    "to accept the new scores.",
    "below_floor": "Fix the regression, or if the new scores are intended, lower min_score and re-run with "
    "--llm-gate-update to accept the new scores.",
    "newly_failing": "Fix the newly failing cases, or if their new outputs are intended, re-run with "
    "--llm-gate-update to accept the new scores.",
    "no_baseline": "Run `pytest --llm-gate --llm-gate-update` to create it, then commit it.",
    "baseline_error": "Regenerate it: " + UPDATE_REMEDY,
    "fingerprint": UPDATE_REMEDY,
    "judge_changed": REJUDGE_REMEDY,
    "metric_missing": UPDATE_REMEDY,
    "suite_errored": "Fix the error the cases raise (the first failed test shows its traceback), then re-run.",
    "judge_errors": "See the report's judge errors: fix the judge's setup (key, model, rubric) and re-run; "
    "a rerun pays only for what is missing.",
    "calibration": "Label more outputs with `llmgate label`, or fix the rubric until the judge agrees with people.",
    "replay_miss": "Run once without --llm-gate-replay to fill the cache, then replay.",
    "budget": "Raise the judge budget or judge fewer cases; a rerun pays only for what is missing (the rest is cached).",
    "deadline": "Raise --llm-gate-judge-deadline; a rerun pays only for what is missing (the rest is cached).",
    "loosened": UPDATE_REMEDY,
    "drift": "Review the accepted updates (`llmgate history`); fix the drop or re-accept it explicitly.",
    "usage": "Fix the usage error named above.",
    "update_refused": "Fix the cause above, then re-run with --llm-gate-update.",
    "legacy": None,
    "inconclusive": "Add the cases (or repeats) each line names so an unchanged app PASSes (`llmgate plan` sizes "
    "both goals), or set the tolerance to what the set certifies.",
    "partial": "Merge the shards' results files with `llmgate merge` to gate the whole run.",
    "note": None,
}


def make_reason(
    kind: ReasonKind,
    text: str,
    *,
    remedy: str | None = None,
    suite: str | None = None,
    metric: str | None = None,
    slice: str | None = None,  # noqa: A002 - the field's name
) -> Reason:
    """A reason whose remedy is its kind's own unless `remedy` names a more precise one."""
    return Reason(
        kind=kind,
        text=text,
        remedy=remedy if remedy is not None else REMEDIES.get(kind),
        suite=suite,
        metric=metric,
        slice=slice,
    )


def remedies(reasons: list[Reason]) -> list[str]:
    """The distinct remedies of the reasons that set the status, in the order they first appear."""
    blocking = [r for r in reasons if r.blocking]
    shown = blocking or [r for r in reasons if r.kind in UNSURE_KINDS]
    return list(dict.fromkeys(r.remedy for r in shown if r.remedy))


class Reason(BaseModel):
    """One reason for the gate's status, as every report renders it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ReasonKind
    """What kind of cause this is; decides whether it blocks and which remedy fits."""
    text: str
    """What is wrong, in the user's terms, without the remedy (e.g. `checks_passed -0.151 (p=0.0046)`)."""
    remedy: str | None = None
    """The one thing to do about this cause; None when nothing is to be done (a note)."""
    suite: str | None = None
    """The suite it concerns (its node id), or None for the whole run."""
    metric: str | None = None
    """The metric it concerns, or None."""
    slice: str | None = None
    """The gated slice (tag) it concerns, or None."""

    @property
    def blocking(self) -> bool:
        """Whether this reason FAILs the gate."""
        return self.kind not in UNSURE_KINDS and self.kind not in NOTE_KINDS

    def line(self) -> str:
        """The one-line form: `suite [slice t]: text` (the text names the metric)."""
        where = self.suite or ""
        if self.slice:
            where += f" [slice {self.slice}]"
        return f"{where}: {self.text}" if where else self.text


def reason_lines(reasons: list[Reason]) -> list[str]:
    """Each reason as one line of every report (notes marked as such); the remedies go below them."""
    return [f"note: {r.line()}" if r.kind == "note" else r.line() for r in reasons]


def shown_remedies(reasons: list[Reason], fallback: str | None = None) -> list[str]:
    """The remedies a report prints under the reasons; `fallback` is the gate's own `remedy`, for
    results files whose reasons predate the typed ones (they carry no remedy of their own)."""
    found = remedies(reasons)
    if not found and fallback and all(r.kind == "legacy" for r in reasons):
        return [fallback]
    return found
