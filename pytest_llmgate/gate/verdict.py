"""The verdict: each metric of each suite paired with its baseline, then one gate decision.

Everything here is a function of a `RunResults` (suites, baselines, judge stats, settings), so
`llmgate merge` and `llmgate report` can recompute the verdict from results files alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_MAX_JUDGE_ERROR_RATE, DEFAULT_TOLERANCE
from pytest_llmgate.gate.baseline import UPDATE_REMEDY
from pytest_llmgate.gate.loosening import guard_reasons
from pytest_llmgate.gate.records import (
    Baseline,
    CaseChange,
    GateResult,
    MetricSpec,
    MetricVerdict,
    RunResults,
    SliceSpec,
    SliceVerdict,
    SuiteResult,
    SuiteVerdict,
)

CHECKS_METRIC = "checks_passed"
#: Metric name prefixes that are primary by default: the judge's and deepeval's verdicts.
DEFAULT_PRIMARY_PREFIXES = ("judge:", "deepeval:")
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
        kind: Literal["newly_failing", "known_failing", "fixed"] | None = None
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


def gating_options(primary: Any, slices: Any) -> tuple[list[str] | None, dict[str, SliceSpec]]:
    """Check the golden marker's `primary=` and `slices=`; raise ValueError saying what is wrong.

    `primary`: metric names (a list of strings). `slices`: tags, as a list, or a dict of tag to
    `{"tolerance": T, "alpha": A}` (either optional).
    """
    names: list[str] | None = None
    if primary is not None:
        if isinstance(primary, str) or not isinstance(primary, (list, tuple)) or not primary:
            msg = f"'primary' must be a non-empty list of metric names, e.g. ['checks_passed'] (got {primary!r})."
            raise ValueError(msg)
        bad = [name for name in primary if not isinstance(name, str) or not name]
        if bad:
            msg = f"'primary' must hold metric names as strings (got {bad[0]!r})."
            raise ValueError(msg)
        names = list(primary)
    specs: dict[str, SliceSpec] = {}
    if slices is None:
        return names, specs
    if isinstance(slices, (list, tuple)):
        slices = {tag: {} for tag in slices}
    if not isinstance(slices, dict):
        msg = f"'slices' must be a list of tags or a dict of tag to settings (got {slices!r})."
        raise ValueError(msg)
    for tag, settings in slices.items():
        if not isinstance(tag, str) or not tag:
            msg = f"'slices' keys must be tags as strings (got {tag!r})."
            raise ValueError(msg)
        settings = settings or {}
        unknown = sorted(set(settings) - {"tolerance", "alpha"}) if isinstance(settings, dict) else None
        if unknown is None or unknown:
            msg = f"slice '{tag}' takes only 'tolerance' and 'alpha' (got {settings!r})."
            raise ValueError(msg)
        tol, level = settings.get("tolerance"), settings.get("alpha")
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1):
            msg = f"slice '{tag}': 'tolerance' must be a number >= 0 and below 1 (got {tol!r})."
            raise ValueError(msg)
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 0.5
        ):
            msg = f"slice '{tag}': 'alpha' must be a number between 0 and 0.5 (got {level!r})."
            raise ValueError(msg)
        specs[tag] = SliceSpec(tolerance=tol, alpha=level)
    return names, specs


def primary_metrics(result: SuiteResult, ini_primary: Sequence[str] = ()) -> list[str]:
    """The metrics that gate this suite, in the order the tables show them.

    Declared: the marker's `primary=`, else ini `llm_gate_primary`. Default: `checks_passed`,
    every judge and deepeval metric, and every metric given its own settings in `metrics=`;
    retrieval and custom scores are reported but do not gate unless named.
    """
    declared = result.primary if result.primary is not None else (list(ini_primary) or None)
    if declared is not None:
        return list(dict.fromkeys(declared))
    default = [CHECKS_METRIC] if CHECKS_METRIC in result.metrics else []
    default += sorted(
        name
        for name in result.metrics
        if name != CHECKS_METRIC and (name.startswith(DEFAULT_PRIMARY_PREFIXES) or name in result.thresholded)
    )
    return default


def _clusters(result: SuiteResult, case_ids: list[str]) -> list[str] | None:
    """Each paired case's cluster (its own id when it names none); None when no case names one."""
    labels = [result.cases[cid].case.get("cluster") for cid in case_ids]
    if all(label is None for label in labels):
        return None
    return [
        f"cluster:{label}" if label is not None else f"case:{cid}" for cid, label in zip(case_ids, labels, strict=True)
    ]


