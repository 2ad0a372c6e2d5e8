"""The verdict: each metric of each suite paired with its baseline, then one gate decision.

Everything here is a function of a `RunResults` (suites, baselines, judge stats, settings), so
`llmgate merge` and `llmgate report` can recompute the verdict from results files alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_MAX_JUDGE_ERROR_RATE, DEFAULT_TOLERANCE
from pytest_llmgate.gate.loosening import guard_reasons
from pytest_llmgate.gate.reasons import (
    REJUDGE_REMEDY,
    REMEDIES,
    UNSURE_KINDS,
    UPDATE_REMEDY,
    Reason,
    make_reason,
    remedies,
)
from pytest_llmgate.gate.records import (
    Baseline,
    CaseChange,
    GateResult,
    GateStatus,
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
#: `--llm-gate-family`: the Holm family is each suite's own (default) or the whole run's.
FAMILIES = ("suite", "run")
__all__ = ["REJUDGE_REMEDY", "UPDATE_REMEDY", "compare_suites", "evaluate", "gating_options", "primary_metrics"]


def judge_identity(fingerprint: str) -> str:
    """The model identity in a judge fingerprint: `openai-compatible:m@http://host:port/v1`
    (as older baselines recorded it) becomes `openai-compatible:m`; others are unchanged.

    The same rule as `judge.providers.judge_identity`, kept here so the gate needs no judge import."""
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


def _fmt(value: float | None) -> str:
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
        unknown = (
            sorted(set(settings) - {"tolerance", "alpha", "max_newly_failing"}) if isinstance(settings, dict) else None
        )
        if unknown is None or unknown:
            msg = f"slice '{tag}' takes only 'tolerance', 'alpha' and 'max_newly_failing' (got {settings!r})."
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
        most = settings.get("max_newly_failing")
        if most is not None and (isinstance(most, bool) or not isinstance(most, int) or most < 0):
            msg = f"slice '{tag}': 'max_newly_failing' must be an integer >= 0 (got {most!r})."
            raise ValueError(msg)
        specs[tag] = SliceSpec(tolerance=tol, alpha=level, max_newly_failing=most)
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
    identical = design.metric_cannot_have_moved(before, after, base_cases, result.cases, paired_ids)
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
        seen = f"with {v.n_paired} paired cases the detectable drop is {_fmt(v.mde)}"
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
    return _compare(
        suites, baselines, baseline_paths, alpha=alpha, tolerance=tolerance, primary=primary, family=family
    )[0]


def _compare(
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
        for metric in order:
            spec = result.metrics[metric]
            verdict, cmp = _compare_metric(name, spec, result, baseline, *_levels(spec, alpha, tolerance))
            verdict.primary = metric in gating
            suite_verdict.metrics.append(verdict)
            if cmp is not None:
                (own if verdict.primary else alone).append((verdict, cmp))
        suite_verdict.slices = _slices(result, baseline, gating, alpha, tolerance, own, alone)
        design.fill_rules(suite_verdict, result)
        found += _slice_tag_reasons(result, {s.tag for s in suite_verdict.slices})
        suite_verdict.problems = [_problem_line(r) for r in found]
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


def _problem_line(reason: Reason) -> str:
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
                    f"{m.metric} (certifies a tolerance of {_fmt(worst_drop(m))} now, tolerance {m.tolerance}, "
                    f"detectable drop {_fmt(m.mde)}; {design.settle_words(m, short=True)})"
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
    verdicts, reasons = _compare(
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
        verdicts.append(SuiteVerdict(suite=name, baseline_path=paths.get(name, ""), problems=[_problem_line(reason)]))
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
