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
    "usage",  # a usage error found before or during the run
    # not blocking: INCONCLUSIVE unless `fail_inconclusive`
    "inconclusive",  # a primary metric could tell neither a material drop nor its absence
    # never blocking: shown beside the verdict
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
NOTE_KINDS: frozenset[str] = frozenset({"note"})


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
