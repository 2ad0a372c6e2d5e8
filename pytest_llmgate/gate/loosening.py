"""The loosening guard: a run must not check less than its baseline was accepted under.

A PR that raises a tolerance, drops a primary metric, lowers a floor, removes a gated slice,
edits a rubric or deletes golden cases changes what the gate checks. Each such change is a
`loosened` reason that fails the gate until `--llm-gate-update` writes the new settings into
the baseline, where the PR's diff shows them. Tightening never needs acceptance.
"""

from __future__ import annotations

from pytest_llmgate.gate.drift import drift_reasons
from pytest_llmgate.gate.reasons import Reason
from pytest_llmgate.gate.records import Baseline, GateSettings, MetricRule, RunResults, SuiteResult

LOOSENED_REMEDY = "Re-run with --llm-gate-update to accept the looser settings (the baseline diff shows them)."
#: Settings are typed by people: 0.1 and 0.10000000001 are the same tolerance.
_EPSILON = 1e-12


def _num(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _reason(text: str, suite: str, metric: str | None = None, tag: str | None = None) -> Reason:
    return Reason(
        kind="loosened", text=f"LOOSENED: {text}", remedy=LOOSENED_REMEDY, suite=suite, metric=metric, slice=tag
    )


def _floor_loosened(old: MetricRule, new: MetricRule | None) -> bool:
    if old.min_score is None:
        return False
    if new is None or new.min_score is None:
        return True
    if old.higher_is_better:
        return new.min_score < old.min_score - _EPSILON
    return new.min_score > old.min_score + _EPSILON


def _levels(rules: GateSettings, metric: str, tag: str | None) -> tuple[float, float] | None:
    """(tolerance, alpha) of a primary metric, in a gated slice when `tag` is given."""
    rule = rules.metrics.get(metric)
    if rule is None:
        return None
    tolerance, alpha = rule.tolerance, rule.alpha
    if tag is not None:
        spec = rules.slices[tag]
        tolerance = spec.tolerance if spec.tolerance is not None else tolerance
        alpha = spec.alpha if spec.alpha is not None else alpha
    return tolerance, alpha


def loosenings(result: SuiteResult, baseline: Baseline | None) -> list[Reason]:
    """Every way the run's gate settings are looser than those the baseline was accepted under.

    Nothing to compare (no baseline, a baseline written before settings were recorded, a run
    that recorded none) gives no reason: the next update records them.
    """
    if baseline is None or baseline.gate_settings is None or result.gate_settings is None:
        return []
    old, new, suite = baseline.gate_settings, result.gate_settings, result.suite
    reasons: list[Reason] = []
    for metric in old.primary:
        # A metric this run did not record at all is the verdict's `metric_missing`, not a loosening.
        if metric not in new.primary and metric in result.metrics:
            reasons.append(
                _reason(
                    f"primary metric {metric} removed for {suite} (accepted with primary {', '.join(old.primary)})",
                    suite,
                    metric,
                )
            )
    # Tolerance and alpha gate through the primary metrics, in the suite and in each gated slice.
    for tag in [None, *sorted(old.slices)]:
        if tag is not None and tag not in new.slices:
            reasons.append(
                _reason(
                    f"gated slice '{tag}' removed for {suite} (accepted with gated slices {', '.join(sorted(old.slices))})",
                    suite,
                    tag=tag,
                )
            )
            continue
        where = f"{suite}" + (f" [slice {tag}]" if tag else "")
        if tag is not None:  # the slice's absolute rule: a higher limit, or none, lets more cases fail
            was_rule, now_rule = old.slices[tag].max_newly_failing, new.slices[tag].max_newly_failing
            if was_rule is not None and (now_rule is None or now_rule > was_rule):
                reasons.append(
                    _reason(
                        f"max_newly_failing {was_rule} -> {_num(now_rule)} for {where} (accepted under {was_rule})",
                        suite,
                        tag=tag,
                    )
                )
        for metric in old.primary:
            before, after = _levels(old, metric, tag), _levels(new, metric, tag)
            if metric not in new.primary or before is None or after is None:
                continue
            for name, was, now in (("tolerance", before[0], after[0]), ("alpha", before[1], after[1])):
                if now > was + _EPSILON:
                    reasons.append(
                        _reason(
                            f"{name} {was:g} -> {now:g} for {where}, metric {metric} (accepted under {was:g})",
                            suite,
                            metric,
                            tag,
                        )
                    )
    for metric, rule in sorted(old.metrics.items()):
        current = new.metrics.get(metric)
        if _floor_loosened(rule, current):
            floor = None if current is None else current.min_score
            reasons.append(
                _reason(
                    f"floor (min_score) {_num(rule.min_score)} -> {_num(floor)} for {suite}, metric {metric} "
                    f"(accepted under {_num(rule.min_score)})",
                    suite,
                    metric,
                )
            )
    for rubric, digest in sorted(old.rubrics.items()):
        now_digest = new.rubrics.get(rubric)
        if now_digest is not None and now_digest != digest:
            reasons.append(
                _reason(
                    f"rubric '{rubric}' text changed for {suite} (accepted as {digest[:12]}, now {now_digest[:12]})",
                    suite,
                )
            )
    if result.case_ids is not None and new.case_ids_sha256 != old.case_ids_sha256:
        removed = sorted(set(baseline.cases) - set(result.case_ids))
        if removed:
            shown = ", ".join(removed[:10]) + (f" and {len(removed) - 10} more" if len(removed) > 10 else "")
            reasons.append(
                _reason(
                    f"{len(removed)} golden case(s) removed for {suite}: {shown} "
                    f"(accepted with {old.cases} case{'' if old.cases == 1 else 's'})",
                    suite,
                )
            )
    return reasons


def guard_reasons(results: RunResults) -> list[Reason]:
    """The baselines-as-code reasons of a run: each loosening, and drift when set to fail.

    `gate/verdict.evaluate` adds them beside the metric verdicts; they depend on the results alone.
    """
    reasons: list[Reason] = []
    for name, result in sorted(results.suites.items()):
        reasons += loosenings(result, results.baselines.get(name))
    return reasons + drift_reasons(results)
