"""The verdict: each metric of each suite paired with its baseline, then one gate decision.

Everything here is a function of a `RunResults` (suites, baselines, judge stats, settings), so
`llmgate merge` and `llmgate report` can recompute the verdict from results files alone.
"""

from __future__ import annotations

import math
from typing import Any

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_MAX_JUDGE_ERROR_RATE, DEFAULT_TOLERANCE
from pytest_llmgate.gate.baseline import UPDATE_REMEDY
from pytest_llmgate.gate.records import (
    Baseline,
    CaseChange,
    GateResult,
    MetricSpec,
    MetricVerdict,
    RunResults,
    SuiteResult,
    SuiteVerdict,
)

CHECKS_METRIC = "checks_passed"
REJUDGE_REMEDY = "Re-run with --llm-gate-rejudge-baseline to judge the baseline's outputs with the new judge."


def judge_keys_changed(result: SuiteResult, baseline: Baseline) -> list[str]:
    """Fingerprint keys of the judge (`judge`, `rubric:<name>`) that differ from the baseline's.

    The judge is compared by identity (`provider:model`): an OpenAI-compatible server's URL in
    an older baseline's fingerprint does not count as a change."""
    from pytest_llmgate.judge.providers import judge_identity

    changed = []
    for key in sorted(set(result.fingerprints) | set(baseline.fingerprints)):
        if key != "judge" and not key.startswith("rubric:"):
            continue
        old, new = baseline.fingerprints.get(key), result.fingerprints.get(key)
        if key == "judge" and old and new:
            old, new = judge_identity(old), judge_identity(new)
        if old != new and new is not None:
            changed.append(key)
    return changed


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _fingerprint_problems(result: SuiteResult, baseline: Baseline) -> list[str]:
    problems = []
    judge_changed = judge_keys_changed(result, baseline)
    for key in sorted(set(result.fingerprints) | set(baseline.fingerprints)):
        old, new = baseline.fingerprints.get(key), result.fingerprints.get(key)
        if old == new or (key == "judge" and key not in judge_changed and new is not None):
            continue
        remedy = REJUDGE_REMEDY if key in judge_changed else UPDATE_REMEDY
        problems.append(
            f"fingerprint '{key}' changed (baseline {old or 'absent'}, now {new or 'absent'}): "
            f"scores are not comparable. {remedy}"
        )
    return problems


def _case_changes(result: SuiteResult, baseline: Baseline | None) -> list[CaseChange]:
    changes = []
    for case_id, case in result.cases.items():
        before = baseline.cases.get(case_id) if baseline else None
        was_passing = before is None or before.passed
        kind = None
        if not case.passed:
            kind = "newly_failing" if was_passing else "known_failing"
        elif before is not None and not before.passed:
            kind = "fixed"
        if kind:
            changes.append(
                CaseChange(suite=result.suite, case_id=case_id, nodeid=case.nodeid, kind=kind, failure=case.failure)
            )
    order = {"newly_failing": 0, "known_failing": 1, "fixed": 2}
    return sorted(changes, key=lambda c: (order[c.kind], c.case_id))


def _compare_metric(
    suite: str, spec: MetricSpec, result: SuiteResult, baseline: Baseline | None, alpha: float, tolerance: float
) -> tuple[MetricVerdict, Any]:
    from pytest_llmgate.gate import stats

    now_all = [c.metrics[spec.name] for c in result.cases.values() if spec.name in c.metrics]
    base_cases = baseline.cases if baseline else {}
    paired = [
        (base_cases[cid].metrics[spec.name], case.metrics[spec.name])
        for cid, case in sorted(result.cases.items())
        if spec.name in case.metrics and cid in base_cases and spec.name in base_cases[cid].metrics
    ]
    verdict = MetricVerdict(
        suite=suite,
        metric=spec.name,
        kind=spec.kind,
        higher_is_better=spec.higher_is_better,
        n_paired=len(paired),
        current_mean_all=sum(now_all) / len(now_all) if now_all else None,
        tolerance=tolerance,
        alpha=alpha,
        min_score=spec.min_score,
        ci_level=1 - 2 * alpha,
        status="new" if baseline is None or spec.name not in baseline.metrics else "no_data",
    )
    if not paired:
        verdict.current_mean = verdict.current_mean_all
        verdict.reason = (
            "no baseline values to compare with" if verdict.status == "new" else "no case has a value in both runs"
        )
        return verdict, None
    # Baselines store six decimals; compare at that precision so float noise is not a "change".
    before = [round(b, 6) for b, _ in paired]
    after = [round(a, 6) for _, a in paired]
    compare = stats.compare_binary if spec.kind == "binary" else stats.compare_continuous
    cmp = compare(before, after, higher_is_better=spec.higher_is_better, alpha=alpha)
    verdict.baseline_mean, verdict.current_mean, verdict.diff = cmp.baseline_mean, cmp.current_mean, cmp.diff
    verdict.ci_low, verdict.ci_high = _finite(cmp.ci_low), _finite(cmp.ci_high)
    # An infinite MDE means no drop at all is detectable with this many cases: stored as None.
    verdict.p_value, verdict.test, verdict.mde = cmp.p_value, cmp.test, _finite(cmp.mde)
    return verdict, cmp


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _floor_broken(verdict: MetricVerdict) -> bool:
    if verdict.min_score is None or verdict.current_mean_all is None:
        return False
    if verdict.higher_is_better:
        return verdict.current_mean_all < verdict.min_score
    return verdict.current_mean_all > verdict.min_score


