"""Planning a golden set: how many cases the gate needs to catch a drop of a given size.

The answer is the gate's own detectable drop (`stats.detectable_drop`: test, Holm over the
primary metrics, tolerance) solved for n, from the spread a results file observed (the share
of flipped cases for a pass rate, the standard deviation of the per-case change for a score)
or from assumptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pytest_llmgate.gate import stats
from pytest_llmgate.gate.records import RunResults

__all__ = ["PlanRow", "cases_needed", "detectable_at", "plan_from_results"]

#: Largest set size `cases_needed` searches; beyond it the answer is "more than this".
MAX_CASES = 1_000_000


@dataclass(frozen=True)
class PlanRow:
    """One metric's plan: what the set can see now and what a drop of `drop` needs."""

    suite: str
    """Suite id, or `assumed` when planned from assumptions."""
    metric: str
    """Metric name."""
    kind: Literal["binary", "continuous"]
    """`binary` (spread = share of flipped cases) or `continuous` (spread = sd of the change)."""
    n: int | None
    """Paired cases now (None when planned from assumptions)."""
    spread: float
    """Observed or assumed spread of the per-case change."""
    detectable_now: float | None
    """The drop this gate FAILs with the requested power at `n` (None: none can FAIL)."""
    drop: float
    """The drop to catch."""
    needed: int | None
    """Cases needed to catch `drop` with the requested power (None: not reachable, e.g. the
    drop is not beyond the tolerance, or more than `MAX_CASES`)."""
    tolerance: float
    """The metric's tolerance; only drops beyond it can FAIL."""


def detectable_at(
    n: int, kind: str, spread: float, *, tolerance: float, alpha: float, family: int, power: float
) -> float:
    """The gate's detectable drop for n independent cases with this spread."""
    level = alpha / family
    if n < stats.min_discordant_pairs(level):
        return math.inf
    if kind == "binary":
        if n * max(spread, tolerance) <= stats.EXACT_MAX_DISCORDANT:
            return stats.binary_detectable_drop(n, spread, tolerance=tolerance, level=level, power=power)
        # Normal approximation at the alternative: var = (psi - drop^2) / n, psi ~ spread.
        return stats.continuous_detectable_drop(math.sqrt(spread / n), n, tolerance=tolerance, level=level, power=power)
    return stats.continuous_detectable_drop(spread / math.sqrt(n), n, tolerance=tolerance, level=level, power=power)


def cases_needed(
    drop: float,
    kind: str,
    spread: float,
    *,
    tolerance: float,
    alpha: float = 0.05,
    family: int = 1,
    power: float = 0.8,
) -> int | None:
    """Fewest cases whose detectable drop is at most `drop`; None when no size reaches it."""
    if kind not in ("binary", "continuous"):
        msg = f"'kind' must be 'binary' or 'continuous' (got {kind!r})."
        raise ValueError(msg)
    if not (math.isfinite(drop) and drop > 0):
        msg = f"'drop' must be a number above 0 (got {drop!r})."
        raise ValueError(msg)
    if not (math.isfinite(spread) and spread >= 0):
        msg = f"'spread' must be a number >= 0 (got {spread!r})."
        raise ValueError(msg)
    if drop <= tolerance:
        return None  # the gate FAILs only beyond the tolerance: such a drop is caught at most half the time

    def ok(n: int) -> bool:
        return detectable_at(n, kind, spread, tolerance=tolerance, alpha=alpha, family=family, power=power) <= drop

    high = 8
    while not ok(high):
        high *= 2
        if high > MAX_CASES:
            return None
    low = high // 2
    while high - low > 1:  # the detectable drop shrinks as n grows (up to exact-test steps)
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    return high


def plan_from_results(
    results: RunResults, drop: float, *, metric: str | None = None, power: float = 0.8
) -> list[PlanRow]:
    """A plan for every primary metric with paired cases in a results file (or only `metric`)."""
    primaries = [m for v in results.verdicts for m in v.metrics if m.primary and m.n_paired]
    family = max(1, len(primaries))
    rows = []
    for verdict in results.verdicts:
        suite = results.suites.get(verdict.suite)
        for mv in verdict.metrics:
            if not mv.n_paired or (metric is None and not mv.primary) or (metric is not None and mv.metric != metric):
                continue
            spread = _observed_spread(results, verdict.suite, mv.metric) if suite is not None else 0.0
            fam = family if mv.primary else 1
            now = detectable_at(
                mv.n_paired, mv.kind, spread, tolerance=mv.tolerance, alpha=mv.alpha, family=fam, power=power
            )
            rows.append(
                PlanRow(
                    suite=verdict.suite,
                    metric=mv.metric,
                    kind=mv.kind,
                    n=mv.n_paired,
                    spread=spread,
                    detectable_now=None if not math.isfinite(now) else now,
                    drop=drop,
                    needed=cases_needed(
                        drop, mv.kind, spread, tolerance=mv.tolerance, alpha=mv.alpha, family=fam, power=power
                    ),
                    tolerance=mv.tolerance,
                )
            )
    return rows


def _observed_spread(results: RunResults, suite_id: str, metric: str) -> float:
    """Share of flipped cases (pass rates) or the per-case sd of the change, cluster-aware.

    With clusters, the sd is the one that gives the cluster-robust standard error for n cases
    (se * sqrt(n)), so a plan keeps the observed design effect.
    """
    suite = results.suites[suite_id]
    baseline = results.baselines.get(suite_id)
    if baseline is None:
        return 0.0
    ids = [
        cid
        for cid, case in sorted(suite.cases.items())
        if metric in case.metrics and cid in baseline.cases and metric in baseline.cases[cid].metrics
    ]
    spec = suite.metrics[metric]
    clusters = [str(suite.cases[cid].case.get("cluster", f"case:{cid}")) for cid in ids]
    cmp = stats.compare(
        [round(baseline.cases[cid].metrics[metric], 6) for cid in ids],
        [round(suite.cases[cid].metrics[metric], 6) for cid in ids],
        kind=spec.kind,
        clusters=clusters,
    )
    if spec.kind == "binary" and cmp.clusters == cmp.n:
        return cmp.discordance
    return max(cmp.se, cmp.se_floor) * math.sqrt(cmp.n) if math.isfinite(cmp.se) else 0.0


def short_name(name: str, width: int) -> str:
    """`name` in at most `width` characters: cut in the middle, so both ends stay readable
    (`tests/evals/…::test_support_agent` keeps the file's start and the test's name)."""
    if len(name) <= width:
        return name
    tail = (width - 1) * 2 // 3
    head = width - 1 - tail
    return name[:head] + "…" + name[len(name) - tail :]