def _compare_metric(
    suite: str,
    spec: MetricSpec,
    result: SuiteResult,
    baseline: Baseline | None,
    alpha: float,
    tolerance: float,
    only: set[str] | None = None,
) -> tuple[MetricVerdict, Any]:
    from pytest_llmgate.gate import stats

    cases = {cid: c for cid, c in result.cases.items() if only is None or cid in only}
    now_all = [c.metrics[spec.name] for c in cases.values() if spec.name in c.metrics]
    base_cases = baseline.cases if baseline else {}
    paired_ids = [
        cid
        for cid, case in sorted(cases.items())
        if spec.name in case.metrics and cid in base_cases and spec.name in base_cases[cid].metrics
    ]
    verdict = MetricVerdict(
        suite=suite,
        metric=spec.name,
        kind=spec.kind,
        higher_is_better=spec.higher_is_better,
        n_paired=len(paired_ids),
        current_mean_all=sum(now_all) / len(now_all) if now_all else None,
        tolerance=tolerance,
        alpha=alpha,
        min_score=spec.min_score,
        ci_level=1 - 2 * alpha,
        status="new" if baseline is None or spec.name not in baseline.metrics else "no_data",
    )
    if not paired_ids:
        verdict.current_mean = verdict.current_mean_all
        verdict.reason = (
            "no baseline values to compare with" if verdict.status == "new" else "no case has a value in both runs"
        )
        return verdict, None
    # Baselines store six decimals; compare at that precision so float noise is not a "change".
    before = [round(base_cases[cid].metrics[spec.name], 6) for cid in paired_ids]
    after = [round(result.cases[cid].metrics[spec.name], 6) for cid in paired_ids]
    cmp = stats.compare(
        before,
        after,
        kind=spec.kind,
        higher_is_better=spec.higher_is_better,
        alpha=alpha,
        tolerance=tolerance,
        clusters=_clusters(result, paired_ids),
    )
    verdict.baseline_mean, verdict.current_mean, verdict.diff = cmp.baseline_mean, cmp.current_mean, cmp.diff
    verdict.ci_low, verdict.ci_high = _finite(cmp.ci_low), _finite(cmp.ci_high)
    verdict.p_value, verdict.p_noninferior, verdict.test = cmp.p_value, cmp.p_noninferior, cmp.test
    verdict.clusters = cmp.clusters
    return verdict, cmp


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _floor_broken(verdict: MetricVerdict) -> bool:
    if verdict.min_score is None or verdict.current_mean_all is None:
        return False
    if verdict.higher_is_better:
        return verdict.current_mean_all < verdict.min_score
    return verdict.current_mean_all > verdict.min_score


def worst_drop(v: MetricVerdict) -> float | None:
    """The largest drop the interval does not rule out (its bad end, as a positive drop)."""
    end = v.ci_low if v.higher_is_better else v.ci_high
    if v.diff is not None and end is None:
        return None
    return None if end is None else (-end if v.higher_is_better else end)


