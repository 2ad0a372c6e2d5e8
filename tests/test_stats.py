"""The gate's paired statistics, checked against scipy / statsmodels and by simulation."""

from __future__ import annotations

import gc
import math
import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from pytest_llmgate.gate.stats import (
    RHO_MAX,
    PairedComparison,
    compare_binary,
    compare_continuous,
    decide,
    holm,
    min_discordant_pairs,
)

Z_SUM = stats.norm.ppf(0.95) + stats.norm.ppf(0.8)  # z_{1-alpha} + z_{power} at the defaults


def _pairs(cells: dict[tuple[int, int], int]) -> tuple[list[int], list[int]]:
    """Paired 0/1 runs from a 2x2 table {(baseline, current): count}."""
    base: list[int] = []
    cur: list[int] = []
    for (b, c), count in sorted(cells.items()):
        base += [b] * count
        cur += [c] * count
    return base, cur


def _upper_band(n: int, rate: float) -> int:
    """Largest count of Binomial(n, rate) not exceeded with probability 0.999."""
    return int(stats.binom.ppf(0.999, n, rate))


# --- exact McNemar ---------------------------------------------------------------------


def test_mcnemar_worked_example() -> None:
    # 20 cases: 12 pass in both, 2 fail in both, 5 flipped pass -> fail, 1 fail -> pass.
    base, cur = _pairs({(1, 1): 12, (0, 0): 2, (1, 0): 5, (0, 1): 1})
    cmp = compare_binary(base, cur)
    # P(X >= 5), X ~ Bin(6, 1/2) = (C(6,5) + C(6,6)) / 64 = 7 / 64.
    assert cmp.p_value == pytest.approx(7 / 64)
    # P(X >= 1) = 1 - 1/64.
    assert cmp.p_value_better == pytest.approx(63 / 64)
    assert cmp.test == "mcnemar-exact"
    assert cmp.n == 20
    assert cmp.baseline_mean == pytest.approx(17 / 20)
    assert cmp.current_mean == pytest.approx(13 / 20)
    assert cmp.diff == pytest.approx(-4 / 20)
    # Agresti-Min: cells + 1/2, n + 2; up = 1.5, down = 5.5.
    d = (1.5 - 5.5) / 22
    se = math.sqrt((1.5 + 5.5) - (1.5 - 5.5) ** 2 / 22) / 22
    z = stats.norm.ppf(0.95)
    assert cmp.ci_low == pytest.approx(d - z * se)
    assert cmp.ci_high == pytest.approx(d + z * se)
    # mde: d_min = 5 pairs; z^2/n = 0.309; z*sqrt(6/20/20) = 0.305 -> the z^2/n floor wins.
    assert cmp.mde == pytest.approx(max(5 / 20, Z_SUM**2 / 20, Z_SUM * math.sqrt(6 / 20 / 20)))


def test_mcnemar_direction_lower_is_better() -> None:
    # A "hallucinated" flag: 1 is bad, so 0 -> 1 flips are the worse ones.
    base, cur = _pairs({(0, 0): 10, (0, 1): 6, (1, 0): 0})
    cmp = compare_binary(base, cur, higher_is_better=False)
    assert cmp.p_value == pytest.approx(0.5**6)
    assert cmp.p_value_better == 1.0
    assert decide(cmp, tolerance=0.05, alpha=0.05, higher_is_better=False, p_adjusted=cmp.p_value) == "fail"
    same = compare_binary(base, cur, higher_is_better=True)
    assert same.p_value == 1.0
    assert same.p_value_better == pytest.approx(0.5**6)


