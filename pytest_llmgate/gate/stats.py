"""Paired statistics for the gate: one metric, the same cases, baseline run vs current run.

Every metric is tested about its MEAN difference, the quantity its tolerance is about, with
one family of one-sided tests whose inversion is the printed interval, so the p-value, the
interval and the decision always agree:

- pass/fail metrics, cases independent: the exact sign-flip test, which for 0/1 values is the
  exact McNemar test (binomial on the flipped cases) at "no change"; the interval inverts the
  same sign-flip test at every shift of the mean (three binomials convolved, exact);
- up to `EXACT_MAX_CLUSTERS` independent units (cases, or declared clusters): the exact
  sign-flip permutation test of the mean, by enumeration; its interval is Hartigan's
  subset-means interval (the exact inversion of that test);
- more units: the studentized paired t-test with a cluster-robust standard error
  (clusters of one case when none are declared), df = clusters - 1, and its t interval.

Declared clusters are flipped or resampled whole: cases that share noise (paraphrases of one
question, turns of one conversation) count as one unit, so their correlation cannot fake a
change. The detectable drop (`detectable_drop`) is the true drop that the gate's whole rule
(test, Holm over the primary metrics, the tolerance) FAILs with the requested power.

numpy and scipy are imported inside the functions: the plugin imports this module lazily and
only under `--llm-gate`, and even then nothing heavy loads until a comparison is made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PairedComparison",
    "compare",
    "compare_binary",
    "compare_continuous",
    "decide",
    "detectable_drop",
    "holm",
    "min_discordant_pairs",
]

Decision = Literal["fail", "improved", "inconclusive", "pass"]
Kind = Literal["binary", "continuous"]

#: Upper bound on the per-case correlation between two runs assumed by the detectable drop of
#: a score: floors the spread of the paired differences at sd(values) * sqrt(2 * (1 - 0.95)),
#: so identical runs of non-constant values do not claim they could see any drop at all.
RHO_MAX = 0.95

#: Most independent units (cases or clusters) for which the sign-flip test enumerates all
#: 2**G flips (65,536 at 16); above, the studentized test is used.
EXACT_MAX_CLUSTERS = 16

#: Most flipped cases for which the exact McNemar interval is computed by convolution;
#: above, the binomial is normal to within display precision and the t interval is used.
EXACT_MAX_DISCORDANT = 400

#: Relative tolerance for ties between a permuted statistic and the observed one (scipy's).
_TIE = 1e-10


@dataclass(frozen=True)
class PairedComparison:
    """One metric compared over the cases present in both runs (paired by case id)."""

    n: int
    """Number of paired cases."""
    baseline_mean: float
    """Mean over the paired cases in the baseline."""
    current_mean: float
    """Mean over the paired cases now."""
    diff: float
    """current_mean - baseline_mean."""
    ci_low: float
    """Lower end of the two-sided (1 - 2*alpha) interval for `diff` (-inf: no bound)."""
    ci_high: float
    """Upper end of that interval (+inf: no bound). Each end is the one-sided level-alpha
    bound that inverts the same test as `p_value`, so `p_value < alpha` exactly when the
    interval lies wholly on the bad side of 0."""
    p_value: float
    """One-sided p-value for H0 "no drop" against a drop in the metric's bad direction."""
    p_value_better: float
    """One-sided p-value for H0 "no gain" against a gain (for `improved`)."""
    p_noninferior: float
    """One-sided p-value for H0 "the drop is at least `tolerance`"; below alpha the drop is
    shown smaller than the tolerance (non-inferiority)."""
    tolerance: float
    """The tolerance `p_noninferior` was computed for."""
    test: str
    """`mcnemar-exact`, `sign-flip-exact`, `t-paired`, `t-cluster`, or `identical` (outputs byte-equal
    to the baseline's). The bad end of the interval and `p_noninferior` come from the
    non-inferiority tests of `noninferiority.py` (Tango's for pass rates)."""
    n_changed: int
    """Cases whose value differs between the runs."""
    clusters: int
    """Independent units the test used: declared clusters, else cases."""
    se: float
    """Standard error of `diff` (cluster-robust when clusters are declared)."""
    se_floor: float
    """Smallest standard error the detectable drop assumes (see `RHO_MAX`); 0 for pass rates."""
    discordance: float
    """Share of paired cases whose value changed (pass rates: the discordant pairs)."""
    kind: Kind
    alpha: float
    higher_is_better: bool
    step: float = 1.0
    """The metric's smallest per-case change seen (1 for pass rates, and when nothing changed):
    the variance floor of the non-inferiority test and the detectable drop's case-level model."""


