"""The verdict: one gate decision from a `RunResults`, every cause a typed reason.

Everything here is a function of a `RunResults` (suites, baselines, judge stats, settings), so
`llmgate merge` and `llmgate report` can recompute the verdict from results files alone. The
metric comparison is `gate/compare.py`; which metrics gate is `gate/primary.py` (both re-exported
here, where the session, the commands and the tests import them).
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_MAX_JUDGE_ERROR_RATE, DEFAULT_TOLERANCE
from pytest_llmgate.gate.compare import (
    FAMILIES,
    compare_suites,
    compare_with_reasons,
    fmt,
    judge_identity,
    judge_keys_changed,
    problem_line,
    worst_drop,
)
from pytest_llmgate.gate.loosening import guard_reasons
from pytest_llmgate.gate.primary import CHECKS_METRIC, DEFAULT_PRIMARY_PREFIXES, gating_options, primary_metrics
from pytest_llmgate.gate.reasons import (
    REJUDGE_REMEDY,
    REMEDIES,
    UNSURE_KINDS,
    UPDATE_REMEDY,
    Reason,
    make_reason,
    remedies,
)
from pytest_llmgate.gate.records import GateResult, GateStatus, RunResults, SuiteResult, SuiteVerdict

__all__ = [
    "CHECKS_METRIC",
    "DEFAULT_PRIMARY_PREFIXES",
    "FAMILIES",
    "REJUDGE_REMEDY",
    "UPDATE_REMEDY",
    "compare_suites",
    "decide",
    "evaluate",
    "gating_options",
    "judge_error_reasons",
    "judge_identity",
    "judge_keys_changed",
    "primary_metrics",
    "worst_drop",
]


def judge_error_reasons(results: RunResults, max_rate: float) -> list[Reason]:
    """A rubric whose share of judge errors is above `max_rate` fails the gate."""
    reasons = []
    for rubric, stat in sorted(results.judge_stats.items()):
        if stat.verdicts and stat.errors / stat.verdicts > max_rate:
            reasons.append(
                make_reason(
                    "judge_errors",
                    f"judge errors for rubric '{rubric}': {stat.errors} of {stat.verdicts} verdicts "
                    f"({stat.errors / stat.verdicts:.0%}) exceed the limit of {max_rate:.0%}; see the report's "
                    f"judge errors.",
                    metric=f"judge:{rubric}",
                )
            )
    return reasons


def _shown(items: list[str], limit: int = 10) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _judge_run_reasons(results: RunResults) -> list[Reason]:
    """Replay misses, spent budgets and the deadline: verdicts the judge could not give."""
    facts, settings = results.facts, results.settings
    reasons = []
    if facts.replay_missing:
        missing = sorted(facts.replay_missing)
        reasons.append(
            make_reason(
                "replay_miss",
                f"replay: {len(missing)} judge call(s) are not in the cache: {_shown(missing)}.",
            )
        )
    if facts.budget_tokens_exhausted:
        reasons.append(
            make_reason(
                "budget",
                f"the judge token budget ({settings.get('budget_tokens')}) ran out: verdicts after it are judge errors.",
                remedy="Raise --llm-gate-budget-tokens or judge fewer cases; a rerun pays only for what is missing.",
            )
        )
    if facts.budget_usd_exhausted:
        usd = settings.get("budget_usd")
        shown = f"${usd:g}" if isinstance(usd, (int, float)) else "set"
        reasons.append(
            make_reason(
                "budget",
                f"the judge dollar budget ({shown}) ran out: verdicts after it are judge errors.",
                remedy="Raise --llm-gate-budget-usd or judge fewer cases; a rerun pays only for what is missing.",
            )
        )
    if facts.unjudged_by_deadline:
        deadline = settings.get("judge_deadline")
        shown = f"{deadline:g} s" if isinstance(deadline, (int, float)) else "set"
        reasons.append(
            make_reason(
                "deadline",
                f"the judge deadline ({shown}) was reached: {facts.unjudged_by_deadline} judge call(s) were left "
                f"unjudged and counted as judge errors.",
            )
        )
    return reasons


def _calibration_reasons(results: RunResults) -> list[Reason]:
    """`llm_gate_min_agreement`: a rubric whose judge-human agreement is below its floor, or cannot be told."""
    floors = results.settings.get("min_agreement") or {}
    if results.facts.label_error:
        return [
            make_reason(
                "calibration",
                f"human labels unreadable: {results.facts.label_error}",
                remedy="Fix the labels file named above (`llmgate validate` checks it).",
            )
        ]
    if not floors:
        return []
    from pytest_llmgate.calibration.calibrate import check_min_agreement

    reasons = []
    for rubric in sorted(floors):
        label_more = f"label more with `llmgate label --rubric {rubric}`."
        for line in check_min_agreement(results.calibration, {rubric: float(floors[rubric])}):
            reasons.append(
                make_reason(
                    "calibration",
                    line.removesuffix(": " + label_more) + ".",
                    remedy=f"Label more outputs with `llmgate label --rubric {rubric}`, or fix the rubric until "
                    f"the judge agrees with people.",
                    metric=f"judge:{rubric}",
                )
            )
    return reasons


def _selection(results: RunResults) -> tuple[dict[str, SuiteResult], list[str], dict[str, tuple[int, str]]]:
    """(suites to compare, suites not run, suites whose every selected case errored -> (count, first error)).

    A suite with no case run and none errored was deselected (`-k`, a shard): it is not run,
    never a regression."""
    errored: dict[str, dict[str, str]] = {}
    for key, error in results.facts.errored.items():
        suite_name, _, case_id = key.rpartition("::")
        errored.setdefault(suite_name, {})[case_id] = error
    compared: dict[str, SuiteResult] = {}
    not_run: list[str] = []
    broken: dict[str, tuple[int, str]] = {}
    for name, suite in sorted(results.suites.items()):
        errors = errored.get(name, {})
        selected = set(suite.cases) | set(errors)
        if not selected:
            not_run.append(name)
        elif selected <= set(errors):
            first = sorted(selected)[0]
            broken[name] = (len(selected), f"{first}: {errors[first] or 'error'}")
        else:
            compared[name] = suite
    return compared, not_run, broken


def _metric_reasons(verdicts: list[SuiteVerdict], *, strict: bool) -> list[Reason]:
    """FAIL and INCONCLUSIVE reasons of the metrics: drops, floors, inconclusive primaries, strict mode."""
    from pytest_llmgate.gate import design

    reasons: list[Reason] = []
    for suite in verdicts:
        for metric in suite.metrics:
            if metric.status == "below_floor":
                reasons.append(
                    make_reason(
                        "below_floor", f"{metric.metric} {metric.reason}", suite=suite.suite, metric=metric.metric
                    )
                )
        groups = [(None, suite.metrics)] + [(s.tag, s.metrics) for s in suite.slices if s.gated]
        for tag, metrics in groups:
            gating = [m for m in metrics if m.primary]
            dropped = [m for m in gating if m.status == "fail"]
            if dropped:
                listed = ", ".join(f"{m.metric} {m.diff:+.3f} (p={m.p_adjusted:.2g})" for m in dropped)
                reasons.append(
                    make_reason(
                        "regression",
                        f"{len(dropped)} metric(s) dropped beyond their tolerance, significantly (Holm-adjusted): "
                        f"{listed}",
                        suite=suite.suite,
                        metric=dropped[0].metric if len(dropped) == 1 else None,
                        slice=tag,
                    )
                )
            weak = [m for m in gating if m.status == "inconclusive"]
            if weak:
                listed = ", ".join(
                    f"{m.metric} (certifies a tolerance of {fmt(worst_drop(m))} now, tolerance {m.tolerance}, "
                    f"detectable drop {fmt(m.mde)}; {design.settle_words(m, short=True)})"
                    for m in weak
                )
                reasons.append(
                    make_reason(
                        "inconclusive",
                        f"{len(weak)} primary metric(s) inconclusive with {max(m.n_paired for m in weak)} paired "
                        f"cases: {listed}",
                        suite=suite.suite,
                        slice=tag,
                    )
                )
        reasons += design.rule_reasons(suite)
        collapsed = design.collapsed_reason(suite)
        if collapsed is not None:
            reasons.append(collapsed)
        newly = [c.case_id for c in suite.cases if c.kind == "newly_failing"]
        if strict and newly:
            reasons.append(
                make_reason(
                    "newly_failing",
                    f"{len(newly)} newly failing case(s) in strict mode: {_shown(newly)}",
                    suite=suite.suite,
                )
            )
    return reasons


def _update_reasons(results: RunResults, reasons: list[Reason], compared: dict[str, SuiteResult]) -> list[Reason]:
    """Update mode: why this run must not become the baseline, or the note that it did."""
    refusals = [r for r in reasons if r.kind in ("judge_errors", "replay_miss", "budget", "deadline", "calibration")]
    refusals = [r for r in refusals if r.kind != "calibration"]  # an update may be how labels catch up
    errored = sorted(results.facts.errored)
    if errored:
        refusals.insert(
            0,
            make_reason(
                "update_refused",
                f"{len(errored)} case(s) errored outside their checks: {_shown(errored)}",
            ),
        )
    if not any(suite.cases for suite in results.suites.values()):
        refusals.append(
            make_reason(
                "update_refused",
                "no case ran (all deselected or skipped); an update needs the cases it rewrites.",
            )
        )
    if refusals:
        header = make_reason("update_refused", "baselines not updated, nothing written:")
        return [header, *refusals]
    written = sum(1 for suite in compared.values() if suite.cases)
    return [
        make_reason(
            "note",
            f"baselines updated: {written} file(s) written; the comparison shown is against the previous baselines.",
        )
    ]


def _in_update_terms(problem: str) -> str:
    """A suite problem as an update run shows it: no advice to run the update it is."""
    if problem.startswith("no baseline"):
        return "no previous baseline: this update creates it."
    for remedy in {UPDATE_REMEDY, REMEDIES["baseline_error"] or ""}:
        problem = problem.replace(" " + remedy, "")
    return problem


def evaluate(
    results: RunResults,
    *,
    baseline_paths: dict[str, str] | None = None,
    extra_reasons: Sequence[Reason | str] | None = None,
) -> RunResults:
    """The verdict of `results`, from the results alone: the one place the gate is decided.

    Metric verdicts, judge error rates, calibration floors, unreadable baselines, replay misses,
    budgets and the deadline, partial runs (shards) and update refusals all become typed reasons
    here, so the live run, `llmgate merge` and `llmgate report` decide alike. `baseline_paths`
    default to those of the verdicts already in `results`; `extra_reasons` fail the gate beside
    the rest (a plain string is a reason of kind `usage`).
    """
    settings = results.settings
    alpha = float(settings.get("alpha", DEFAULT_ALPHA))
    tolerance = float(settings.get("tolerance", DEFAULT_TOLERANCE))
    paths = baseline_paths if baseline_paths is not None else {v.suite: v.baseline_path for v in results.verdicts}
    primary = [str(name) for name in settings.get("primary") or []]
    update = bool(settings.get("update", False))
    compared, not_run, broken = _selection(results)
    verdicts, reasons = compare_with_reasons(
        compared,
        results.baselines,
        paths,
        alpha=alpha,
        tolerance=tolerance,
        primary=primary,
        family=str(settings.get("family") or "suite"),
        baseline_errors=results.facts.baseline_errors,
    )
    for name, (count, first) in broken.items():
        reason = make_reason(
            "suite_errored",
            f"every selected case errored ({count} of {count}), nothing to compare; the first: {first}",
            suite=name,
        )
        reasons.append(reason)
        verdicts.append(SuiteVerdict(suite=name, baseline_path=paths.get(name, ""), problems=[problem_line(reason)]))
    verdicts.sort(key=lambda v: v.suite)
    reasons += _metric_reasons(verdicts, strict=bool(settings.get("strict", False)))
    reasons += judge_error_reasons(results, float(settings.get("max_judge_error_rate", DEFAULT_MAX_JUDGE_ERROR_RATE)))
    reasons += _judge_run_reasons(results)
    reasons += _calibration_reasons(results)
    # Baselines as code: each loosening of a suite that ran, and drift when set to fail.
    reasons += [r for r in guard_reasons(results) if r.suite is None or r.suite in compared]
    reasons += [make_reason("usage", r) if isinstance(r, str) else r for r in extra_reasons or []]
    if not_run:
        reasons.append(
            make_reason(
                "note",
                f"not run (no case selected), not gated: {', '.join(not_run)}",
            )
        )
    if update:
        # A suite without a baseline is what an update is for: said once as a note, not as a problem.
        created = [v.suite for v in verdicts if any(p.startswith("no baseline") for p in v.problems)]
        for verdict in verdicts:
            verdict.problems = [_in_update_terms(p) for p in verdict.problems if not p.startswith("no baseline")]
        reasons = _update_reasons(results, reasons, compared) + [r for r in reasons if r.kind == "note"]
        reasons += [make_reason("note", "no previous baseline: this update creates it.", suite=s) for s in created]
    gate = decide(reasons, fail_inconclusive=bool(settings.get("fail_inconclusive", False)))
    shard = settings.get("shard")
    if shard:
        partial = make_reason(
            "partial",
            f"shard {shard}: partial run, merge with `llmgate merge` to gate (this results file and the other "
            f"shards' results files).",
        )
        gate = GateResult(status=gate.status, passed=True, reasons=[partial], remedy=None)
    return results.model_copy(update={"verdicts": verdicts, "gate": gate})


def decide(reasons: list[Reason], *, fail_inconclusive: bool = False) -> GateResult:
    """One status from the reasons: FAIL if any blocks, else INCONCLUSIVE if a primary metric (or
    gated slice) could tell neither, else PASS. INCONCLUSIVE fails the build only with
    `fail_inconclusive`. Notes are kept beside the status and never change it."""
    if any(r.blocking for r in reasons):
        status: GateStatus = "FAIL"
        passed = False
    elif any(r.kind in UNSURE_KINDS for r in reasons):
        status, passed = "INCONCLUSIVE", not fail_inconclusive
    else:
        status, passed = "PASS", True
    found = remedies(reasons)
    return GateResult(status=status, passed=passed, reasons=list(reasons), remedy=" ".join(found) or None)
