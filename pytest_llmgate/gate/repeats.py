"""Repeats: a case run K times stays the gate's unit (its metrics are the means over the runs);
per suite, pass@k and pass^k of every 0/1 metric, within-case variance and the flaky cases."""

from __future__ import annotations

import statistics
from math import comb

from pytest_llmgate.gate.records import CaseResult, RepeatStats, SuiteResult


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k runs drawn from n (c of them passed) passes: 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Chance that all of k runs drawn from n (c of them passed) pass: C(c, k) / C(n, k)."""
    return comb(c, k) / comb(n, k)


def aggregate_case(record: CaseResult) -> None:
    """A repeated case's own fields from its runs: metric means, passed only if every run passed,
    the first failure (numbered), the first run's output and verdicts, the mean SUT time."""
    runs = record.repeats
    if not runs:
        return
    names = sorted({name for run in runs for name in run.metrics})
    record.metrics = {
        name: statistics.fmean(run.metrics[name] for run in runs if name in run.metrics) for name in names
    }
    failed = [(i, run) for i, run in enumerate(runs) if not run.passed]
    record.passed = not failed
    if failed:
        index, first = failed[0]
        record.failure = f"{len(failed)} of {len(runs)} runs failed; run {index + 1}: {first.failure or ''}"[:4000]
    else:
        record.failure = None
    record.output = runs[0].output
    record.judge = list(runs[0].judge)
    record.details = dict(runs[0].details)
    seconds = [run.sut_seconds for run in runs if run.sut_seconds is not None]
    record.sut_seconds = round(statistics.fmean(seconds), 6) if seconds else None


def prepare_suite(suite: SuiteResult) -> None:
    """Before the gate, on a repeated suite: 0/1 metrics become per-case pass rates (gated as scores,
    since a mean of K outcomes is no longer 0/1), and the repeat statistics are computed."""
    if suite.repeat <= 1:
        return
    binary = {name for name, spec in suite.metrics.items() if spec.kind == "binary"}
    suite.repeat_binary = sorted(binary | set(suite.repeat_binary))
    for name in binary:
        suite.metrics[name] = suite.metrics[name].model_copy(update={"kind": "continuous"})
    suite.repeat_stats = summarize(suite)


def summarize(suite: SuiteResult) -> RepeatStats | None:
    """pass@k and pass^k (k = 1..K) of each 0/1 metric, within-case variance, flaky cases."""
    cases = [(case_id, case) for case_id, case in sorted(suite.cases.items()) if case.repeats]
    if suite.repeat <= 1 or not cases:
        return None
    stats = RepeatStats(k=suite.repeat, cases=len(cases))
    names = sorted({name for _, case in cases for run in case.repeats for name in run.metrics})
    for name in names:
        variances = []
        for _, case in cases:
            values = [run.metrics[name] for run in case.repeats if name in run.metrics]
            if len(values) >= 2:
                variances.append(statistics.variance(values))
        if variances:
            stats.within_variance[name] = round(statistics.fmean(variances), 6)
    for name in suite.repeat_binary:
        outcomes = [
            (case_id, [run.metrics[name] for run in case.repeats if name in run.metrics]) for case_id, case in cases
        ]
        outcomes = [(case_id, values) for case_id, values in outcomes if values]
        if not outcomes:
            continue
        at: dict[str, float] = {}
        hat: dict[str, float] = {}
        for k in range(1, suite.repeat + 1):
            eligible = [(len(v), round(sum(v))) for _, v in outcomes if len(v) >= k]
            if eligible:
                at[str(k)] = round(statistics.fmean(pass_at_k(n, c, k) for n, c in eligible), 6)
                hat[str(k)] = round(statistics.fmean(pass_hat_k(n, c, k) for n, c in eligible), 6)
        stats.pass_at_k[name] = at
        stats.pass_hat_k[name] = hat
        stats.flaky[name] = [case_id for case_id, values in outcomes if 0 < sum(values) < len(values)]
    return stats


#: The 0/1 metric whose flaky cases the summaries list by name.
FLAKY_METRIC = "checks_passed"


def summary_rows(stats: RepeatStats) -> list[dict[str, str]]:
    """Per metric, the repeat statistics as display text: pass@1, pass@K, pass^K, variance, flaky count."""
    k = str(stats.k)
    rows = []
    for name in sorted(set(stats.within_variance) | set(stats.pass_at_k)):
        at, hat = stats.pass_at_k.get(name, {}), stats.pass_hat_k.get(name, {})
        rows.append(
            {
                "metric": name,
                "pass_at_1": f"{at['1']:.3f}" if "1" in at else "–",
                "pass_at_k": f"{at[k]:.3f}" if k in at else "–",
                "pass_hat_k": f"{hat[k]:.3f}" if k in hat else "–",
                "variance": f"{stats.within_variance[name]:.4g}" if name in stats.within_variance else "–",
                "flaky": str(len(stats.flaky[name])) if name in stats.flaky else "–",
            }
        )
    return rows