def min_discordant_pairs(alpha: float) -> int:
    """Fewest independent changed units that can give a one-sided p < alpha.

    With every one of d changed units in the bad direction, the exact sign-flip test (and so
    exact McNemar) gives p = 0.5**d; p < alpha needs d > log2(1/alpha).
    """
    _check_alpha(alpha)
    return math.floor(math.log2(1.0 / alpha)) + 1


def compare(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    kind: Kind = "continuous",
    higher_is_better: bool = True,
    alpha: float = 0.05,
    tolerance: float = 0.0,
    clusters: Sequence[str] | None = None,
    identical: bool = False,
) -> PairedComparison:
    """Compare one metric across two runs, case by case (see the module docstring for the tests).

    `clusters` names each case's cluster (None: every case is its own); cases of one cluster
    are flipped together and the standard error is cluster-robust (CR1, as statsmodels'
    `cov_type="cluster"`). `identical`: every paired case's output is byte-equal to the
    baseline's, so the metric cannot have moved: the comparison is `identical` and PASSes.
    """
    import numpy as np

    from pytest_llmgate.gate import noninferiority as ni

    _check_alpha(alpha)
    _check_tolerance(tolerance)
    base, cur = _paired_arrays(baseline, current)
    if kind == "binary":
        for name, values in (("baseline", base), ("current", cur)):
            bad = values[(values != 0.0) & (values != 1.0)]
            if bad.size:
                msg = (
                    f"binary metric values must be 0 or 1 (got {float(bad[0])!r} in {name}); "
                    "compare scores with kind='continuous'."
                )
                raise ValueError(msg)
    elif kind != "continuous":
        msg = f"'kind' must be 'binary' or 'continuous' (got {kind!r})."
        raise ValueError(msg)
    n = int(base.size)
    sign = 1.0 if higher_is_better else -1.0
    # g: the per-case change in the good direction; a drop is a negative mean of g.
    g = sign * (cur - base)
    labels = _cluster_index(clusters, n)
    totals = np.bincount(labels, weights=g)
    sizes = np.bincount(labels).astype(float)
    n_clusters = int(totals.size)
    changed = int(np.count_nonzero(g))
    mean = float(g.mean())
    se = _cluster_se(g, labels, totals, sizes, mean)
    se_floor = 0.0 if kind == "binary" else _se_floor(base, cur, n)

    nonzero = np.abs(g[g != 0])
    step = 1.0 if kind == "binary" or nonzero.size == 0 else float(nonzero.min())
    worse, better = int(np.sum(g < 0)), int(np.sum(g > 0))
    if identical:
        test = "identical"
        p_worse = p_better = 1.0
        p_ni = 0.0 if tolerance > 0 else 1.0
        low = high = 0.0
    elif kind == "binary" and n_clusters == n:
        # The bad end is Tango's; "no drop" keeps exact McNemar (and its sign-flip inversion).
        test = "mcnemar-exact"
        tango = ni.tango_noninferiority(worse, better, n, tolerance=tolerance, alpha=alpha)
        p_ni, low = tango.p_value, tango.bound
        if changed == 0:
            p_worse = p_better = 1.0
            high = -low
        elif changed <= EXACT_MAX_DISCORDANT:
            flips = _BinarySignFlip(n - worse - better, worse, better)
            p_worse, p_better = flips.p_less(0.0), flips.p_greater(0.0)
            high = flips.upper_bound(alpha)
        else:
            p_worse, p_better, _, _, high = _t_test(mean, se, n - 1, alpha, tolerance)
    else:
        spread = float(np.sum(sizes**2)) / n**2 * n_clusters / max(n_clusters - 1, 1)
        floor = ni.studentized_noninferiority(
            mean, se, n, n_clusters, step, tolerance=tolerance, alpha=alpha, spread=spread
        )
        p_ni, low = floor.p_value, floor.bound
        if n_clusters <= EXACT_MAX_CLUSTERS:
            test = "sign-flip-exact"
            means = _subset_means(totals, sizes)
            p_worse = float((1 + np.sum(means >= -_TIE * _scale(means))) / (means.size + 1))
            p_better = float((1 + np.sum(means <= _TIE * _scale(means))) / (means.size + 1))
            p_flip = float((1 + np.sum(means <= -tolerance + _TIE * _scale(means))) / (means.size + 1))
            flip_low, high = _hartigan_bounds(means, alpha)
            # Few units: PASS needs both the exact test and the floored one.
            p_ni, low = max(p_ni, p_flip), min(low, flip_low)
        else:
            test = "t-cluster" if n_clusters < n else "t-paired"
            p_worse, p_better, _, _, high = _t_test(mean, se, n_clusters - 1, alpha, tolerance)

    if kind == "binary":  # a mean change of 0/1 values lies in [-1, 1]
        low, high = max(low, -1.0), min(high, 1.0)
    diff = float(cur.mean() - base.mean())
    ci_low, ci_high = (low, high) if higher_is_better else (-high, -low)
    return PairedComparison(
        n=n,
        baseline_mean=float(base.mean()),
        current_mean=float(cur.mean()),
        diff=diff,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        p_value=min(1.0, p_worse),
        p_value_better=min(1.0, p_better),
        p_noninferior=min(1.0, p_ni),
        tolerance=tolerance,
        test=test,
        n_changed=changed,
        clusters=n_clusters,
        se=se,
        se_floor=se_floor,
        step=step,
        discordance=changed / n,
        kind=kind,
        alpha=alpha,
        higher_is_better=higher_is_better,
    )


