"""Non-inferiority: the tests behind PASS ("the drop is shown smaller than the tolerance T").

PASS must be false at most alpha of the time when the true drop equals T, at every n, in the
models users meet (a deterministic app where a few cases break, an app whose cases flip at
random, a regression that raises the share of flipping cases). The sign-flip test shifted to
-T is not valid for that: a case that did not change is not symmetric about -T, so when few
cases move its spread is far too small. Two tests replace it:

- pass/fail metrics, independent cases: **Tango's score test** for the difference of paired
  proportions (Tango 1998, Statistics in Medicine 17:891), whose variance is the restricted
  maximum-likelihood one under H0 "the mean change is -T": with no case changed it is still
  T(1 - T) per case, so 30 unchanged cases cannot prove a 3-point tolerance (88 can). Its
  interval (the bad end printed by the gate) inverts the same statistic.
- scores, and clustered pass rates: the studentized test of the mean, cluster-robust, with a
  **variance floor under H0**: a mean change of -T made of changes no smaller than the
  metric's step s (the smallest nonzero change seen; 1 when none changed) has a per-case
  variance of at least T * s - T**2. For 0/1 values and no change this is Tango's variance.

Both are checked by simulation on the gate's own functions (tests/test_stats_simulation.py).
Only `scipy.special` is used (no `scipy.stats`, see stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "NonInferiority",
    "floor_variance",
    "studentized_noninferiority",
    "tango_noninferiority",
    "tango_z",
]


class NonInferiority:
    """One non-inferiority result: p of H0 "the drop is at least T" and the bad-end bound."""

    __slots__ = ("bound", "p_value")

    def __init__(self, p_value: float, bound: float) -> None:
        self.p_value = p_value
        """One-sided p-value of H0 "mean change <= -T" (small: the drop is within T)."""
        self.bound = bound
        """One-sided level-alpha lower bound of the mean change (the good direction is up)."""


def tango_z(worse: float, better: float, n: int, delta0: float, correction: float = 0.0) -> float:
    """Tango's score statistic for H0 "(better - worse) / n has mean delta0".

    In Tango's notation n12 = better, n21 = worse, N = n; the variance uses the restricted MLE
    of the probability of a worse case under H0. Large values speak against a mean at or below
    delta0. `correction` (in cases) is taken off the numerator (see `CONTINUITY`).
    """
    if not (-1.0 < delta0 < 1.0):
        return math.inf if delta0 <= -1.0 else -math.inf
    a = 2.0 * n
    b = -better - worse + (2.0 * n - better + worse) * delta0
    c = -worse * delta0 * (1.0 - delta0)
    p21 = (math.sqrt(max(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
    var = n * (2.0 * p21 + delta0 * (1.0 - delta0))
    num = better - worse - n * delta0 - correction
    if var <= 0.0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


#: Continuity correction of Tango's statistic, in cases. Uncorrected, the asymptotic test PASSes
#: a true drop of T slightly more often than alpha where only a few cases break (5.6-5.9 % at
#: n = 250 to 1,000 for a deterministic app: the binomial's lattice); half a case brings every
#: simulated cell under alpha and moves the size an unchanged app needs by a few percent.
CONTINUITY = 0.5


def tango_noninferiority(worse: int, better: int, n: int, *, tolerance: float, alpha: float) -> NonInferiority:
    """Tango's one-sided test of "mean change <= -tolerance" (continuity-corrected by
    `CONTINUITY`) and the level-alpha lower bound that inverts it."""
    from scipy import special

    cc = CONTINUITY
    p = float(special.ndtr(-tango_z(worse, better, n, -tolerance, cc))) if tolerance < 1 else 0.0
    crit = float(special.ndtri(1.0 - alpha))
    mean = (better - worse) / n
    if worse == n:
        return NonInferiority(p, -1.0)
    # z(delta0) falls as delta0 rises: the bound is where it crosses the critical value.
    if tango_z(worse, better, n, mean, cc) >= crit:  # the correction cannot push the bound past the mean
        return NonInferiority(p, mean)
    bound = -_bisect(lambda d: tango_z(worse, better, n, -d, cc) >= crit, 1.0 - 1e-12, -mean)
    return NonInferiority(p, bound)


def floor_variance(step: float, mu: float) -> float:
    """Smallest per-case variance of a change with mean mu < 0 made of steps of at least `step`.

    E[g^2] >= step * E|g| >= step * |mu|, so var(g) >= step * |mu| - mu^2 (0 for mu >= 0).
    """
    if mu >= 0.0:
        return 0.0
    return max(0.0, step * -mu - mu * mu)


def studentized_noninferiority(
    mean: float,
    se: float,
    n: int,
    units: int,
    step: float,
    *,
    tolerance: float,
    alpha: float,
    spread: float | None = None,
) -> NonInferiority:
    """The studentized score test of "mean change <= -tolerance", with the variance floor.

    `se`: the (cluster-robust) standard error of the mean; `n` cases; `units` independent units
    (df = units - 1); `step`: the metric's smallest change (see the module docstring). As in a
    score test, the variance is taken about the hypothesised mean mu, not the observed one:
    se(mu)^2 = se^2 + (mean - mu)^2 * `spread`, with `spread` = sum(cluster size^2) / n^2 *
    units / (units - 1) (1 / (n - 1) for independent cases). When the changes are skewed (a
    few cases fall, fewer rise), the plain t-test PASSes a drop of T too often; this does not.
    A continuity correction of half a step / n keeps judge scores' lattice of means honest.
    """
    from scipy import special

    df = max(units - 1, 1)
    lever = spread if spread is not None else 1.0 / max(units - 1, 1)

    def se_at(mu: float) -> float:
        if not math.isfinite(se):
            return math.inf
        centred = math.sqrt(se * se + (mean - mu) ** 2 * lever)
        return max(centred, math.sqrt(floor_variance(step, mu) / n))

    # Half a lattice step: the mean of changes that are multiples of `step` moves by step / n.
    correction = step / (2.0 * n)

    def t_at(mu: float) -> float:
        s = se_at(mu)
        if s == 0.0:
            return math.inf if mean > mu else (0.0 if mean == mu else -math.inf)
        return (mean - mu - correction) / s

    t = t_at(-tolerance)
    p = float(special.stdtr(df, -t)) if math.isfinite(t) else (0.0 if t > 0 else 1.0)
    crit = float(special.stdtrit(df, 1.0 - alpha))
    if not math.isfinite(se):
        return NonInferiority(1.0, -math.inf)
    low = mean - crit * se_at(mean - 1.0) - 1.0  # far enough down that t_at exceeds crit
    if not t_at(low) >= crit:
        return NonInferiority(p, -math.inf)
    bound = -_bisect(lambda d: t_at(-d) >= crit, -low, -mean)
    return NonInferiority(p, bound)


def _bisect(holds: Callable[[float], bool], inside: float, outside: float, steps: int = 60) -> float:
    """Boundary between `inside` (where `holds`) and `outside` (where it does not)."""
    for _ in range(steps):
        middle = (inside + outside) / 2.0
        if holds(middle):
            inside = middle
        else:
            outside = middle
    return inside
