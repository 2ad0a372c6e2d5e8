"""Paired statistics for the gate: one metric, the same cases, baseline run vs current run.

The gate fails a metric only when its drop is both material (worse than a tolerance) and
significant (a one-sided test in the metric's bad direction, Holm-adjusted across metrics).
Pass/fail metrics use the exact McNemar test, scored metrics the Wilcoxon signed-rank test;
each comparison also carries an interval for the mean difference and the minimum detectable
drop (MDE), so a reviewer can tell "no drop" from "too few cases to see one".

numpy and scipy are imported inside the functions: the plugin imports this module lazily and
only under `--llm-gate`, and even then nothing heavy loads until a comparison is made.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PairedComparison",
    "compare_binary",
    "compare_continuous",
    "decide",
    "holm",
    "min_discordant_pairs",
]

Decision = Literal["fail", "improved", "underpowered", "pass"]

#: Upper bound on the per-case correlation between two runs assumed by the continuous MDE.
#: Floors the spread of the paired differences at sd(values) * sqrt(2 * (1 - 0.95)) ~= 0.32 sd,
#: so identical runs of non-constant values do not claim they could see any drop at all.
RHO_MAX = 0.95

#: Largest n for which the Wilcoxon p-value is computed by enumerating all 2**n sign flips
#: (scipy's own threshold for its exact permutation test).
_EXACT_SIGN_FLIP_MAX_N = 13

#: Largest number of bootstrap indices drawn at once (bounds memory for large sets).
_BOOT_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class PairedComparison:
    """One metric compared over the cases present in both runs (paired by case id)."""

    n: int
    """Number of paired cases."""
    baseline_mean: float
    current_mean: float
    diff: float
    """current_mean - baseline_mean."""
    ci_low: float
    ci_high: float
    """Two-sided (1 - 2*alpha) interval for `diff`, the level that matches a one-sided
    level-alpha test (it is a different method, so the two can disagree at the margin)."""
    p_value: float
    """One-sided p-value for a change in the bad direction; 1.0 when there is no evidence."""
    p_value_better: float
    """One-sided p-value for a change in the good direction (for `improved`)."""
    test: str
    """`mcnemar-exact`, `wilcoxon`, or `none` (no discordant pairs / all differences zero)."""
    mde: float
    """Minimum detectable drop (absolute, in the metric's units) at `alpha` with `power`;
    `inf` when n is too small for any result to be significant."""
    alpha: float
    higher_is_better: bool


def min_discordant_pairs(alpha: float) -> int:
    """Fewest informative pairs that can give a one-sided p < alpha.

    With every one of d discordant pairs (or nonzero differences) in the bad direction, both
    exact McNemar and exact Wilcoxon give p = 0.5**d; p < alpha needs d > log2(1/alpha).
    """
    _check_alpha(alpha)
    return math.floor(math.log2(1.0 / alpha)) + 1


def compare_binary(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
) -> PairedComparison:
    """Compare a 0/1 metric across two runs with the exact one-sided McNemar test.

    Among discordant pairs, b got worse and c got better; p = P(X >= b), X ~ Binomial(b + c, 1/2).
    The interval is the Agresti-Min (2005) adjusted Wald interval for the difference of paired
    proportions: add 1/2 to each of the four cells, then use the Wald formula. It has good
    coverage at small n and stays non-degenerate when no pair is discordant.
    """
    import numpy as np
    from scipy import stats

    _check_alpha(alpha)
    _check_power(power)
    base, cur = _paired_arrays(baseline, current)
    for name, values in (("baseline", base), ("current", cur)):
        bad = values[(values != 0.0) & (values != 1.0)]
        if bad.size:
            msg = (
                f"binary metric values must be 0 or 1 (got {float(bad[0])!r} in {name}); "
                "compare scores with compare_continuous."
            )
            raise ValueError(msg)
    n = int(base.size)
    # "Worse" is a 1 -> 0 flip when higher is better, a 0 -> 1 flip otherwise.
    down = int(np.sum((base == 1.0) & (cur == 0.0)))
    up = int(np.sum((base == 0.0) & (cur == 1.0)))
    worse, better = (down, up) if higher_is_better else (up, down)
    discordant = worse + better
    if discordant == 0:
        p_worse = p_better = 1.0
        test = "none"
    else:
        p_worse = float(stats.binomtest(worse, discordant, 0.5, alternative="greater").pvalue)
        p_better = float(stats.binomtest(better, discordant, 0.5, alternative="greater").pvalue)
        test = "mcnemar-exact"

    z = float(stats.norm.ppf(1.0 - alpha))
    n_adj = n + 2.0
    up_adj, down_adj = up + 0.5, down + 0.5
    diff_adj = (up_adj - down_adj) / n_adj
    var_adj = ((up_adj + down_adj) - (up_adj - down_adj) ** 2 / n_adj) / n_adj**2
    half = z * math.sqrt(var_adj)
    ci_low = max(-1.0, diff_adj - half)
    ci_high = min(1.0, diff_adj + half)

    return PairedComparison(
        n=n,
        baseline_mean=float(base.mean()),
        current_mean=float(cur.mean()),
        diff=float(cur.mean() - base.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_worse,
        p_value_better=p_better,
        test=test,
        mde=_binary_mde(n, discordant / n, alpha, power),
        alpha=alpha,
        higher_is_better=higher_is_better,
    )


def _binary_mde(n: int, discordance: float, alpha: float, power: float) -> float:
    """Smallest drop in a pass rate this n can flag, at `alpha` with `power`.

    mde = max(d_min / n, z^2 / n, z * sqrt(psi / n)), z = z_{1-alpha} + z_{power}, psi the
    observed discordance rate. The last term is the normal approximation to McNemar's power
    (Connor 1987, dropping the delta^2 term, which makes it slightly conservative). Because a
    drop of delta needs at least a delta share of discordant pairs, psi >= delta, which gives
    the z^2 / n floor when no pair is discordant. d_min / n is the exact-test floor (see
    `min_discordant_pairs`); below d_min cases nothing can be flagged and the MDE is inf.
    """
    from scipy import stats

    d_min = min_discordant_pairs(alpha)
    if n < d_min:
        return math.inf
    z = float(stats.norm.ppf(1.0 - alpha) + stats.norm.ppf(power))
    return max(d_min / n, z * z / n, z * math.sqrt(discordance / n))


def compare_continuous(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 2000,
    seed: int = 0,
) -> PairedComparison:
    """Compare a scored metric across two runs with the one-sided Wilcoxon signed-rank test.

    The p-values are those of `scipy.stats.wilcoxon(current - baseline, zero_method="wilcox")`
    (zero differences dropped): exact by sign-flip enumeration for n <= 13, scipy's exact
    distribution up to n = 50 without ties or zeros, its normal approximation otherwise.
    The interval is a seeded paired bootstrap percentile interval of the mean difference,
    so the same input always gives the same interval.
    """
    import numpy as np
    from scipy import stats

    _check_alpha(alpha)
    _check_power(power)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        msg = f"'n_boot' must be a positive integer (got {n_boot!r})."
        raise ValueError(msg)
    base, cur = _paired_arrays(baseline, current)
    n = int(base.size)
    diffs = cur - base

    if not np.any(diffs != 0.0):
        # scipy would divide 0 by 0 and warn; all-zero differences are simply no evidence.
        p_worse = p_better = 1.0
        test = "none"
    else:
        if n <= _EXACT_SIGN_FLIP_MAX_N:
            p_less, p_greater = _signed_rank_exact(diffs)
        else:
            with warnings.catch_warnings():
                # scipy may warn that the normal approximation is rough; the p-value is
                # still the one we want and the MDE reports the small-sample limit.
                warnings.simplefilter("ignore", category=UserWarning)
                p_less = float(stats.wilcoxon(diffs, zero_method="wilcox", alternative="less").pvalue)
                p_greater = float(stats.wilcoxon(diffs, zero_method="wilcox", alternative="greater").pvalue)
        p_worse, p_better = (p_less, p_greater) if higher_is_better else (p_greater, p_less)
        test = "wilcoxon"

    means = _bootstrap_means(diffs, n_boot, seed)
    ci_low, ci_high = (float(q) for q in np.quantile(means, [alpha, 1.0 - alpha]))

    return PairedComparison(
        n=n,
        baseline_mean=float(base.mean()),
        current_mean=float(cur.mean()),
        diff=float(diffs.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_worse,
        p_value_better=p_better,
        test=test,
        mde=_continuous_mde(base, cur, alpha, power),
        alpha=alpha,
        higher_is_better=higher_is_better,
    )


def _signed_rank_exact(diffs: np.ndarray) -> tuple[float, float]:
    """One-sided Wilcoxon p-values (less, greater) by enumerating every sign flip.

    This is what `scipy.stats.wilcoxon(diffs, zero_method="wilcox")` computes for
    n <= 13 (its exact distribution, or with ties or zeros its deterministic permutation
    test), with the same comparison tolerance, but vectorised: scipy's permutation test
    takes about half a second per call, and judge scores on a small scale tie often.
    """
    import numpy as np
    from scipy import stats

    nonzero = diffs[diffs != 0.0]
    ranks = stats.rankdata(np.abs(nonzero))  # average ranks for ties, as scipy does
    observed = float(ranks[nonzero > 0].sum())
    m = nonzero.size
    # Flipping a zero changes nothing, so the 2**m flips of the nonzero differences give
    # the same p-values as all 2**n flips.
    positive = (np.arange(2**m)[:, None] >> np.arange(m)) & 1
    null = positive @ ranks
    gamma = abs(observed) * 100 * np.finfo(float).eps
    return float(np.mean(null <= observed + gamma)), float(np.mean(null >= observed - gamma))


def _bootstrap_means(diffs: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of `n_boot` resamples (with replacement) of the paired differences, seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = diffs.size
    rows = max(1, _BOOT_CHUNK_ELEMENTS // n)
    chunks = []
    for start in range(0, n_boot, rows):
        size = min(rows, n_boot - start)
        chunks.append(diffs[rng.integers(0, n, size=(size, n))].mean(axis=1))
    return np.concatenate(chunks)


def _continuous_mde(base: np.ndarray, cur: np.ndarray, alpha: float, power: float) -> float:
    """Smallest mean drop this n can flag: (z_{1-alpha} + z_{power}) * sigma / sqrt(n).

    sigma is the sd of the paired differences, floored at sd(all values of both runs) *
    sqrt(2 * (1 - RHO_MAX)): two runs of an LLM app never agree per case more closely than a
    correlation of RHO_MAX, so identical runs do not report a zero MDE. It is 0 only when
    every value in both runs is the same number (then any change at all is a real change).
    This is the paired t-test approximation; Wilcoxon's efficiency relative to it is 0.95
    under normality and higher for heavy tails. Below `min_discordant_pairs(alpha)` cases no
    result can be significant and the MDE is inf.
    """
    import numpy as np
    from scipy import stats

    n = base.size
    if n < min_discordant_pairs(alpha):
        return math.inf
    sd_diff = float(np.std(cur - base, ddof=1))
    sd_values = float(np.std(np.concatenate([base, cur]), ddof=1))
    sigma = max(sd_diff, sd_values * math.sqrt(2.0 * (1.0 - RHO_MAX)))
    z = float(stats.norm.ppf(1.0 - alpha) + stats.norm.ppf(power))
    return z * sigma / math.sqrt(n)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given), monotone and capped at 1.

    Controls the family-wise error rate across every metric the gate compares, without
    assuming the metrics are independent (they rarely are: they share cases).
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


def decide(
    cmp: PairedComparison,
    *,
    tolerance: float,
    alpha: float,
    higher_is_better: bool,
    p_adjusted: float,
    p_better_adjusted: float | None = None,
) -> Decision:
    """The gate's status for one metric: `fail`, `improved`, `underpowered` or `pass`.

    `fail`: the mean dropped by more than `tolerance` and `p_adjusted` < alpha. `improved`:
    the mean rose by more than `tolerance` and the good-direction p (`p_better_adjusted`
    when given, else the unadjusted `cmp.p_value_better`) < alpha. `underpowered`: neither,
    and the set is too small to see a drop of `tolerance` (mde > tolerance). Else `pass`.
    """
    _check_alpha(alpha)
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        msg = f"'tolerance' must be a finite number >= 0 (got {tolerance!r})."
        raise ValueError(msg)
    for name, value in (("p_adjusted", p_adjusted), ("p_better_adjusted", p_better_adjusted)):
        if value is not None and not (0.0 <= value <= 1.0):
            msg = f"'{name}' must lie in [0, 1] (got {value!r})."
            raise ValueError(msg)
    if higher_is_better != cmp.higher_is_better:
        msg = (
            f"'higher_is_better' is {higher_is_better} but the comparison was made with "
            f"{cmp.higher_is_better}; compare again with the metric's direction."
        )
        raise ValueError(msg)

    drop = -cmp.diff if higher_is_better else cmp.diff
    p_better = cmp.p_value_better if p_better_adjusted is None else p_better_adjusted
    if drop > tolerance and p_adjusted < alpha:
        return "fail"
    if -drop > tolerance and p_better < alpha:
        return "improved"
    if cmp.mde > tolerance:
        return "underpowered"
    return "pass"


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