def compare_binary(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    tolerance: float = 0.0,
    clusters: Sequence[str] | None = None,
    identical: bool = False,
) -> PairedComparison:
    """`compare` for a 0/1 metric (exact McNemar when cases are independent)."""
    return compare(
        baseline,
        current,
        kind="binary",
        higher_is_better=higher_is_better,
        alpha=alpha,
        tolerance=tolerance,
        clusters=clusters,
        identical=identical,
    )


def compare_continuous(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    tolerance: float = 0.0,
    clusters: Sequence[str] | None = None,
    identical: bool = False,
) -> PairedComparison:
    """`compare` for a scored metric (sign-flip test of the mean, or the studentized test)."""
    return compare(
        baseline,
        current,
        kind="continuous",
        higher_is_better=higher_is_better,
        alpha=alpha,
        tolerance=tolerance,
        clusters=clusters,
        identical=identical,
    )


# --------------------------------------------------------------------------- the tests


def _cluster_index(clusters: Sequence[str] | None, n: int) -> np.ndarray:
    import numpy as np

    if clusters is None:
        return np.arange(n)
    if len(clusters) != n:
        msg = f"'clusters' must name one cluster per case (got {len(clusters)} for {n} cases)."
        raise ValueError(msg)
    _, index = np.unique(np.asarray([str(c) for c in clusters], dtype=object), return_inverse=True)
    return np.asarray(index, dtype=int)


def _cluster_se(g: np.ndarray, labels: np.ndarray, totals: np.ndarray, sizes: np.ndarray, mean: float) -> float:
    """Standard error of mean(g): CR1 over clusters, which is the usual paired SE without clusters."""
    import numpy as np

    n, n_clusters = g.size, totals.size
    if n_clusters < 2:
        return math.inf if np.any(g != mean) else 0.0
    scores = totals - sizes * mean
    return float(math.sqrt(n_clusters / (n_clusters - 1) * float(np.sum(scores**2))) / n)


def _se_floor(base: np.ndarray, cur: np.ndarray, n: int) -> float:
    import numpy as np

    if n < 2:
        return 0.0
    sd_values = float(np.std(np.concatenate([base, cur]), ddof=1))
    return sd_values * math.sqrt(2.0 * (1.0 - RHO_MAX)) / math.sqrt(n)


def _scale(values: np.ndarray) -> float:
    import numpy as np

    return float(np.max(np.abs(values))) if values.size else 1.0


