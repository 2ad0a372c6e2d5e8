"""The gate's paired statistics, checked against scipy / statsmodels and worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from pytest_llmgate.gate.stats import (
    compare,
    compare_binary,
    compare_continuous,
    decide,
    detectable_drop,
    holm,
    min_discordant_pairs,
)


def _pairs(cells: dict[tuple[int, int], int]) -> tuple[list[int], list[int]]:
    """Paired 0/1 runs from a 2x2 table {(baseline, current): count}."""
    base: list[int] = []
    cur: list[int] = []
    for (b, c), count in sorted(cells.items()):
        base += [b] * count
        cur += [c] * count
    return base, cur


def _scipy_sign_flip(diffs: np.ndarray, alternative: str) -> float:
    """scipy's exact paired permutation test of the mean difference."""
    zeros = np.zeros_like(diffs)
    result = stats.permutation_test(
        (diffs, zeros),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        alternative=alternative,
        n_resamples=np.inf,
    )
    return float(result.pvalue)


# --- exact McNemar ---------------------------------------------------------------------


def test_mcnemar_worked_example() -> None:
    # 20 cases: 12 pass in both, 2 fail in both, 5 flipped pass -> fail, 1 fail -> pass.
    base, cur = _pairs({(1, 1): 12, (0, 0): 2, (1, 0): 5, (0, 1): 1})
    cmp = compare_binary(base, cur)
    # P(X >= 5), X ~ Bin(6, 1/2) = (C(6,5) + C(6,6)) / 64 = 7 / 64.
    assert cmp.p_value == pytest.approx(7 / 64)
    assert cmp.p_value_better == pytest.approx(63 / 64)
    assert cmp.test == "mcnemar-exact"
    assert (cmp.n, cmp.n_changed, cmp.clusters) == (20, 6, 20)
    assert cmp.diff == pytest.approx(-4 / 20)
    assert cmp.ci_low < cmp.diff < cmp.ci_high
    # p > alpha, so the interval must reach 0 (it inverts the same test): the test's p jumps
    # from 7/64 to 1/64 just above a shift of 0, so the bound is exactly 0. The bad end is
    # Tango's (non-inferiority), checked against an independent implementation below.
    assert cmp.ci_high == 0.0
    assert cmp.ci_low == pytest.approx(_tango_bound(worse=5, better=1, n=20, alpha=0.05), abs=1e-9)


def _tango_reference(worse: int, better: int, n: int, delta0: float, cc: float = 0.5) -> float:
    """Tango's (1998) score statistic, written from the paper's equations (n12 = better, n21 = worse),
    with the gate's continuity correction `cc` (in cases) off the numerator."""
    a = 2 * n
    b = -better - worse + (2 * n - better + worse) * delta0
    c = -worse * delta0 * (1 - delta0)
    p21 = (np.sqrt(b**2 - 4 * a * c) - b) / (2 * a)
    return float((better - worse - n * delta0 - cc) / np.sqrt(n * (2 * p21 + delta0 * (1 - delta0))))


def _tango_bound(worse: int, better: int, n: int, alpha: float, cc: float = 0.5) -> float:
    """The lower end of Tango's interval, by scipy's root finder on the reference statistic."""
    from scipy.optimize import brentq

    z = stats.norm.ppf(1 - alpha)
    mean = (better - worse) / n
    if _tango_reference(worse, better, n, mean, cc) >= z:
        return mean
    return float(brentq(lambda d: _tango_reference(worse, better, n, d, cc) - z, -1 + 1e-12, mean))