@pytest.mark.parametrize("seed", range(60))
def test_mcnemar_matches_scipy_and_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    base = rng.integers(0, 2, n)
    flip = rng.random(n) < rng.uniform(0.0, 0.5)
    cur = np.where(flip, 1 - base, base)
    cmp = compare_binary(base.tolist(), cur.tolist())
    worse = int(np.sum((base == 1) & (cur == 0)))
    better = int(np.sum((base == 0) & (cur == 1)))
    if worse + better == 0:
        assert cmp.p_value == cmp.p_value_better == 1.0
        assert cmp.test == "none"
        return
    discordant = worse + better
    assert cmp.p_value == pytest.approx(stats.binomtest(worse, discordant, 0.5, alternative="greater").pvalue)
    assert cmp.p_value_better == pytest.approx(stats.binomtest(better, discordant, 0.5, alternative="greater").pvalue)
    # Two-sided sanity: 2 * min(one-sided), capped at 1, is statsmodels' exact McNemar.
    table = [[np.sum((base == 1) & (cur == 1)), worse], [better, np.sum((base == 0) & (cur == 0))]]
    two_sided = mcnemar(table, exact=True).pvalue
    assert min(1.0, 2 * min(cmp.p_value, cmp.p_value_better)) == pytest.approx(two_sided)


def test_binary_interval_without_discordant_pairs_is_not_degenerate() -> None:
    cmp = compare_binary([1, 0, 1, 1] * 10, [1, 0, 1, 1] * 10)
    assert cmp.diff == 0.0
    assert cmp.p_value == cmp.p_value_better == 1.0
    assert cmp.test == "none"
    # Agresti-Min with b = c = 0: 0 +- z / (n + 2).
    half = stats.norm.ppf(0.95) / 42
    assert cmp.ci_low == pytest.approx(-half)
    assert cmp.ci_high == pytest.approx(half)


def test_binary_interval_coverage() -> None:
    # Correlated pairs (most cases keep their outcome); true diff = 0.70 - 0.80 = -0.10.
    rng = np.random.default_rng(7)
    reps, n = 400, 40
    cell_probs = [0.65, 0.15, 0.05, 0.15]  # (1,1), (1,0), (0,1), (0,0)
    covered = 0
    for _ in range(reps):
        cells = rng.choice(4, size=n, p=cell_probs)
        base = np.isin(cells, [0, 1]).astype(int)
        cur = np.isin(cells, [0, 2]).astype(int)
        cmp = compare_binary(base, cur)
        covered += cmp.ci_low <= -0.10 <= cmp.ci_high
    # Nominal 90%; a 0.999 binomial band around it, slack for the method's own error.
    assert 0.85 * reps <= covered <= 0.96 * reps


def test_binary_rejects_non_binary_values() -> None:
    with pytest.raises(ValueError, match=r"must be 0 or 1 \(got 0.5 in current\).*compare_continuous"):
        compare_binary([1, 0, 1], [1, 0.5, 1])


# --- Wilcoxon and the bootstrap interval ------------------------------------------------