def _subset_means(totals: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Mean of g over the cases of every nonempty subset of clusters (2**G - 1 of them).

    Flipping the signs of a subset F of clusters leaves the observed sum S >= the permuted
    one exactly when mean(g over F) >= 0; shifted by mu, when it is >= mu. So the sign-flip
    p-values and their inversion (Hartigan 1969) are counts over these means.
    """
    import numpy as np

    g_count = totals.size
    masks = (np.arange(1, 2**g_count)[:, None] >> np.arange(g_count)) & 1
    means: np.ndarray = (masks @ totals) / (masks @ sizes)
    return means


def _hartigan_bounds(means: np.ndarray, alpha: float) -> tuple[float, float]:
    """One-sided level-alpha bounds (low, high) of mean(g), inverting the exact sign-flip test."""
    import numpy as np

    total = means.size + 1
    # p_less(mu) = (1 + #{means >= mu}) / total >= alpha  <=>  #{means >= mu} >= k.
    k = math.ceil(alpha * total - 1e-12) - 1
    if k < 1:
        return -math.inf, math.inf
    ordered = np.sort(means)
    return float(ordered[k - 1]), float(ordered[-k])


# --------------------------------------------------------------------------- distributions
# scipy.stats costs about half a second to import, most of a small gated session's fixed cost;
# its t and binomial distributions are thin wrappers over these scipy.special ufuncs (the same
# calls, so the same numbers; tests/test_stats.py checks them against scipy.stats).


def _t_cdf(x: float, df: int) -> float:
    from scipy import special

    return float(special.stdtr(df, x))


def _t_sf(x: float, df: int) -> float:
    from scipy import special

    return float(special.stdtr(df, -x))


def _t_ppf(q: float, df: int) -> float:
    from scipy import special

    return float(special.stdtrit(df, q))


def _binom_pmf(k: np.ndarray, n: np.ndarray | int, p: float) -> np.ndarray:
    """scipy.stats.binom.pmf: 0 outside 0..n."""
    import numpy as np

    k, n = np.broadcast_arrays(np.asarray(k), np.asarray(n))
    inside = (k >= 0) & (k <= n)
    return np.where(inside, _binom_ufuncs()[0](np.clip(k, 0, n), n, p), 0.0)


def _binom_sf(k: np.ndarray, n: np.ndarray | int, p: float) -> np.ndarray:
    """scipy.stats.binom.sf: P(X > k), 1 below the support and 0 from n up."""
    import numpy as np

    k, n = np.broadcast_arrays(np.floor(np.asarray(k, dtype=float)), np.asarray(n))
    return np.where(k < 0, 1.0, np.where(k >= n, 0.0, _binom_ufuncs()[1](np.clip(k, 0, n), n, p)))


def _binom_ppf(q: float, n: int, p: float) -> int:
    """scipy.stats.binom.ppf for 0 < q < 1."""
    return int(_binom_ufuncs()[2](q, n, p))


def _binom_ufuncs() -> tuple[Any, Any, Any]:
    """Binomial pmf, sf and ppf: the ufuncs `scipy.stats.binom` itself calls, without importing
    `scipy.stats` (about half a second of a small session's start-up). They are private to scipy,
    so a release that moves them falls back to `scipy.stats.binom`, slower to import, same numbers."""
    try:
        from scipy.special._ufuncs import _binom_pmf, _binom_ppf, _binom_sf
    except ImportError:  # pragma: no cover - depends on the installed scipy
        from scipy.stats import binom

        return binom.pmf, binom.sf, binom.ppf
    return _binom_pmf, _binom_sf, _binom_ppf


def _t_test(
    mean: float, se: float, df: int, alpha: float, tolerance: float
) -> tuple[float, float, float, float, float]:
    """Studentized one-sided p-values (worse, better, non-inferior) and bounds of mean(g)."""
    if se == 0.0:
        # Every case changed by the same amount: the data leave no doubt about the mean.
        p_worse = 0.0 if mean < 0 else 1.0
        p_better = 0.0 if mean > 0 else 1.0
        p_ni = 0.0 if mean > -tolerance else 1.0
        return p_worse, p_better, p_ni, mean, mean
    t = mean / se
    q = _t_ppf(1.0 - alpha, df)
    return (
        _t_cdf(t, df),
        _t_sf(t, df),
        _t_sf((mean + tolerance) / se, df),
        mean - q * se,
        mean + q * se,
    )


class _BinarySignFlip:
    """The exact sign-flip distribution of the mean of 0/1 differences, at any shift mu.

    n0 cases unchanged (g = 0), `worse` with g = -1, `better` with g = +1. Flipping k0, kw, kb
    of them (each Binomial(., 1/2)) leaves S(mu) >= the permuted statistic exactly when
    (kb - kw) >= mu * (k0 + kw + kb): a sum over (kw, kb) of one binomial tail in k0. At mu = 0
    this is exact McNemar: P(Binomial(worse + better, 1/2) >= worse).
    """

    def __init__(self, n0: int, worse: int, better: int) -> None:
        import numpy as np

        self.n0, self.worse, self.better = n0, worse, better
        self.n = n0 + worse + better
        kw = np.arange(worse + 1)
        kb = np.arange(better + 1)
        self.kw, self.kb = np.meshgrid(kw, kb, indexing="ij")
        self.weight = _binom_pmf(kw, worse, 0.5)[:, None] * _binom_pmf(kb, better, 0.5)[None, :]
        self.k0 = np.arange(n0 + 1)
        self.pmf0 = _binom_pmf(self.k0, n0, 0.5)
        self.cdf0 = np.cumsum(self.pmf0)

    def _p_ge_zero(self, mu: float, a_sign: float) -> float:
        """P(a_sign * ((kb - kw) - mu * (k0 + kw + kb)) >= 0) over the flip distribution."""
        import numpy as np

        a = a_sign * ((self.kb - self.kw) - mu * (self.kw + self.kb))  # the part without k0
        c = -a_sign * mu  # coefficient of k0
        tie = _TIE * max(1.0, abs(mu) * self.n)
        if abs(c) < 1e-15:
            return float(np.sum(self.weight * (a >= -tie)))
        # a + c * k0 >= 0  <=>  k0 >= -a / c (c > 0) or k0 <= -a / c (c < 0).
        edge = -a / c
        if c > 0:
            first = np.ceil(edge - tie / c).astype(int)
            first = np.clip(first, 0, self.n0 + 1)
            tail = 1.0 - np.where(first > 0, self.cdf0[np.clip(first - 1, 0, self.n0)], 0.0)
        else:
            last = np.floor(edge + tie / -c).astype(int)
            tail = np.where(last >= 0, self.cdf0[np.clip(last, 0, self.n0)], 0.0)
        return float(np.sum(self.weight * np.clip(tail, 0.0, 1.0)))

    def p_less(self, mu: float) -> float:
        """P(permuted S <= observed S) at shift mu: small when the mean is below mu."""
        return self._p_ge_zero(mu, 1.0)

    def p_greater(self, mu: float) -> float:
        """P(permuted S >= observed S) at shift mu: small when the mean is above mu."""
        return self._p_ge_zero(mu, -1.0)

    def upper_bound(self, alpha: float) -> float:
        """sup{mu : p_less(mu) >= alpha} (p_less falls as mu rises), by bisection."""
        mean = (self.better - self.worse) / self.n
        if self.p_less(1.0) >= alpha:
            return 1.0
        found = _bisect(lambda mu: self.p_less(mu) >= alpha, mean, 1.0)
        return self._snap(found, lambda mu: self.p_less(mu) >= alpha)

    def lower_bound(self, alpha: float) -> float:
        """inf{mu : p_greater(mu) >= alpha}, by bisection."""
        mean = (self.better - self.worse) / self.n
        if self.p_greater(-1.0) >= alpha:
            return -1.0
        found = -_bisect(lambda mu: self.p_greater(-mu) >= alpha, -mean, 1.0)
        return self._snap(found, lambda mu: self.p_greater(mu) >= alpha)

    def _snap(self, found: float, holds: Callable[[float], bool]) -> float:
        """The exact bound: p jumps only where mu = (kb - kw) / (k0 + kw + kb), a fraction with
        denominator <= n, and the bound is attained there (ties count); bisection stops just short."""
        from fractions import Fraction

        if self.n > 5000:  # fractions with denominator <= n are then too dense to tell apart
            return found
        exact = float(Fraction(found).limit_denominator(self.n))
        return exact if abs(exact - found) < 1e-8 and holds(exact) else found


def _bisect(holds: Callable[[float], bool], inside: float, outside: float, steps: int = 34) -> float:
    """Boundary between `inside` (where `holds`) and `outside` (where it does not)."""
    for _ in range(steps):
        middle = (inside + outside) / 2.0
        if holds(middle):
            inside = middle
        else:
            outside = middle
    return inside


# --------------------------------------------------------------------------- power


def detectable_drop(
    cmp: PairedComparison,
    *,
    tolerance: float,
    alpha: float,
    family: int = 1,
    power: float = 0.8,
) -> float:
    """The true drop of the mean that the gate FAILs with probability `power` on this set.

    The gate's whole rule: the one-sided test at alpha / `family` (Holm's first step, the
    strictest) and the estimated drop beyond `tolerance`, in the case-level model (a regression
    breaks cases on top of the noise, so it raises the share of changed cases). Pass rates of
    independent cases: the power of that rule under exact McNemar, summed over every outcome
    (`binary_power`). Otherwise the normal approximation with the observed standard error
    (floored, see `RHO_MAX`) grown by the regression (`continuous_detectable_drop`).
    `inf` when no outcome on this many units can FAIL.
    """
    _check_alpha(alpha)
    _check_power(power)
    _check_tolerance(tolerance)
    if family < 1:
        msg = f"'family' must be a positive integer (got {family!r})."
        raise ValueError(msg)
    level = alpha / family
    if cmp.clusters < min_discordant_pairs(level):
        return math.inf
    # The exact sum is cheap while the flipped cases stay few (the exact McNemar regime).
    if (
        cmp.kind == "binary"
        and cmp.clusters == cmp.n
        and cmp.n * max(cmp.discordance, tolerance) <= EXACT_MAX_DISCORDANT
    ):
        # One changed case more than seen: the printed drop is for the noise a rerun may show,
        # not the luckiest estimate of it (power averaged over reruns stays near `power`).
        noise = min(1.0, (cmp.n_changed + 1) / cmp.n)
        return binary_detectable_drop(cmp.n, noise, tolerance=tolerance, level=level, power=power)
    return continuous_detectable_drop(
        max(cmp.se, cmp.se_floor), cmp.clusters, tolerance=tolerance, level=level, power=power, step=cmp.step, n=cmp.n
    )


def continuous_detectable_drop(
    se: float, clusters: int, *, tolerance: float, level: float, power: float, step: float = 0.0, n: int = 1
) -> float:
    """The drop d with d = max(t_{1-level} * se(d), tolerance) + t_{power} * se(d), df = clusters - 1.

    se(d) is the standard error under the drop in the case-level model: a regression moves a
    share d / step of the n cases by `step` (whole failures for a pass rate, step 1), which
    adds d * step - d^2 to the per-case variance (se(d) = se with step 0).
    """
    if not math.isfinite(se):
        return math.inf
    df = max(clusters - 1, 1)
    t_crit, t_power = _t_ppf(1.0 - level, df), _t_ppf(power, df)

    def se_at(d: float) -> float:
        return math.sqrt(se * se + max(0.0, d * step - d * d) / max(n, 1))

    drop = max(t_crit * se, tolerance) + t_power * se
    for _ in range(200):  # a contraction: se(d) grows like sqrt(d)
        new = max(t_crit * se_at(drop), tolerance) + t_power * se_at(drop)
        if abs(new - drop) < 1e-12:
            break
        drop = new
    return drop


def binary_power(n: int, discordance: float, drop: float, *, tolerance: float, level: float) -> float:
    """Exact probability that a pass rate over n independent cases FAILs the gate.

    The case-level model: the regression breaks a share `drop` of the cases on top of the
    noise, so it raises the share of changed cases: a case gets worse with probability
    discordance / 2 + drop and better with discordance / 2 (capped so they sum to at most 1).
    FAIL is exact McNemar p < level and (worse - better) / n beyond the tolerance.
    """
    import numpy as np

    p_better = min(discordance / 2.0, max(0.0, (1.0 - drop) / 2.0))
    p_worse = min(1.0 - p_better, p_better + drop)
    w_hi = _binom_ppf(1 - 1e-9, n, p_worse) if p_worse > 0 else 0
    w = np.arange(w_hi + 1)
    pmf_w = _binom_pmf(w, n, p_worse)
    cond = p_better / (1.0 - p_worse) if p_worse < 1 else 0.0
    v_hi = _binom_ppf(1 - 1e-9, n, cond) if cond > 0 else 0
    v = np.arange(v_hi + 1)
    ww, vv = np.meshgrid(w, v, indexing="ij")
    pmf = pmf_w[:, None] * _binom_pmf(vv, n - ww, cond)
    d = ww + vv
    p = np.where(d > 0, _binom_sf(ww - 1, np.maximum(d, 1), 0.5), 1.0)
    fails = (p < level) & ((ww - vv) / n > tolerance)
    return float(np.sum(pmf * fails))


def binary_detectable_drop(n: int, discordance: float, *, tolerance: float, level: float, power: float) -> float:
    """Smallest drop at which `binary_power` reaches `power` (bisection; power rises with the drop)."""
    if binary_power(n, discordance, 1.0, tolerance=tolerance, level=level) < power:
        return math.inf
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2.0
        if binary_power(n, discordance, middle, tolerance=tolerance, level=level) >= power:
            high = middle
        else:
            low = middle
    return high


# --------------------------------------------------------------------------- decisions


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given), monotone and capped at 1.

    Controls the family-wise error rate across the primary metrics, without assuming the
    metrics are independent (they rarely are: they share cases).
    """
    import numpy as np

    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        msg = f"'p_values' must be a flat sequence of numbers (got shape {p.shape})."
        raise ValueError(msg)
    if np.any(np.isnan(p)) or np.any((p < 0.0) | (p > 1.0)):
        msg = f"p-values must lie in [0, 1] (got {p_values!r})."
        raise ValueError(msg)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return [float(x) for x in adjusted]


def decide(cmp: PairedComparison, *, alpha: float, p_adjusted: float) -> Decision:
    """The gate's status for one metric.

    `fail`: a material drop is established: the drop is significant (`p_adjusted`, the
    Holm-adjusted one-sided p of "no drop", below alpha) and the estimated drop exceeds the
    tolerance. `pass`: non-inferiority is established (`p_noninferior` < alpha: the interval's
    bad end is within the tolerance), or no case changed at all; `improved` when moreover the
    gain is significant and beyond the tolerance. `inconclusive`: neither.
    """
    _check_alpha(alpha)
    if not (0.0 <= p_adjusted <= 1.0):
        msg = f"'p_adjusted' must lie in [0, 1] (got {p_adjusted!r})."
        raise ValueError(msg)
    gain = cmp.diff if cmp.higher_is_better else -cmp.diff
    if cmp.test == "identical":
        return "pass"
    if p_adjusted < alpha and -gain > cmp.tolerance:
        return "fail"
    if cmp.p_noninferior < alpha:
        if cmp.p_value_better < alpha and gain > cmp.tolerance:
            return "improved"
        return "pass"
    return "inconclusive"


def _paired_arrays(baseline: Sequence[float], current: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both runs as float arrays of the same nonzero length, every value finite."""
    import numpy as np

    base = np.asarray(baseline, dtype=float)
    cur = np.asarray(current, dtype=float)
    if base.ndim != 1 or cur.ndim != 1:
        msg = "'baseline' and 'current' must be flat sequences of numbers, one per case."
        raise ValueError(msg)
    if base.size != cur.size:
        msg = (
            f"'baseline' and 'current' must pair case by case (got {base.size} and "
            f"{cur.size} values); pass only the cases present in both runs."
        )
        raise ValueError(msg)
    if base.size == 0:
        msg = "no paired cases to compare (got 0); the metric needs a value in both runs."
        raise ValueError(msg)
    for name, values in (("baseline", base), ("current", cur)):
        if not np.all(np.isfinite(values)):
            msg = f"'{name}' holds a NaN or infinite value; drop the case or record a number."
            raise ValueError(msg)
    return base, cur


def _check_alpha(alpha: float) -> None:
    if not (0.0 < alpha < 0.5):
        msg = f"'alpha' must lie in (0, 0.5) (got {alpha!r})."
        raise ValueError(msg)


def _check_power(power: float) -> None:
    if not (0.0 < power < 1.0):
        msg = f"'power' must lie in (0, 1) (got {power!r})."
        raise ValueError(msg)


def _check_tolerance(tolerance: float) -> None:
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        msg = f"'tolerance' must be a finite number >= 0 (got {tolerance!r})."
        raise ValueError(msg)