def test_tango_matches_the_worked_example(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8:
    # complete response before and after consolidation therapy (Cavo et al. 2012), a = 59,
    # n12 = 6, n21 = 16, d = 80: Tango's 95 % interval is -0.1240 to -0.0054 (uncorrected).
    from pytest_llmgate.gate import noninferiority

    assert round(_tango_bound(16, 6, 161, 0.025, cc=0.0), 4) == -0.1240
    assert round(-_tango_bound(6, 16, 161, 0.025, cc=0.0), 4) == -0.0054
    base, cur = _pairs({(1, 1): 59, (1, 0): 16, (0, 1): 6, (0, 0): 80})
    monkeypatch.setattr(noninferiority, "CONTINUITY", 0.0)
    cmp = compare_binary(base, cur, alpha=0.025)
    assert cmp.diff == pytest.approx(-10 / 161)
    assert round(cmp.ci_low, 4) == -0.1240
    mirrored = compare_binary(cur, base, alpha=0.025)
    assert round(-mirrored.ci_low, 4) == -0.0054
    # The gate's own (half a case of continuity correction) is a little wider.
    monkeypatch.undo()
    assert compare_binary(base, cur, alpha=0.025).ci_low == pytest.approx(_tango_bound(16, 6, 161, 0.025), abs=1e-9)
    assert compare_binary(base, cur, alpha=0.025).ci_low < -0.1240


@pytest.mark.parametrize("seed", range(15))
def test_tango_matches_an_independent_implementation(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(5, 2000))
    worse, better = (int(x) for x in rng.multinomial(n, [0.08, 0.05, 0.87])[:2])
    base, cur = _pairs({(1, 0): worse, (0, 1): better, (1, 1): n - worse - better})
    cmp = compare_binary(base, cur, tolerance=0.03)
    assert cmp.p_noninferior == pytest.approx(stats.norm.sf(_tango_reference(worse, better, n, -0.03)), rel=1e-9)
    assert cmp.ci_low == pytest.approx(_tango_bound(worse, better, n, 0.05), abs=1e-9)
    # At delta0 = 0 Tango's statistic is McNemar's (b - c) / sqrt(b + c).
    if worse + better:
        assert _tango_reference(worse, better, n, 0.0, cc=0.0) == pytest.approx(
            (better - worse) / math.sqrt(worse + better)
        )


@pytest.mark.parametrize("seed", range(40))
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
        assert cmp.test == "mcnemar-exact"
        return
    discordant = worse + better
    assert cmp.p_value == pytest.approx(stats.binomtest(worse, discordant, 0.5, alternative="greater").pvalue)
    assert cmp.p_value_better == pytest.approx(stats.binomtest(better, discordant, 0.5, alternative="greater").pvalue)
    table = [[np.sum((base == 1) & (cur == 1)), worse], [better, np.sum((base == 0) & (cur == 0))]]
    two_sided = mcnemar(table, exact=True).pvalue
    assert min(1.0, 2 * min(cmp.p_value, cmp.p_value_better)) == pytest.approx(two_sided)


@pytest.mark.parametrize("seed", range(12))
def test_binary_interval_inverts_the_sign_flip_test_scipy(seed: int) -> None:
    # At the good end of the interval, scipy's exact permutation test of the shifted differences
    # sits at alpha: just inside the interval it does not reject, just outside it does. The bad
    # end inverts Tango's test (above).
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(8, 13))
    base = rng.integers(0, 2, n)
    cur = np.where(rng.random(n) < 0.4, 1 - base, base)
    if np.all(base == cur):
        cur[0] = 1 - cur[0]
    cmp = compare_binary(base.tolist(), cur.tolist(), alpha=0.1)
    d = (cur - base).astype(float)
    eps = 1e-6
    if cmp.ci_high < 1.0:
        assert _scipy_sign_flip(d - (cmp.ci_high - eps), "less") >= 0.1 - 1e-9
        assert _scipy_sign_flip(d - (cmp.ci_high + eps), "less") < 0.1
    worse, better = int(np.sum(d < 0)), int(np.sum(d > 0))
    assert cmp.ci_low == pytest.approx(_tango_bound(worse, better, n, 0.1), abs=1e-9)


def test_binary_interval_coverage() -> None:
    # Correlated pairs (most cases keep their outcome); true diff = 0.70 - 0.80 = -0.10.
    rng = np.random.default_rng(7)
    reps, n = 400, 80
    cell_probs = [0.65, 0.15, 0.05, 0.15]  # (1,1), (1,0), (0,1), (0,0)
    missed_high = missed_low = 0
    for _ in range(reps):
        cells = rng.choice(4, size=n, p=cell_probs)
        base = np.isin(cells, [0, 1]).astype(int)
        cur = np.isin(cells, [0, 2]).astype(int)
        cmp = compare_binary(base.tolist(), cur.tolist())
        missed_high += cmp.ci_high < -0.10
        missed_low += cmp.ci_low > -0.10
    # Each one-sided bound misses at most alpha = 5 % of the time (+ Monte Carlo margin).
    assert missed_high / reps < 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)
    assert missed_low / reps < 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)


def test_binary_rejects_non_binary_values() -> None:
    with pytest.raises(ValueError, match=r"binary metric values must be 0 or 1 \(got 0\.5 in current\)"):
        compare_binary([1, 0], [0.5, 1])