def _reason(v: MetricVerdict) -> str:
    direction = "higher" if v.higher_is_better else "lower"
    interval = f"{v.ci_level:.0%} CI {_fmt(v.ci_low)} to {_fmt(v.ci_high)}"
    p = f"p={v.p_adjusted:.3g} (Holm)" if v.p_adjusted is not None else f"p={_p(v.p_value)}"
    change = f"{v.diff:+.3f} ({interval}), {p}" if v.diff is not None else ""
    note = "" if v.primary else " (secondary: reported, not gated)"
    if v.status == "below_floor":
        return f"mean {_fmt(v.current_mean_all)} is beyond the floor {v.min_score} ({direction} is better)"
    if v.status == "fail":
        return f"dropped {change}: significant at alpha {v.alpha} and beyond the tolerance {v.tolerance}{note}"
    if v.status == "improved":
        return f"improved {change}{note}"
    if v.status == "pass" and v.test == "none":
        return f"no case changed{note}"
    if v.status == "pass":
        return f"{change}; the drop is shown smaller than the tolerance {v.tolerance}{note}"
    bound = worst_drop(v)
    seen = "no drop can FAIL" if v.mde is None else f"the detectable drop is {_fmt(v.mde)}"
    shown = "an unbounded drop" if bound is None else f"a drop of up to {bound:.3f}"
    return (
        f"{change}; {shown} is not ruled out (tolerance {v.tolerance}) and no material drop is established; "
        f"with {v.n_paired} paired cases {seen}{note}"
    )


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def compare_suites(
    suites: dict[str, SuiteResult],
    baselines: dict[str, Baseline | None],
    baseline_paths: dict[str, str],
    *,
    alpha: float,
    tolerance: float,
    primary: Sequence[str] = (),
) -> list[SuiteVerdict]:
    """Pair every metric of every suite with its baseline; Holm-adjust across the run's primary metrics.

    The Holm family holds every primary metric of every suite and of every gated slice; the
    other metrics (secondary, ungated slices) are decided on their own p-values and never gate.
    """
    from pytest_llmgate.gate import stats

    verdicts: list[SuiteVerdict] = []
    family: list[tuple[MetricVerdict, Any]] = []
    alone: list[tuple[MetricVerdict, Any]] = []
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
        gating = primary_metrics(result, primary)
        unknown = [m for m in gating if m not in result.metrics]
        if unknown:
            suite_verdict.problems.append(
                f"primary metric(s) {unknown} were not recorded in this run (recorded: "
                f"{', '.join(sorted(result.metrics))}); fix the names in primary= or llm_gate_primary."
            )
        order = [m for m in gating if m in result.metrics] + sorted(set(result.metrics) - set(gating))
        for metric in order:
            spec = result.metrics[metric]
            verdict, cmp = _compare_metric(name, spec, result, baseline, *_levels(spec, alpha, tolerance))
            verdict.primary = metric in gating
            suite_verdict.metrics.append(verdict)
            if cmp is not None:
                (family if verdict.primary else alone).append((verdict, cmp))
        suite_verdict.slices = _slices(result, baseline, gating, alpha, tolerance, family, alone)
        missing_tags = sorted(set(result.slices) - {s.tag for s in suite_verdict.slices})
        if missing_tags:
            suite_verdict.problems.append(
                f"gated slice(s) {missing_tags} have no case with that tag; fix the tag in slices= or tag the cases."
            )
        verdicts.append(suite_verdict)

    adjusted = stats.holm([cmp.p_value for _, cmp in family]) if family else []
    for (verdict, cmp), p_adj in zip(family, adjusted, strict=True):
        verdict.p_adjusted = p_adj
        verdict.status = stats.decide(cmp, alpha=verdict.alpha, p_adjusted=p_adj)
        verdict.mde = _finite(
            stats.detectable_drop(cmp, tolerance=verdict.tolerance, alpha=verdict.alpha, family=len(family))
        )
    for verdict, cmp in alone:
        verdict.status = stats.decide(cmp, alpha=verdict.alpha, p_adjusted=cmp.p_value)
        verdict.mde = _finite(stats.detectable_drop(cmp, tolerance=verdict.tolerance, alpha=verdict.alpha))
    for suite_verdict in verdicts:
        every = suite_verdict.metrics + [m for s in suite_verdict.slices for m in s.metrics]
        for verdict in every:
            if verdict in suite_verdict.metrics and _floor_broken(verdict):
                verdict.status = "below_floor"
            if verdict.n_paired:
                verdict.reason = _reason(verdict)
    return verdicts


def _levels(spec: MetricSpec, alpha: float, tolerance: float) -> tuple[float, float]:
    return (spec.alpha if spec.alpha is not None else alpha), (
        spec.tolerance if spec.tolerance is not None else tolerance
    )