def _scipy_wilcoxon(diffs: np.ndarray, alternative: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(stats.wilcoxon(diffs, zero_method="wilcox", alternative=alternative).pvalue)


def _random_runs(rng: np.random.Generator, n: int, judge_scale: bool) -> tuple[np.ndarray, np.ndarray]:
    base = rng.normal(0.6, 0.2, n)
    cur = base + rng.normal(rng.uniform(-0.1, 0.1), 0.1, n)
    if judge_scale:
        # Judge-like scores on a 5-point scale: ties and zero differences.
        base = np.round(np.clip(base, 0, 1) * 4) / 4
        cur = np.round(np.clip(cur, 0, 1) * 4) / 4
    return base, cur


@pytest.mark.parametrize("seed", range(120))
def test_wilcoxon_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # n <= 13 is our own sign-flip enumeration (scipy's permutation test there costs up
    # to a second per call, so the small n stay below 9 here); above, scipy itself.
    n = int(rng.integers(1, 9)) if seed % 2 else int(rng.integers(14, 150))
    base, cur = _random_runs(rng, n, judge_scale=seed % 3 == 0)
    diffs = cur - base
    if not np.any(diffs != 0):
        cmp = compare_continuous(base, cur, n_boot=50)
        assert (cmp.test, cmp.p_value, cmp.p_value_better) == ("none", 1.0, 1.0)
        return
    for higher_is_better, bad, good in ((True, "less", "greater"), (False, "greater", "less")):
        cmp = compare_continuous(base, cur, higher_is_better=higher_is_better, n_boot=50)
        assert cmp.test == "wilcoxon"
        assert cmp.p_value == pytest.approx(_scipy_wilcoxon(diffs, bad), rel=1e-12)
        assert cmp.p_value_better == pytest.approx(_scipy_wilcoxon(diffs, good), rel=1e-12)
        assert cmp.diff == pytest.approx(diffs.mean())


@pytest.mark.parametrize(("n", "alternative"), [(11, "less"), (12, "greater")])
def test_wilcoxon_exact_enumeration_at_the_threshold(n: int, alternative: str) -> None:
    # Ties and zeros at n = 11, 12: scipy's exact permutation test vs our enumeration.
    rng = np.random.default_rng(n)
    base = rng.integers(0, 5, n) / 4
    cur = np.clip(base + rng.integers(-2, 2, n) / 4, 0, 1)
    diffs = cur - base
    assert np.any(diffs == 0) and np.any(diffs != 0)
    cmp = compare_continuous(base, cur, n_boot=50)
    got = cmp.p_value if alternative == "less" else cmp.p_value_better
    assert got == pytest.approx(_scipy_wilcoxon(diffs, alternative), rel=1e-12)


def test_wilcoxon_worked_example() -> None:
    # Differences -3, -1, +2, -4, 0: zero dropped, ranks of |d| 3, 1, 2, 4; W+ = 2.
    # Of the 16 sign patterns, W+ <= 2 for {}, {1}, {2}: p(less) = 3/16.
    base = [5.0, 5.0, 5.0, 5.0, 5.0]
    cur = [2.0, 4.0, 7.0, 1.0, 5.0]
    cmp = compare_continuous(base, cur)
    assert cmp.p_value == pytest.approx(3 / 16)
    assert cmp.p_value_better == pytest.approx(14 / 16)  # W+ >= 2: all but {} and {1}


def test_identical_runs_give_no_evidence_and_no_warning() -> None:
    values = [0.2, 0.9, 0.4, 0.7, 0.5, 0.1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = compare_continuous(values, values)
    assert cmp.p_value == cmp.p_value_better == 1.0
    assert cmp.test == "none"
    assert cmp.diff == 0.0
    assert cmp.ci_low == cmp.ci_high == 0.0


def test_bootstrap_interval_is_deterministic_and_seeded() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=60)
    cur = base + rng.normal(0.1, 0.5, size=60)
    first = compare_continuous(base, cur, seed=11)
    again = compare_continuous(base.tolist(), cur.tolist(), seed=11)
    other = compare_continuous(base, cur, seed=12)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.ci_low < first.diff < first.ci_high
    # The percentile interval of the bootstrap mean is about diff -+ z * se.
    se = np.std(cur - base, ddof=1) / math.sqrt(60)
    assert first.ci_high - first.ci_low == pytest.approx(2 * stats.norm.ppf(0.95) * se, rel=0.15)


def test_bootstrap_interval_chunks_large_sets() -> None:
    # 50k cases x 2000 resamples would be 10^8 indices at once; chunking keeps it bounded.
    rng = np.random.default_rng(0)
    base = rng.random(50_000)
    cur = base + rng.normal(0.0, 0.1, 50_000)
    cmp = compare_continuous(base, cur, n_boot=400)
    se = np.std(cur - base, ddof=1) / math.sqrt(50_000)
    assert cmp.ci_low < cmp.diff < cmp.ci_high
    assert cmp.ci_high - cmp.ci_low == pytest.approx(2 * stats.norm.ppf(0.95) * se, rel=0.2)


def test_bootstrap_interval_coverage() -> None:
    # Skewed differences, true mean difference 0.1; 300 reps at n = 60.
    rng = np.random.default_rng(2024)
    reps, n, true_diff = 300, 60, 0.1
    covered = 0
    for rep in range(reps):
        base = rng.random(n)
        cur = base + true_diff + (rng.exponential(0.2, n) - 0.2)
        cmp = compare_continuous(base, cur, n_boot=1000, seed=rep)
        covered += cmp.ci_low <= true_diff <= cmp.ci_high
    # Nominal 90% (alpha = 0.05 each side). Percentile intervals undercover slightly at
    # this n; the band is the nominal rate -+ ~3.5 binomial sd (sd = 1.7 points at 300).
    assert 0.84 * reps <= covered <= 0.96 * reps


# --- Holm -------------------------------------------------------------------------------


def test_holm_matches_statsmodels(monkeypatch: pytest.MonkeyPatch) -> None:
    # multipletests calls gc.collect() on every call (~30 ms in a test session); skip it.
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    for seed in range(400):
        rng = np.random.default_rng(seed)
        m = int(rng.integers(1, 15))
        p = rng.random(m) ** rng.uniform(0.5, 4)
        if seed % 4 == 0:
            p[: m // 2] = p[0]  # ties
        if seed % 5 == 0:
            p[-1] = 1.0
        expected = multipletests(p, method="holm")[1]
        assert holm(p.tolist()) == pytest.approx(expected.tolist(), abs=1e-12), f"seed {seed}"


def test_holm_worked_example_and_edges() -> None:
    # Sorted 0.01, 0.02, 0.04 -> 3*0.01, 2*0.02, 1*0.04 = 0.03, 0.04, 0.04 (already monotone).
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # Monotone step-down: 3*0.02 = 0.06 then 2*0.025 = 0.05 is raised to 0.06.
    assert holm([0.02, 0.025, 0.5]) == pytest.approx([0.06, 0.06, 0.5])
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([]) == []
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        holm([0.1, float("nan")])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        holm([1.5])


# --- MDE --------------------------------------------------------------------------------


def test_min_discordant_pairs() -> None:
    assert min_discordant_pairs(0.05) == 5  # 0.5**4 = 0.0625, 0.5**5 = 0.031
    assert min_discordant_pairs(0.0625) == 5  # p must be strictly below alpha
    assert min_discordant_pairs(0.01) == 7
    for alpha in (0.2, 0.1, 0.05, 0.01, 0.001):
        d = min_discordant_pairs(alpha)
        assert 0.5**d < alpha <= 0.5 ** (d - 1)


def test_mde_shrinks_with_n_and_is_positive_for_identical_runs() -> None:
    rng = np.random.default_rng(5)
    previous_binary = previous_continuous = math.inf
    for n in (10, 40, 160, 640):
        binary = rng.integers(0, 2, n).tolist()
        scores = rng.random(n).tolist()
        mde_binary = compare_binary(binary, binary).mde
        mde_continuous = compare_continuous(scores, scores, n_boot=50).mde
        assert 0 < mde_binary < previous_binary
        assert 0 < mde_continuous < previous_continuous
        previous_binary, previous_continuous = mde_binary, mde_continuous
    # Identical runs: the binary MDE is the z^2/n floor; the continuous one uses RHO_MAX.
    assert mde_binary == pytest.approx(Z_SUM**2 / 640)
    sd = np.std(scores + scores, ddof=1)
    assert mde_continuous == pytest.approx(Z_SUM * sd * math.sqrt(2 * (1 - RHO_MAX)) / math.sqrt(640))


def test_mde_uses_the_spread_of_the_differences() -> None:
    rng = np.random.default_rng(9)
    base = rng.random(100)
    cur = base + rng.normal(0, 0.3, 100)
    cmp = compare_continuous(base, cur, n_boot=50)
    assert cmp.mde == pytest.approx(Z_SUM * np.std(cur - base, ddof=1) / 10)


def test_mde_is_zero_only_for_constant_values_and_inf_for_tiny_n() -> None:
    assert compare_continuous([0.5] * 20, [0.5] * 20).mde == 0.0
    assert compare_binary([1] * 20, [1] * 20).mde > 0
    # Four pairs can never give p < 0.05 (best case 0.5**4): nothing is detectable.
    assert compare_binary([1] * 4, [0] * 4).mde == math.inf
    assert compare_continuous([1.0, 2, 3, 4], [0.0, 1, 2, 3]).mde == math.inf


def test_mde_has_the_stated_power() -> None:
    # A drop equal to the MDE is caught about 80% of the time (normal approximation).
    rng = np.random.default_rng(11)
    reps, n = 300, 100
    mde = Z_SUM * 1.0 / math.sqrt(n)  # sigma of the differences = 1
    hits = 0
    for _ in range(reps):
        base = rng.normal(size=n)
        cur = base + rng.normal(-mde, 1.0, n)
        cmp = compare_continuous(base, cur, n_boot=20)
        hits += cmp.p_value < 0.05
    assert 0.65 * reps <= hits <= 0.92 * reps

    # Binary: discordance rate 0.3 at n = 200; MDE from the formula; the exact test is a
    # little conservative, so the band reaches lower.
    n, psi = 200, 0.3
    mde = Z_SUM * math.sqrt(psi / n)
    cell_probs = [(psi + mde) / 2, (psi - mde) / 2, 1 - psi]  # worse, better, concordant
    hits = 0
    for _ in range(reps):
        cells = rng.choice(3, size=n, p=cell_probs)
        base = (cells == 0).astype(int) | (cells == 2).astype(int)
        cur = (cells == 1).astype(int) | (cells == 2).astype(int)
        cmp = compare_binary(base, cur)
        hits += cmp.p_value < 0.05
    assert 0.6 * reps <= hits <= 0.92 * reps


# --- decide and the noise test ----------------------------------------------------------


def _cmp(diff: float, p: float, p_better: float, mde: float) -> PairedComparison:
    """A comparison with a 0.8 baseline mean (higher is better) and the given statistics."""
    return PairedComparison(
        n=100,
        baseline_mean=0.8,
        current_mean=0.8 + diff,
        diff=diff,
        ci_low=diff - 0.05,
        ci_high=diff + 0.05,
        p_value=p,
        p_value_better=p_better,
        test="wilcoxon",
        mde=mde,
        alpha=0.05,
        higher_is_better=True,
    )


@pytest.mark.parametrize(
    ("diff", "p", "p_better", "mde", "expected"),
    [
        (-0.10, 0.001, 0.999, 0.03, "fail"),  # material and significant drop
        (-0.10, 0.20, 0.80, 0.03, "pass"),  # material but not significant, well powered
        (-0.10, 0.20, 0.80, 0.08, "underpowered"),  # not significant, too few cases
        (-0.03, 0.001, 0.999, 0.03, "pass"),  # significant but within tolerance
        (-0.05, 0.001, 0.999, 0.03, "pass"),  # exactly at the tolerance is not material
        (0.10, 0.999, 0.001, 0.08, "improved"),  # a real gain wins over underpowered
        (0.10, 0.999, 0.20, 0.03, "pass"),
    ],
)
def test_decide_table(diff: float, p: float, p_better: float, mde: float, expected: str) -> None:
    cmp = _cmp(diff, p, p_better, mde)
    assert decide(cmp, tolerance=0.05, alpha=0.05, higher_is_better=True, p_adjusted=p) == expected


def test_decide_uses_the_adjusted_p_values() -> None:
    cmp = _cmp(-0.10, 0.01, 0.99, 0.03)
    assert decide(cmp, tolerance=0.05, alpha=0.05, higher_is_better=True, p_adjusted=0.04) == "fail"
    assert decide(cmp, tolerance=0.05, alpha=0.05, higher_is_better=True, p_adjusted=0.06) == "pass"
    gain = _cmp(0.10, 0.99, 0.01, 0.03)
    kwargs = {"tolerance": 0.05, "alpha": 0.05, "higher_is_better": True, "p_adjusted": 1.0}
    assert decide(gain, **kwargs) == "improved"
    assert decide(gain, **kwargs, p_better_adjusted=0.06) == "pass"


def test_decide_rejects_bad_arguments() -> None:
    cmp = _cmp(-0.10, 0.01, 0.99, 0.03)
    with pytest.raises(ValueError, match="'higher_is_better' is False but the comparison was made with True"):
        decide(cmp, tolerance=0.05, alpha=0.05, higher_is_better=False, p_adjusted=0.01)
    with pytest.raises(ValueError, match=r"'tolerance' must be a finite number >= 0 \(got -0.1\)"):
        decide(cmp, tolerance=-0.1, alpha=0.05, higher_is_better=True, p_adjusted=0.01)
    with pytest.raises(ValueError, match=r"'alpha' must lie in \(0, 0.5\) \(got 0.0\)"):
        decide(cmp, tolerance=0.05, alpha=0.0, higher_is_better=True, p_adjusted=0.01)
    with pytest.raises(ValueError, match=r"'p_adjusted' must lie in \[0, 1\]"):
        decide(cmp, tolerance=0.05, alpha=0.05, higher_is_better=True, p_adjusted=float("nan"))


def _binary_runs(rng: np.random.Generator, n: int, drop: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-case pass probabilities (cases differ in difficulty); each run draws independently."""
    difficulty = rng.beta(2, 0.8, n)
    base = (rng.random(n) < difficulty).astype(int)
    cur = (rng.random(n) < np.clip(difficulty - drop, 0, 1)).astype(int)
    return base, cur


def _continuous_runs(rng: np.random.Generator, n: int, drop: float, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-case quality plus run noise; `scale` rounds to a 5-point judge scale (ties, zeros)."""
    quality = rng.beta(4, 2, n)
    base = np.clip(quality + rng.normal(0, 0.1, n), 0, 1)
    cur = np.clip(quality - drop + rng.normal(0, 0.1, n), 0, 1)
    if scale:
        base, cur = np.round(base * 4) / 4, np.round(cur * 4) / 4
    return base, cur


def _fail_count(kind: str, n: int, drop: float, seeds: int) -> int:
    fails = 0
    for seed in range(seeds):
        rng = np.random.default_rng([seed, n, int(drop * 1000)])
        if kind == "binary":
            base, cur = _binary_runs(rng, n, drop)
            cmp = compare_binary(base, cur)
        else:
            base, cur = _continuous_runs(rng, n, drop, scale=kind == "scale")
            cmp = compare_continuous(base, cur, n_boot=20, seed=seed)
        status = decide(cmp, tolerance=0.0, alpha=0.05, higher_is_better=True, p_adjusted=cmp.p_value)
        fails += status == "fail"
    return fails


@pytest.mark.parametrize("kind", ["binary", "continuous", "scale"])
@pytest.mark.parametrize("n", [50, 200])
def test_noise_fails_at_most_at_rate_alpha(kind: str, n: int) -> None:
    # Same distribution in both runs, tolerance 0 (the worst case): the gate may only fail
    # at the test's level: at most the 0.999 quantile of Binomial(400, 0.05) (20 expected, band 35).
    seeds = 400
    assert _fail_count(kind, n, 0.0, seeds) <= _upper_band(seeds, 0.05)


@pytest.mark.parametrize(("kind", "n", "drop"), [("binary", 200, 0.15), ("continuous", 50, 0.08), ("scale", 200, 0.08)])
def test_planted_drop_is_caught(kind: str, n: int, drop: float) -> None:
    seeds = 100
    assert _fail_count(kind, n, drop, seeds) >= 0.9 * seeds


# --- input validation -------------------------------------------------------------------


@pytest.mark.parametrize("compare", [compare_binary, compare_continuous])
def test_bad_inputs_raise_clear_errors(compare) -> None:
    with pytest.raises(ValueError, match=r"must pair case by case \(got 3 and 2 values\)"):
        compare([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match=r"no paired cases to compare \(got 0\)"):
        compare([], [])
    with pytest.raises(ValueError, match="'current' holds a NaN"):
        compare([1, 0, 1], [1, float("nan"), 1])
    with pytest.raises(ValueError, match=r"'alpha' must lie in \(0, 0.5\) \(got 0.7\)"):
        compare([1, 0], [1, 0], alpha=0.7)
    with pytest.raises(ValueError, match=r"'power' must lie in \(0, 1\) \(got 1.0\)"):
        compare([1, 0], [1, 0], power=1.0)


def test_n_boot_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"'n_boot' must be a positive integer \(got 0\)"):
        compare_continuous([1.0, 2.0], [1.0, 2.0], n_boot=0)


def test_single_case_does_not_crash() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binary = compare_binary([1], [0])
        continuous = compare_continuous([0.9], [0.2])
    assert binary.p_value == 0.5 and binary.mde == math.inf and binary.n == 1
    assert continuous.p_value == 0.5 and continuous.mde == math.inf
    assert continuous.ci_low == continuous.ci_high == pytest.approx(-0.7)
    assert decide(binary, tolerance=0.05, alpha=0.05, higher_is_better=True, p_adjusted=0.5) == "underpowered"