# --- sign-flip test of the mean ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_sign_flip_matches_scipy_permutation_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 13))
    # Raw 1-5 judge scores tie often; integers keep the ties exact for scipy too (scipy's tie
    # tolerance is relative to the observed statistic, so float noise near 0 splits them).
    base = rng.integers(1, 6, n).astype(float)
    cur = np.clip(base + rng.integers(-2, 2, n), 1, 5)
    cmp = compare_continuous(base.tolist(), cur.tolist())
    d = cur - base
    assert cmp.test == "sign-flip-exact"
    if not np.any(d):
        assert cmp.p_value == cmp.p_value_better == 1.0
        return
    assert cmp.p_value == pytest.approx(_scipy_sign_flip(d, "less"))
    assert cmp.p_value_better == pytest.approx(_scipy_sign_flip(d, "greater"))
    # Non-inferiority on few units needs the exact test and the floored one (never easier).
    assert cmp.p_noninferior >= _scipy_sign_flip(d + 0.0, "greater") - 1e-12


@pytest.mark.parametrize("seed", range(10))
def test_sign_flip_interval_is_the_inversion_scipy(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(6, 12))
    d = rng.normal(-0.05, 0.2, n)
    cmp = compare_continuous(np.zeros(n).tolist(), d.tolist(), alpha=0.05)
    eps = 1e-7
    assert _scipy_sign_flip(d - (cmp.ci_high - eps), "less") >= 0.05 - 1e-9
    assert _scipy_sign_flip(d - (cmp.ci_high + eps), "less") < 0.05
    # The bad end is at or below the exact test's (the floored test must agree too).
    assert _scipy_sign_flip(d - (cmp.ci_low - eps), "greater") < 0.05


def test_noninferiority_p_on_few_units_is_the_stricter_of_the_two_tests() -> None:
    from scipy.special import stdtr

    d = np.array([-0.1, 0.05, 0.0, -0.02, 0.03, 0.01, -0.04, 0.02])
    cmp = compare_continuous(np.zeros(8).tolist(), d.tolist(), tolerance=0.05)
    # The score form: the spread about the hypothesised mean -0.05, half a step (0.01) of
    # continuity correction; the floor (0.01 * 0.05 - 0.05**2 < 0) does not bind.
    se_mu = math.sqrt(stats.sem(d) ** 2 + (d.mean() + 0.05) ** 2 / 7)
    floored = float(stdtr(7, -(d.mean() + 0.05 - 0.01 / 16) / se_mu))
    assert cmp.p_noninferior == pytest.approx(max(_scipy_sign_flip(d + 0.05, "greater"), floored))


def test_few_cases_moving_one_step_down_do_not_pass() -> None:
    # 100 cases, 7 fall one point on a 1-5 scale (0.25 normalised), nothing else moves: the
    # share of cases falling may well be 12.8 % (exact upper bound), a drop of 0.032 > 0.03.
    base = [0.75] * 100
    cur = [0.5] * 7 + [0.75] * 93
    cmp = compare_continuous(base, cur, tolerance=0.03)
    assert cmp.test == "t-paired"
    assert cmp.ci_low < -0.03
    assert decide(cmp, alpha=0.05, p_adjusted=cmp.p_value) == "inconclusive"
    # The floor: a mean drop of 0.03 made of 0.25 steps has a variance of at least
    # 0.25 * 0.03 - 0.03**2 per case; the t-test alone (variance 0.0041) would PASS.
    t_alone = (np.mean(np.subtract(cur, base)) + 0.03) / stats.sem(np.subtract(cur, base))
    assert stats.t.sf(t_alone, 99) < 0.05


# --- studentized test (large n) and clusters ---------------------------------------------


def test_t_test_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(3)
    base = rng.random(120)
    cur = base + rng.normal(-0.02, 0.1, 120)
    cmp = compare_continuous(base.tolist(), cur.tolist(), alpha=0.05)
    assert cmp.test == "t-paired"
    assert cmp.p_value == pytest.approx(stats.ttest_rel(cur, base, alternative="less").pvalue)
    assert cmp.p_value_better == pytest.approx(stats.ttest_rel(cur, base, alternative="greater").pvalue)
    ci = stats.ttest_rel(cur, base).confidence_interval(confidence_level=0.90)
    assert cmp.ci_high == pytest.approx(ci.high)
    # The bad end inverts the score form of the test (spread about the hypothesised mean): a
    # little further out than the t interval's, by (mean - mu)^2 / (n - 1) in the variance.
    assert ci.low - 0.001 < cmp.ci_low < ci.low
    se_mu = math.sqrt(stats.sem(cur - base) ** 2 + (cmp.diff - cmp.ci_low) ** 2 / 119)
    half_step = np.min(np.abs(cur - base)) / 240  # the continuity correction, negligible here
    assert (cmp.diff - cmp.ci_low - half_step) / se_mu == pytest.approx(stats.t.ppf(0.95, 119), rel=1e-6)