def _slices(
    result: SuiteResult,
    baseline: Baseline | None,
    gating: list[str],
    alpha: float,
    tolerance: float,
    family: list[tuple[MetricVerdict, Any]],
    alone: list[tuple[MetricVerdict, Any]],
) -> list[SliceVerdict]:
    """Per tag, the primary metrics over the cases carrying it; gated slices join the Holm family."""
    tagged: dict[str, set[str]] = {}
    for cid, case in result.cases.items():
        for tag in case.case.get("tags") or []:
            tagged.setdefault(str(tag), set()).add(cid)
    slices = []
    for tag in sorted(tagged):
        spec_of_slice = result.slices.get(tag)
        piece = SliceVerdict(tag=tag, n_cases=len(tagged[tag]), gated=spec_of_slice is not None)
        for metric in gating:
            spec = result.metrics.get(metric)
            if spec is None:
                continue
            m_alpha, m_tol = _levels(spec, alpha, tolerance)
            if spec_of_slice is not None:
                m_alpha = spec_of_slice.alpha if spec_of_slice.alpha is not None else m_alpha
                m_tol = spec_of_slice.tolerance if spec_of_slice.tolerance is not None else m_tol
            verdict, cmp = _compare_metric(result.suite, spec, result, baseline, m_alpha, m_tol, only=tagged[tag])
            if cmp is None and verdict.current_mean_all is None:
                continue  # no case of the slice records this metric (e.g. trajectories on a few tags)
            verdict.primary = piece.gated
            piece.metrics.append(verdict)
            if cmp is not None:
                (family if piece.gated else alone).append((verdict, cmp))
        slices.append(piece)
    return slices


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


def decide_gate(
    verdicts: list[SuiteVerdict], *, strict: bool, extra_reasons: list[str], fail_inconclusive: bool = False
) -> GateResult:
    """One status for the run: FAIL if anything failed, else INCONCLUSIVE if a primary metric
    (or gated slice) could tell neither, else PASS. INCONCLUSIVE fails the build only with
    `fail_inconclusive`."""
    reasons: list[str] = []
    unsure: list[str] = []
    for suite in verdicts:
        reasons += [f"{suite.suite}: {problem}" for problem in suite.problems]
        for metric in suite.metrics:
            if metric.status == "below_floor":
                reasons.append(f"{suite.suite}: {metric.metric} {metric.reason}")
        groups = [("", suite.metrics)] + [(f" [slice {s.tag}]", s.metrics) for s in suite.slices if s.gated]
        for where, metrics in groups:
            gating = [m for m in metrics if m.primary]
            dropped = [m for m in gating if m.status == "fail"]
            if dropped:
                listed = ", ".join(f"{m.metric} {m.diff:+.3f} (p={m.p_adjusted:.2g})" for m in dropped)
                reasons.append(
                    f"{suite.suite}{where}: {len(dropped)} metric(s) dropped beyond their tolerance, significantly "
                    f"(Holm-adjusted): {listed}"
                )
            weak = [m for m in gating if m.status == "inconclusive"]
            if weak:
                listed = ", ".join(
                    f"{m.metric} (a drop up to {_fmt(worst_drop(m))} not ruled out, tolerance {m.tolerance}, "
                    f"detectable drop {_fmt(m.mde)})"
                    for m in weak
                )
                unsure.append(
                    f"{suite.suite}{where}: {len(weak)} primary metric(s) inconclusive with "
                    f"{max(m.n_paired for m in weak)} paired cases: {listed}"
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
    if unsure:
        remedy = (
            "Add cases until the detectable drop is within the tolerance (`llmgate plan` says how many), "
            "or raise the tolerance."
        )
        return GateResult(status="INCONCLUSIVE", passed=not fail_inconclusive, reasons=unsure, remedy=remedy)
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
    primary = [str(name) for name in settings.get("primary") or []]
    verdicts = compare_suites(
        results.suites, results.baselines, paths, alpha=alpha, tolerance=tolerance, primary=primary
    )
    extra = judge_error_reasons(results, float(settings.get("max_judge_error_rate", DEFAULT_MAX_JUDGE_ERROR_RATE)))
    extra += list(extra_reasons or [])
    extra += [f"{reason.text} {reason.remedy}" for reason in guard_reasons(results)]
    gate = decide_gate(
        verdicts,
        strict=bool(settings.get("strict", False)),
        extra_reasons=extra,
        fail_inconclusive=bool(settings.get("fail_inconclusive", False)),
    )
    return results.model_copy(update={"verdicts": verdicts, "gate": gate})
