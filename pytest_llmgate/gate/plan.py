"""Planning a golden set: how many cases the gate needs for each of its two verdicts.

- **Catch a drop** (FAIL): the gate's own detectable drop (`stats.detectable_drop`: test, Holm
  over the primary metrics, tolerance, case-level model) solved for n.
- **Certify the tolerance** (PASS): the cases, or the repeats K, with which an unchanged app
  PASSes (non-inferiority shown within the tolerance) 80 % of the time, under the same tests
  the gate runs (Tango's for pass rates, the floored score test otherwise).

The spread comes from a results file (the share of flipped cases for a pass rate of
independent cases; else the per-case sd of the change that gives the cluster-robust standard
error, with the clusters' mean size) or from assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pytest_llmgate.gate import noninferiority, stats
from pytest_llmgate.gate.records import RunResults

__all__ = [
    "PlanRow",
    "cases_needed",
    "cases_to_certify",
    "detectable_at",
    "pass_probability",
    "plan_from_results",
    "repeats_to_certify",
]

#: Largest set size the searches try; beyond it the answer is "more than this".
MAX_CASES = 1_000_000
#: Most repeats per case `repeats_to_certify` tries.
MAX_REPEATS = 10


@dataclass(frozen=True)
class PlanRow:
    """One metric's plan: what the set can do now and what each goal needs."""

    suite: str
    """Suite id, or `assumed` when planned from assumptions."""
    metric: str
    """Metric name."""
    kind: Literal["binary", "continuous"]
    """`binary` (spread = share of flipped cases) or `continuous` (spread = sd of the change;
    clustered pass rates too, whose spread is the cluster-robust sd)."""
    n: int | None
    """Paired cases now (None when planned from assumptions)."""
    spread: float
    """Observed or assumed spread of the per-case change."""
    detectable_now: float | None
    """The drop this gate FAILs with the requested power at `n` (None: none can FAIL)."""
    drop: float | None
    """The drop to catch (None: only certifying was asked)."""
    needed: int | None
    """Cases needed to catch `drop` with the requested power (None: not reachable, e.g. the
    drop is not beyond the tolerance, or more than `MAX_CASES`)."""
    tolerance: float
    """The metric's tolerance; only drops beyond it can FAIL, and PASS shows the drop within it."""
    step: float = 1.0
    """The metric's smallest per-case change (1 for pass rates)."""
    cluster_size: float = 1.0
    """Mean cases per independent unit (1 without clusters)."""
    pass_now: float | None = None
    """Chance that an unchanged app PASSes at `n`."""
    to_certify: int | None = None
    """Cases with which an unchanged app PASSes with the requested power (None: beyond `MAX_CASES`)."""
    repeats: int | None = None
    """Repeats K per case with which an unchanged app PASSes at `n` with the requested power
    (None: no K up to `MAX_REPEATS`, or no `n`)."""


def detectable_at(
    n: int,
    kind: str,
    spread: float,
    *,
    tolerance: float,
    alpha: float,
    family: int,
    power: float,
    step: float | None = None,
    cluster_size: float = 1.0,
) -> float:
    """The gate's detectable drop for n cases (n / cluster_size units) with this spread."""
    level = alpha / family
    units = max(1, round(n / cluster_size))
    if units < stats.min_discordant_pairs(level):
        return math.inf
    if kind == "binary" and cluster_size == 1.0:
        if n * max(spread, tolerance) <= stats.EXACT_MAX_DISCORDANT:
            return stats.binary_detectable_drop(n, spread, tolerance=tolerance, level=level, power=power)
        # Normal approximation in the case-level model: var = (spread + drop - drop^2) / n.
        return stats.continuous_detectable_drop(
            math.sqrt(spread / n), n, tolerance=tolerance, level=level, power=power, step=1.0, n=n
        )
    size = (1.0 if kind == "binary" else 0.0) if step is None else step
    return stats.continuous_detectable_drop(
        spread / math.sqrt(n), units, tolerance=tolerance, level=level, power=power, step=size, n=n
    )