def _reason(v: MetricVerdict) -> str:
    direction = "higher" if v.higher_is_better else "lower"
    interval = f"{v.ci_level:.0%} CI {_fmt(v.ci_low)} to {_fmt(v.ci_high)}"
    p = f"p={v.p_adjusted:.3g} (Holm)" if v.p_adjusted is not None else "p=n/a"
    change = f"{v.diff:+.3f} ({interval}), {p}" if v.diff is not None else ""
    if v.status == "below_floor":
        return f"mean {_fmt(v.current_mean_all)} is beyond the floor {v.min_score} ({direction} is better)"
    if v.status == "fail":
        return f"dropped {change}: worse than the tolerance {v.tolerance} and significant at alpha {v.alpha}"
    if v.status == "improved":
        return f"improved {change}"
    if v.status == "underpowered":
        seen = "no drop at all is detectable" if v.mde is None else f"the smallest detectable drop is {_fmt(v.mde)}"
        return (
            f"{change}; with {v.n_paired} paired cases {seen}, more than the tolerance {v.tolerance}: "
            f"add cases or raise the tolerance"
        )
    return f"{change}; no material and significant drop"


def compare_suites(
    suites: dict[str, SuiteResult],
    baselines: dict[str, Baseline | None],
    baseline_paths: dict[str, str],
    *,
    alpha: float,
    tolerance: float,
) -> list[SuiteVerdict]:
    """Pair every metric of every suite with its baseline; Holm-adjust across the whole run."""
    from pytest_llmgate.gate import stats

    verdicts: list[SuiteVerdict] = []
    compared: list[tuple[MetricVerdict, Any]] = []
    for name in sorted(suites):
        result, baseline = suites[name], baselines.get(name)
        path = baseline_paths.get(name, "")
        suite_verdict = SuiteVerdict(suite=name, baseline_path=path, cases=_case_changes(result, baseline))
        if baseline is None:
            suite_verdict.problems.append(
                f"no baseline for this suite at {path}. Run `pytest --llm-gate --llm-gate-update` to create it, "
                f"then commit it."
            )
        else:
            suite_verdict.problems += _fingerprint_problems(result, baseline)
            for missing in sorted(set(baseline.metrics) - set(result.metrics)):
                suite_verdict.problems.append(
                    f"metric '{missing}' is in the baseline but was not recorded in this run. {UPDATE_REMEDY}"
                )
        for metric in sorted(result.metrics):
            spec = result.metrics[metric]
            m_alpha = spec.alpha if spec.alpha is not None else alpha
            m_tol = spec.tolerance if spec.tolerance is not None else tolerance
            verdict, cmp = _compare_metric(name, spec, result, baseline, m_alpha, m_tol)
            suite_verdict.metrics.append(verdict)
            if cmp is not None:
                compared.append((verdict, cmp))
        verdicts.append(suite_verdict)

    adjusted = stats.holm([v.p_value for v, _ in compared]) if compared else []
    for (verdict, cmp), p_adj in zip(compared, adjusted, strict=True):
        verdict.p_adjusted = p_adj
        verdict.status = stats.decide(
            cmp,
            tolerance=verdict.tolerance,
            alpha=verdict.alpha,
            higher_is_better=verdict.higher_is_better,
            p_adjusted=p_adj,
        )
    for suite_verdict in verdicts:
        for verdict in suite_verdict.metrics:
            if _floor_broken(verdict):
                verdict.status = "below_floor"
            if verdict.n_paired:
                verdict.reason = _reason(verdict)
    return verdicts


