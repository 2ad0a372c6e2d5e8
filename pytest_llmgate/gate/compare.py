"""The metric comparison: each metric of each suite paired with its baseline, Holm-adjusted per family.

Also what stops a suite from being compared as it stands (its baseline, fingerprints, missing
metrics, gated slices no case carries), as typed reasons for `gate.verdict.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pytest_llmgate.gate.primary import primary_metrics
from pytest_llmgate.gate.reasons import UPDATE_REMEDY, Reason, make_reason
from pytest_llmgate.gate.records import (
    Baseline,
    CaseChange,
    MetricSpec,
    MetricVerdict,
    SliceVerdict,
    SuiteResult,
    SuiteVerdict,
)

#: `--llm-gate-family`: the Holm family is each suite's own (default) or the whole run's.
FAMILIES = ("suite", "run")


def judge_identity(fingerprint: str) -> str:
    """The model identity in a judge fingerprint: `openai-compatible:m@http://host:port/v1`
    (as older baselines recorded it) becomes `openai-compatible:m`; others are unchanged
    (the session's start-up note uses it too)."""
    parts = fingerprint.split(" + ")  # a jury's fingerprint joins its judges with " + "
    return " + ".join(p.split("@", 1)[0] if p.startswith("openai-compatible:") else p for p in parts)


def judge_keys_changed(result: SuiteResult, baseline: Baseline) -> list[str]:
    """Fingerprint keys of the judge (`judge`, `rubric:<name>`) that differ from the baseline's.

    The judge is compared by identity (`provider:model`): an OpenAI-compatible server's URL in
    an older baseline's fingerprint does not count as a change."""
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


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _fingerprint_reasons(result: SuiteResult, baseline: Baseline) -> list[Reason]:
    reasons = []
    judge_changed = judge_keys_changed(result, baseline)
    for key in sorted(set(result.fingerprints) | set(baseline.fingerprints)):
        old, new = baseline.fingerprints.get(key), result.fingerprints.get(key)
        if old == new or (key == "judge" and key not in judge_changed and new is not None):
            continue
        reasons.append(
            make_reason(
                "judge_changed" if key in judge_changed else "fingerprint",
                f"fingerprint '{key}' changed (baseline {old or 'absent'}, now {new or 'absent'}): "
                f"scores are not comparable.",
                suite=result.suite,
            )
        )
    return reasons


def _case_changes(result: SuiteResult, baseline: Baseline | None) -> list[CaseChange]:
    if baseline is None:
        return []  # nothing to compare with: no case is newly failing (or fixed); the report shows the failures
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
    same_outputs: dict[str, bool] | None = None,
) -> tuple[MetricVerdict, Any]:
    from pytest_llmgate.gate import design, stats

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
    identical = design.metric_cannot_have_moved(before, after, base_cases, result.cases, paired_ids, same_outputs)
    cmp = stats.compare(
        before,
        after,
        kind=spec.kind,
        higher_is_better=spec.higher_is_better,
        alpha=alpha,
        tolerance=tolerance,
        clusters=_clusters(result, paired_ids),
        identical=identical,
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


def _reason(v: MetricVerdict, family: int = 1) -> str:
    direction = "higher" if v.higher_is_better else "lower"
    interval = f"{v.ci_level:.0%} CI {fmt(v.ci_low)} to {fmt(v.ci_high)}"
    p = f"p={v.p_adjusted:.3g} (Holm)" if v.p_adjusted is not None else f"p={_p(v.p_value)}"
    change = f"{v.diff:+.3f} ({interval}), {p}" if v.diff is not None else ""
    note = "" if v.primary else " (secondary: reported, not gated)"
    if v.status == "below_floor":
        return f"mean {fmt(v.current_mean_all)} is beyond the floor {v.min_score} ({direction} is better)"
    if v.status == "fail":
        return f"dropped {change}: significant at alpha {v.alpha} and beyond the tolerance {v.tolerance}{note}"
    if v.status == "improved":
        return f"improved {change}{note}"
    if v.status == "pass" and v.test == "identical":
        return f"outputs identical to the baseline's: the metric cannot have moved{note}"
    if v.status == "pass":
        return f"{change}; the drop is shown smaller than the tolerance {v.tolerance}{note}"
    from pytest_llmgate.gate import design

    bound = worst_drop(v)
    units = v.clusters or v.n_paired
    if v.mde is None:
        seen = (
            f"{design.reach_words(units, v.n_paired)}: the smallest reachable p-value is {0.5**units:.4g}, above "
            f"alpha / {family} = {v.alpha / family:.4g}, so no drop can FAIL on its own"
        )
    else:
        seen = f"with {v.n_paired} paired cases the detectable drop is {fmt(v.mde)}"
    shown = "an unbounded drop" if bound is None else f"a drop of up to {bound:.3f}"
    return (
        f"{change}; {shown} is not ruled out: this set certifies a tolerance of "
        f"{'none' if bound is None else f'{bound:.3f}'} now (tolerance {v.tolerance}), and no material drop is "
        f"established ({seen}); {design.settle_words(v)}{note}"
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
    family: str = "suite",
) -> list[SuiteVerdict]:
    """Pair every metric of every suite with its baseline; Holm-adjust within each family.

    `family="suite"` (the default): a suite's family is its own primary metrics and gated
    slices, so its verdict does not depend on which other suites ran. `family="run"`: one
    family for the whole run (one error rate per build). Secondary metrics and ungated slices
    are decided on their own p-values and never gate.
    """
    return compare_with_reasons(
        suites, baselines, baseline_paths, alpha=alpha, tolerance=tolerance, primary=primary, family=family
    )[0]


def compare_with_reasons(
    suites: dict[str, SuiteResult],
    baselines: dict[str, Baseline | None],
    baseline_paths: dict[str, str],
    *,
    alpha: float,
    tolerance: float,
    primary: Sequence[str] = (),
    family: str = "suite",
    baseline_errors: dict[str, str] | None = None,
) -> tuple[list[SuiteVerdict], list[Reason]]:
    """The verdicts, and the suite-level reasons (baselines, fingerprints, names) found on the way."""
    from pytest_llmgate.gate import design, stats

    if family not in FAMILIES:
        msg = f"'family' must be one of {', '.join(FAMILIES)} (got {family!r})."
        raise ValueError(msg)
    verdicts: list[SuiteVerdict] = []
    reasons: list[Reason] = []
    families: dict[str, list[tuple[MetricVerdict, Any]]] = {}
    alone: list[tuple[MetricVerdict, Any]] = []
    for name in sorted(suites):
        result, baseline = suites[name], baselines.get(name)
        path = baseline_paths.get(name, "")
        suite_verdict = SuiteVerdict(suite=name, baseline_path=path, cases=_case_changes(result, baseline))
        found = _suite_reasons(result, baseline, path, (baseline_errors or {}).get(name))
        gating = primary_metrics(result, primary)
        unknown = [m for m in gating if m not in result.metrics]
        if unknown:
            found.append(
                make_reason(
                    "usage",
                    f"primary metric(s) {unknown} were not recorded in this run (recorded: "
                    f"{', '.join(sorted(result.metrics))}).",
                    remedy="Fix the names in primary= or llm_gate_primary.",
                    suite=name,
                )
            )
        own = families.setdefault(name if family == "suite" else "", [])
        order = [m for m in gating if m in result.metrics] + sorted(set(result.metrics) - set(gating))
        same_outputs: dict[str, bool] = {}  # case id -> output byte-equal to the baseline's, for every metric
        for metric in order:
            spec = result.metrics[metric]
            levels = _levels(spec, alpha, tolerance)
            verdict, cmp = _compare_metric(name, spec, result, baseline, *levels, same_outputs=same_outputs)
            verdict.primary = metric in gating
            suite_verdict.metrics.append(verdict)
            if cmp is not None:
                (own if verdict.primary else alone).append((verdict, cmp))
        suite_verdict.slices = _slices(result, baseline, gating, alpha, tolerance, own, alone, same_outputs)
        design.fill_rules(suite_verdict, result)
        found += _slice_tag_reasons(result, {s.tag for s in suite_verdict.slices})
        suite_verdict.problems = [problem_line(r) for r in found]
        reasons += found
        verdicts.append(suite_verdict)

    for members in families.values():
        adjusted = stats.holm([cmp.p_value for _, cmp in members]) if members else []
        for (verdict, cmp), p_adj in zip(members, adjusted, strict=True):
            verdict.p_adjusted = p_adj
            verdict.status = stats.decide(cmp, alpha=verdict.alpha, p_adjusted=p_adj)
            verdict.mde = _finite(
                stats.detectable_drop(cmp, tolerance=verdict.tolerance, alpha=verdict.alpha, family=len(members))
            )
    for verdict, cmp in alone:
        verdict.status = stats.decide(cmp, alpha=verdict.alpha, p_adjusted=cmp.p_value)
        verdict.mde = _finite(stats.detectable_drop(cmp, tolerance=verdict.tolerance, alpha=verdict.alpha))
    family_size = {id(verdict): len(members) for members in families.values() for verdict, _ in members}
    for members in [*families.values(), alone]:
        for verdict, cmp in members:
            if verdict.status == "inconclusive":
                design.fill_settle(verdict, cmp)
    for suite_verdict in verdicts:
        every = suite_verdict.metrics + [m for s in suite_verdict.slices for m in s.metrics]
        for verdict in every:
            if verdict in suite_verdict.metrics and _floor_broken(verdict):
                verdict.status = "below_floor"
            if verdict.n_paired:
                verdict.reason = _reason(verdict, family_size.get(id(verdict), 1))
        design.name_collapsed(suite_verdict)
    return verdicts, reasons


def problem_line(reason: Reason) -> str:
    """A suite-level reason as the suite's section shows it: what is wrong, then what to do."""
    return f"{reason.text} {reason.remedy}" if reason.remedy and reason.blocking else reason.text


def _suite_reasons(result: SuiteResult, baseline: Baseline | None, path: str, error: str | None) -> list[Reason]:
    """Why a suite cannot be compared as it stands: its baseline (missing, unreadable), fingerprints, metrics."""
    name = result.suite
    if error is not None:
        text = error.replace(" Regenerate it: " + UPDATE_REMEDY, "").replace(" " + UPDATE_REMEDY, "")
        return [make_reason("baseline_error", text, suite=name)]
    if baseline is None:
        return [make_reason("no_baseline", f"no baseline for this suite at {path}.", suite=name)]
    found = _fingerprint_reasons(result, baseline)
    for missing in sorted(set(baseline.metrics) - set(result.metrics)):
        found.append(
            make_reason(
                "metric_missing",
                f"metric '{missing}' is in the baseline but was not recorded in this run.",
                suite=name,
                metric=missing,
            )
        )
    return found


def _slice_tag_reasons(result: SuiteResult, seen: set[str]) -> list[Reason]:
    """A gated slice no run case carries: a note when the golden set has the tag (its cases were
    not selected), a usage error when no case of the set carries it (a typo)."""
    missing = sorted(set(result.slices) - seen)
    known = set(result.dataset_tags) if result.dataset_tags is not None else set()
    reasons = [
        make_reason(
            "note",
            f"gated slice '{tag}': no selected case carries the tag; not gated in this run.",
            suite=result.suite,
            slice=tag,
        )
        for tag in missing
        if tag in known
    ]
    typos = [tag for tag in missing if tag not in known]
    if typos:
        reasons.append(
            make_reason(
                "usage",
                f"gated slice(s) {typos} have no case with that tag in the golden set.",
                remedy="Fix the tag in slices= or tag the cases.",
                suite=result.suite,
            )
        )
    return reasons


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
    same_outputs: dict[str, bool],
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
            verdict, cmp = _compare_metric(
                result.suite, spec, result, baseline, m_alpha, m_tol, only=tagged[tag], same_outputs=same_outputs
            )
            if cmp is None and verdict.current_mean_all is None:
                continue  # no case of the slice records this metric (e.g. trajectories on a few tags)
            verdict.primary = piece.gated
            piece.metrics.append(verdict)
            if cmp is not None:
                (family if piece.gated else alone).append((verdict, cmp))
        slices.append(piece)
    return slices