def pass_probability(
    n: int,
    kind: str,
    spread: float,
    *,
    tolerance: float,
    alpha: float,
    step: float | None = None,
    cluster_size: float = 1.0,
) -> float:
    """Chance that an app with no real change PASSes on n cases (normal approximation).

    Pass rates of independent cases: the per-case change is -1, 0, +1 with the flip share
    `spread`; PASS is Tango's statistic at -tolerance above z_{1-alpha}, with its restricted
    variance evaluated at the expected table. Otherwise: the floored score test of
    `noninferiority.studentized_noninferiority` with per-case sd `spread`.
    """
    from scipy import special

    if tolerance <= 0.0 or n < 1:
        return 0.0
    z_alpha = float(special.ndtri(1.0 - alpha))
    if kind == "binary" and cluster_size == 1.0:
        half = n * spread / 2.0
        z0 = noninferiority.tango_z(half, half, n, -tolerance)
        shift = noninferiority.CONTINUITY
        null_sd = n * tolerance / z0 if z0 > 0 else math.inf  # sqrt(n * V0)
        if spread == 0.0:
            return 1.0 if (n * tolerance - shift) / null_sd > z_alpha else 0.0
        return float(special.ndtr((n * tolerance - shift - z_alpha * null_sd) / math.sqrt(n * spread)))
    size = (1.0 if kind == "binary" else 0.0) if step is None else step
    units = max(2, round(n / cluster_size))
    t_alpha = float(special.stdtrit(units - 1, 1.0 - alpha))
    lever = cluster_size * units / (units - 1)
    se0 = math.sqrt(max(spread**2 + tolerance**2 * lever, noninferiority.floor_variance(size, -tolerance)) / n)
    margin = tolerance - size / (2.0 * n) - t_alpha * se0
    if spread == 0.0:
        return 1.0 if margin > 0 else 0.0
    return float(special.ndtr(margin / (spread / math.sqrt(n))))


def cases_to_certify(
    kind: str,
    spread: float,
    *,
    tolerance: float,
    alpha: float = 0.05,
    power: float = 0.8,
    step: float | None = None,
    cluster_size: float = 1.0,
) -> int | None:
    """Fewest cases with which an unchanged app PASSes with probability `power`."""

    def ok(n: int) -> bool:
        p = pass_probability(n, kind, spread, tolerance=tolerance, alpha=alpha, step=step, cluster_size=cluster_size)
        return p >= power

    return _smallest(ok)


def repeats_to_certify(
    n: int,
    kind: str,
    spread: float,
    *,
    tolerance: float,
    alpha: float = 0.05,
    power: float = 0.8,
    step: float | None = None,
    cluster_size: float = 1.0,
) -> int | None:
    """Fewest repeats K (2..`MAX_REPEATS`) with which an unchanged app PASSes on these n cases.

    Averaging K runs per case divides the run-to-run variance of the per-case change by K (a
    pass rate becomes a per-case share with steps of 1 / K); it does not help where the changes
    are real (a deterministic app), which the observed spread cannot tell apart, so this is
    what repeats can do at best.
    """
    variance = spread if kind == "binary" and cluster_size == 1.0 else spread**2
    size = 1.0 if step is None else step
    for k in range(2, MAX_REPEATS + 1):
        p = pass_probability(
            n,
            "continuous",
            math.sqrt(variance / k),
            tolerance=tolerance,
            alpha=alpha,
            step=size / k,
            cluster_size=cluster_size,
        )
        if p >= power:
            return k
    return None


def _smallest(ok: Callable[[int], bool]) -> int | None:
    """Smallest n >= 2 with ok(n), assuming ok is monotone (up to exact-test steps)."""
    high = 8
    while not ok(high):
        high *= 2
        if high > MAX_CASES:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    return high