def judge_error_reasons(results: RunResults, max_rate: float) -> list[str]:
    """A rubric whose share of judge errors is above `max_rate` fails the gate."""
    reasons = []
    for rubric, stat in sorted(results.judge_stats.items()):
        if stat.verdicts and stat.errors / stat.verdicts > max_rate:
            reasons.append(
                f"judge errors for rubric '{rubric}': {stat.errors} of {stat.verdicts} verdicts "
                f"({stat.errors / stat.verdicts:.0%}) exceed the limit of {max_rate:.0%}; see the report's judge errors."
            )
    return reasons


def decide_gate(verdicts: list[SuiteVerdict], *, strict: bool, extra_reasons: list[str]) -> GateResult:
    """One status for the run: FAIL if anything failed, else UNDERPOWERED if a metric could not see a drop."""
    reasons: list[str] = []
    underpowered: list[str] = []
    for suite in verdicts:
        reasons += [f"{suite.suite}: {problem}" for problem in suite.problems]
        for metric in suite.metrics:
            if metric.status == "below_floor":
                reasons.append(f"{suite.suite}: {metric.metric} {metric.reason}")
        dropped = [m for m in suite.metrics if m.status == "fail"]
        if dropped:
            listed = ", ".join(f"{m.metric} {m.diff:+.3f} (p={m.p_adjusted:.2g})" for m in dropped)
            reasons.append(
                f"{suite.suite}: {len(dropped)} metric(s) dropped beyond their tolerance, significantly "
                f"(Holm-adjusted): {listed}"
            )
        weak = [m for m in suite.metrics if m.status == "underpowered"]
        if weak:
            names = ", ".join(m.metric for m in weak)
            underpowered.append(
                f"{suite.suite}: {len(weak)} metric(s) cannot see a drop of their tolerance with "
                f"{max(m.n_paired for m in weak)} paired cases ({names}); add cases or raise the tolerance "
                f"(MDE column)."
            )
        newly = [c.case_id for c in suite.cases if c.kind == "newly_failing"]
        if strict and newly:
            shown = ", ".join(newly[:10]) + (f" and {len(newly) - 10} more" if len(newly) > 10 else "")
            reasons.append(f"{suite.suite}: {len(newly)} newly failing case(s) in strict mode: {shown}")
    reasons += extra_reasons
    if reasons:
        needs_update = any(UPDATE_REMEDY in r or "--llm-gate-update" in r for r in reasons)
        only_setup = all("fingerprint" in r or "no baseline" in r or "not recorded" in r for r in reasons)
        if only_setup and all(REJUDGE_REMEDY in r for r in reasons):
            return GateResult(status="FAIL", passed=False, reasons=reasons, remedy=REJUDGE_REMEDY)
        remedy = (
            UPDATE_REMEDY
            if needs_update and only_setup
            else "Fix the regression, or if the new scores are intended, "
            + UPDATE_REMEDY[0].lower()
            + UPDATE_REMEDY[1:]
        )
        return GateResult(status="FAIL", passed=False, reasons=reasons, remedy=remedy)
    if underpowered:
        return GateResult(status="UNDERPOWERED", passed=True, reasons=underpowered)
    return GateResult(status="PASS", passed=True)


def evaluate(
    results: RunResults, *, baseline_paths: dict[str, str] | None = None, extra_reasons: list[str] | None = None
) -> RunResults:
    """Recompute the verdicts and the gate of `results` from its suites, baselines and settings.

    `baseline_paths` default to those of the verdicts already in `results`; `extra_reasons`
    (calibration, replay misses) fail the gate beside the metrics.
    """
    settings = results.settings
    alpha = float(settings.get("alpha", DEFAULT_ALPHA))
    tolerance = float(settings.get("tolerance", DEFAULT_TOLERANCE))
    paths = baseline_paths if baseline_paths is not None else {v.suite: v.baseline_path for v in results.verdicts}
    verdicts = compare_suites(results.suites, results.baselines, paths, alpha=alpha, tolerance=tolerance)
    extra = judge_error_reasons(results, float(settings.get("max_judge_error_rate", DEFAULT_MAX_JUDGE_ERROR_RATE)))
    extra += list(extra_reasons or [])
    gate = decide_gate(verdicts, strict=bool(settings.get("strict", False)), extra_reasons=extra)
    return results.model_copy(update={"verdicts": verdicts, "gate": gate})