def test_cluster_robust_se_matches_statsmodels() -> None:
    rng = np.random.default_rng(11)
    groups = np.repeat(np.arange(25), 10)
    d = rng.normal(0, 0.1, 25)[groups] + rng.normal(0, 0.1, 250)
    cmp = compare_continuous(np.zeros(250).tolist(), d.tolist(), clusters=[f"doc-{g}" for g in groups])
    fit = sm.OLS(d, np.ones(250)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert cmp.test == "t-cluster"
    assert cmp.clusters == 25
    assert cmp.se == pytest.approx(float(fit.bse[0]))
    # df = clusters - 1, like statsmodels' t distribution with use_t.
    fit_t = sm.OLS(d, np.ones(250)).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    assert cmp.p_value == pytest.approx(float(stats.t.cdf(fit_t.tvalues[0], 24)))


def test_few_clusters_use_the_exact_test_on_cluster_totals() -> None:
    groups = np.repeat(np.arange(8), 5)
    rng = np.random.default_rng(5)
    d = rng.normal(-0.05, 0.1, 8)[groups]
    cmp = compare_continuous(np.zeros(40).tolist(), d.tolist(), clusters=[str(g) for g in groups])
    totals = np.bincount(groups, weights=d)
    assert cmp.test == "sign-flip-exact" and cmp.clusters == 8
    assert cmp.p_value == pytest.approx(_scipy_sign_flip(totals, "less"))


def test_clusters_must_match_the_cases() -> None:
    with pytest.raises(ValueError, match="one cluster per case"):
        compare_continuous([0.1, 0.2], [0.1, 0.3], clusters=["a"])


# --- agreement of p-value, interval and decision -------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "continuous"])
@pytest.mark.parametrize("n", [10, 60, 300])
def test_p_value_interval_and_decision_agree(kind: str, n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(40):
        if kind == "binary":
            base = rng.integers(0, 2, n)
            cur = np.where(rng.random(n) < 0.15, 1 - base, base)
        else:
            base = rng.random(n)
            cur = base + rng.normal(rng.uniform(-0.1, 0.1), 0.15, n)
        hib = bool(rng.integers(0, 2))
        cmp = compare(base.tolist(), cur.tolist(), kind=kind, higher_is_better=hib, tolerance=0.03)
        bad_end = cmp.ci_high if hib else -cmp.ci_low  # the good-direction upper bound
        good_end = cmp.ci_low if hib else -cmp.ci_high  # the good-direction lower bound
        assert (cmp.p_value < 0.05) == (bad_end < 0), cmp
        assert (cmp.p_noninferior < 0.05) == (good_end > -0.03), cmp
        status = decide(cmp, alpha=0.05, p_adjusted=cmp.p_value)
        if status == "fail":
            assert bad_end < 0
        if status in ("pass", "improved"):
            assert good_end > -0.03


def test_identical_outputs_pass_at_any_size() -> None:
    for n in (1, 3, 40):
        cmp = compare_continuous([0.5] * n, [0.5] * n, tolerance=0.03, identical=True)
        assert cmp.test == "identical" and cmp.n_changed == 0
        assert decide(cmp, alpha=0.05, p_adjusted=1.0) == "pass"
        binary = compare_binary([1, 0] * n, [1, 0] * n, tolerance=0.03, identical=True)
        assert decide(binary, alpha=0.05, p_adjusted=1.0) == "pass"


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_unchanged_values_go_through_the_test(kind: str) -> None:
    # Values equal but outputs not known equal: 30 cases cannot show a drop within 0.03
    # (an app breaking 3 % of its cases shows no change on 30 cases 40 % of the time); 119 can.
    sizes = (
        ((30, "inconclusive"), (118, "inconclusive"), (119, "pass")) if kind == "binary" else ((30, "inconclusive"),)
    )
    for n, expected in (*sizes, (1000, "pass")):
        cmp = compare([1.0] * n, [1.0] * n, kind=kind, tolerance=0.03)  # type: ignore[arg-type]
        assert cmp.n_changed == 0 and cmp.test != "identical"
        assert decide(cmp, alpha=0.05, p_adjusted=cmp.p_value) == expected, (n, cmp)


def test_the_issue_shape_fails() -> None:
    # A 1-5 judge score on 250 cases: 180 go up one point, 70 fall from 5 to 1 (normalised).
    base = [0.5] * 180 + [1.0] * 70
    cur = [0.75] * 180 + [0.0] * 70
    cmp = compare_continuous(base, cur, tolerance=0.03)
    assert cmp.diff == pytest.approx(-0.10)
    assert cmp.ci_high < 0 and cmp.p_value < 0.01
    assert decide(cmp, alpha=0.05, p_adjusted=cmp.p_value) == "fail"


def test_decide_uses_the_adjusted_p() -> None:
    base, cur = _pairs({(1, 1): 200, (1, 0): 20, (0, 1): 5, (0, 0): 25})
    cmp = compare_binary(base, cur, tolerance=0.03)
    assert decide(cmp, alpha=0.05, p_adjusted=cmp.p_value) == "fail"
    assert decide(cmp, alpha=0.05, p_adjusted=0.2) == "inconclusive"


def test_decide_rejects_bad_arguments() -> None:
    cmp = compare_binary([1, 1], [1, 0])
    with pytest.raises(ValueError, match=r"'p_adjusted' must lie in \[0, 1\] \(got 1.5\)"):
        decide(cmp, alpha=0.05, p_adjusted=1.5)
    with pytest.raises(ValueError, match=r"'alpha' must lie in \(0, 0.5\) \(got 0.7\)"):
        decide(cmp, alpha=0.7, p_adjusted=0.5)
    with pytest.raises(ValueError, match=r"'tolerance' must be a finite number >= 0 \(got -0.1\)"):
        compare_binary([1, 1], [1, 0], tolerance=-0.1)


# --- Holm, helpers ----------------------------------------------------------------------


def test_holm_matches_statsmodels() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.random(int(rng.integers(1, 15))) ** 2
        assert holm(p.tolist()) == pytest.approx(list(multipletests(p, method="holm")[1]))
    assert holm([]) == []
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        holm([0.5, 1.5])


def test_min_discordant_pairs() -> None:
    assert min_discordant_pairs(0.05) == 5  # 0.5**5 = 0.031 < 0.05 <= 0.5**4
    assert min_discordant_pairs(0.01) == 7
    assert detectable_drop(compare_binary([1] * 4, [1] * 4), tolerance=0.03, alpha=0.05) == math.inf


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="must pair case by case"):
        compare_continuous([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="no paired cases"):
        compare_continuous([], [])
    with pytest.raises(ValueError, match="NaN or infinite"):
        compare_continuous([0.1, float("nan")], [0.1, 0.2])
    with pytest.raises(ValueError, match="'kind' must be 'binary' or 'continuous'"):
        compare([1], [1], kind="ordinal")  # type: ignore[arg-type]


def test_distribution_helpers_give_scipy_stats_numbers() -> None:
    """The gate computes t and binomial tails without importing scipy.stats (half a second of a
    small session); the numbers must stay scipy.stats' own, edges included."""
    from pytest_llmgate.gate import stats as gate_stats

    for df in (1, 2, 7, 39, 1000):
        for x in (-3.5, -0.2, 0.0, 1.7, 40.0):
            assert gate_stats._t_cdf(x, df) == pytest.approx(stats.t.cdf(x, df), rel=1e-14, abs=1e-300)
            assert gate_stats._t_sf(x, df) == pytest.approx(stats.t.sf(x, df), rel=1e-14, abs=1e-300)
        for q in (0.05, 0.2, 0.8, 0.95, 0.999):
            assert gate_stats._t_ppf(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-14)
    k = np.arange(-2, 25)
    for n in (0, 1, 5, 20):
        for p in (0.0, 0.03, 0.5, 0.97, 1.0):
            np.testing.assert_allclose(gate_stats._binom_pmf(k, n, p), stats.binom.pmf(k, n, p), rtol=1e-14)
            np.testing.assert_allclose(gate_stats._binom_sf(k, n, p), stats.binom.sf(k, n, p), rtol=1e-14)
            if n and 0 < p < 1:
                assert gate_stats._binom_ppf(1 - 1e-9, n, p) == stats.binom.ppf(1 - 1e-9, n, p)
    grid_n = np.array([[3, 8], [0, 12]])
    grid_k = np.array([[4, 2], [0, 13]])
    np.testing.assert_allclose(gate_stats._binom_pmf(grid_k, grid_n, 0.4), stats.binom.pmf(grid_k, grid_n, 0.4))
    np.testing.assert_allclose(gate_stats._binom_sf(grid_k - 1, grid_n, 0.5), stats.binom.sf(grid_k - 1, grid_n, 0.5))