def cases_needed(
    drop: float,
    kind: str,
    spread: float,
    *,
    tolerance: float,
    alpha: float = 0.05,
    family: int = 1,
    power: float = 0.8,
    step: float | None = None,
    cluster_size: float = 1.0,
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
        return (
            detectable_at(
                n,
                kind,
                spread,
                tolerance=tolerance,
                alpha=alpha,
                family=family,
                power=power,
                step=step,
                cluster_size=cluster_size,
            )
            <= drop
        )

    return _smallest(ok)


def plan_from_results(
    results: RunResults, drop: float | None, *, metric: str | None = None, power: float = 0.8
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
            noise = observed_noise(results, verdict.suite, mv.metric) if suite is not None else None
            kind, spread, step, size = noise or (mv.kind, 0.0, 1.0, 1.0)
            fam = family if mv.primary else 1
            common = {"tolerance": mv.tolerance, "alpha": mv.alpha, "step": step, "cluster_size": size}
            now = detectable_at(mv.n_paired, kind, spread, family=fam, power=power, **common)
            rows.append(
                PlanRow(
                    suite=verdict.suite,
                    metric=mv.metric,
                    kind=kind,  # type: ignore[arg-type]
                    n=mv.n_paired,
                    spread=spread,
                    detectable_now=None if not math.isfinite(now) else now,
                    drop=drop,
                    needed=None
                    if drop is None
                    else cases_needed(drop, kind, spread, family=fam, power=power, **common),
                    tolerance=mv.tolerance,
                    step=step,
                    cluster_size=size,
                    pass_now=pass_probability(mv.n_paired, kind, spread, **common),
                    to_certify=cases_to_certify(kind, spread, power=power, **common),
                    repeats=repeats_to_certify(mv.n_paired, kind, spread, power=power, **common),
                )
            )
    return rows


def noise_of(cmp: stats.PairedComparison) -> tuple[str, float, float, float]:
    """(kind, spread, step, cluster size) of a comparison, as the plan functions read them.

    A pass rate of independent cases: its share of flipped cases. Anything clustered (pass
    rates too) or scored: the per-case sd that gives the cluster-robust standard error for n
    cases (se * sqrt(n)), so a plan keeps the observed design effect, with the clusters' mean size.
    """
    size = cmp.n / max(1, cmp.clusters)
    if cmp.kind == "binary" and cmp.clusters == cmp.n:
        return "binary", cmp.discordance, 1.0, 1.0
    sd = max(cmp.se, cmp.se_floor) * math.sqrt(cmp.n) if math.isfinite(cmp.se) else 0.0
    return "continuous", sd, cmp.step, size


def observed_noise(results: RunResults, suite_id: str, metric: str) -> tuple[str, float, float, float] | None:
    """`noise_of` the comparison of `metric` in a results file (None without a baseline)."""
    suite = results.suites[suite_id]
    baseline = results.baselines.get(suite_id)
    if baseline is None:
        return None
    ids = [
        cid
        for cid, case in sorted(suite.cases.items())
        if metric in case.metrics and cid in baseline.cases and metric in baseline.cases[cid].metrics
    ]
    if not ids:
        return None
    spec = suite.metrics[metric]
    labels = [suite.cases[cid].case.get("cluster") for cid in ids]
    clusters = (
        None
        if all(label is None for label in labels)
        else [
            f"cluster:{label}" if label is not None else f"case:{cid}" for cid, label in zip(ids, labels, strict=True)
        ]
    )
    cmp = stats.compare(
        [round(baseline.cases[cid].metrics[metric], 6) for cid in ids],
        [round(suite.cases[cid].metrics[metric], 6) for cid in ids],
        kind=spec.kind,
        clusters=clusters,
    )
    return noise_of(cmp)


def short_name(name: str, width: int) -> str:
    """`name` in at most `width` characters: cut in the middle, so both ends stay readable
    (`tests/evals/…::test_support_agent` keeps the file's start and the test's name)."""
    if len(name) <= width:
        return name
    tail = (width - 1) * 2 // 3
    head = width - 1 - tail
    return name[:head] + "…" + name[len(name) - tail :]
