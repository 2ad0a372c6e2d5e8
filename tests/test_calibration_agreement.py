"""Agreement statistics equal scikit-learn / scipy / statsmodels, on random data and worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from pytest_llmgate.calibration.agreement import (
    agreement_table,
    bootstrap_indices,
    cohen_kappa,
    confusion_matrix,
    kappa_bootstrap,
    spearman,
    spearman_bootstrap,
    t_interval,
    wilson_interval,
)

SEEDS = range(200)
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.UndefinedMetricWarning", "ignore:An input array is constant"
)
SCALES = {
    "pass_fail": ["fail", "pass"],
    "pointwise": [1, 2, 3, 4, 5],
    "pairwise": ["loss", "tie", "win"],
}


def _random_pair(seed: int, categories: list, agreeing: float = 0.6) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    human = [categories[i] for i in rng.integers(0, len(categories), size=n)]
    judge = [h if rng.random() < agreeing else categories[rng.integers(0, len(categories))] for h in human]
    return human, judge


def _same(ours: float | None, reference: float) -> bool:
    if ours is None:
        return math.isnan(reference)
    return math.isclose(ours, reference, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("kind", sorted(SCALES))
def test_kappa_accuracy_confusion_equal_sklearn_on_random_data(kind: str) -> None:
    categories = SCALES[kind]
    weights = "quadratic" if kind == "pointwise" else None
    for seed in SEEDS:
        human, judge = _random_pair(seed, categories)
        with np.errstate(divide="ignore", invalid="ignore"):
            reference = cohen_kappa_score(human, judge, labels=categories, weights=weights)
        assert _same(cohen_kappa(human, judge, categories, weights), reference), seed
        assert (
            confusion_matrix(human, judge, categories) == sk_confusion_matrix(human, judge, labels=categories).tolist()
        )
        table = agreement_table(
            human, judge, [0.0] * len(human), [0.0] * len(human), kind=kind, categories=categories, resamples=50
        )
        assert table["accuracy"]["value"] == pytest.approx(accuracy_score(human, judge), abs=1e-12)


def test_linear_weighted_kappa_equals_sklearn() -> None:
    for seed in SEEDS:
        human, judge = _random_pair(seed, [1, 2, 3, 4])
        reference = cohen_kappa_score(human, judge, labels=[1, 2, 3, 4], weights="linear")
        assert _same(cohen_kappa(human, judge, [1, 2, 3, 4], "linear"), reference), seed


def test_spearman_equals_scipy_on_random_data() -> None:
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 60))
        x = rng.integers(1, 6, size=n).astype(float)
        y = np.where(rng.random(n) < 0.5, x, rng.integers(1, 6, size=n)).astype(float)
        if seed % 3 == 0:
            x = rng.normal(size=n)  # continuous, no ties
        reference = stats.spearmanr(x, y).statistic
        assert _same(spearman(list(x), list(y)), float(reference)), seed


def test_undefined_statistics_are_none() -> None:
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert cohen_kappa(["pass"] * 4, ["pass"] * 4, ["fail", "pass"]) is None


def test_kappa_worked_examples() -> None:
    # Wikipedia's example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4.
    human = ["pass"] * 25 + ["fail"] * 25
    judge = ["pass"] * 20 + ["fail"] * 5 + ["pass"] * 10 + ["fail"] * 15
    assert cohen_kappa(human, judge, ["fail", "pass"]) == pytest.approx(0.4)
    # Worked by hand: human 1,2,3 vs judge 1,3,3 on a 1..3 scale; observed weighted
    # disagreement 1, expected 5 -> quadratic kappa 1 - 1/5 = 0.8.
    assert cohen_kappa([1, 2, 3], [1, 3, 3], [1, 2, 3], "quadratic") == pytest.approx(0.8)
    # Quadratic weights span the whole scale, not only the values seen.
    assert cohen_kappa([1, 2, 3], [1, 3, 3], [1, 2, 3, 4, 5], "quadratic") == pytest.approx(
        cohen_kappa_score([1, 2, 3], [1, 3, 3], labels=[1, 2, 3, 4, 5], weights="quadratic")
    )


def test_pairwise_agreement_with_and_without_ties() -> None:
    human = ["win", "win", "loss", "tie", "win", "loss", "tie"]
    judge = ["win", "loss", "loss", "win", "tie", "loss", "tie"]
    table = agreement_table(
        human, judge, [0.0] * 7, [0.0] * 7, kind="pairwise", categories=["loss", "tie", "win"], resamples=100
    )
    assert table["agreement_with_ties"]["value"] == pytest.approx(4 / 7)
    # Pairs where neither said tie: (win,win) (win,loss) (loss,loss) (loss,loss): 3 of 4 agree.
    assert table["agreement_without_ties"]["value"] == pytest.approx(3 / 4)
    assert table["agreement_without_ties"]["n"] == 4
    low, high = proportion_confint(3, 4, alpha=0.05, method="wilson")
    assert table["agreement_without_ties"]["low"] == pytest.approx(low)
    assert table["agreement_without_ties"]["high"] == pytest.approx(high)


def test_wilson_equals_statsmodels() -> None:
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 300))
        k = int(rng.integers(0, n + 1))
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        ours = wilson_interval(k, n, 0.95)
        assert ours is not None
        assert ours[0] == pytest.approx(low, abs=1e-12)
        assert ours[1] == pytest.approx(high, abs=1e-12)


def test_t_interval_equals_scipy() -> None:
    for seed in range(200):
        rng = np.random.default_rng(seed)
        data = rng.normal(0.3, 1.0, size=int(rng.integers(2, 50)))
        low, high = stats.t.interval(0.95, df=data.size - 1, loc=data.mean(), scale=stats.sem(data))
        ours = t_interval(list(data), 0.95)
        assert ours == pytest.approx((low, high), abs=1e-12)


def test_bootstrap_intervals_equal_a_plain_loop_with_the_reference_statistics() -> None:
    """The vectorised bootstrap is the percentile of sklearn/scipy on the same resamples."""
    categories = [1, 2, 3, 4, 5]
    for seed in range(8):
        human, judge = _random_pair(seed + 1000, categories, agreeing=0.7)
        index = bootstrap_indices(len(human), 100, seed)
        replicates = []
        rhos = []
        for row in index:
            h = [human[i] for i in row]
            j = [judge[i] for i in row]
            with np.errstate(divide="ignore", invalid="ignore"):
                replicates.append(cohen_kappa_score(h, j, labels=categories, weights="quadratic"))
                rhos.append(stats.spearmanr(h, j).statistic)
        replicates_arr = np.array(replicates, dtype=float)
        kept = replicates_arr[~np.isnan(replicates_arr)]
        low, high, count = kappa_bootstrap(human, judge, categories, "quadratic", resamples=100, seed=seed)
        assert count == kept.size
        assert (low, high) == pytest.approx(tuple(np.percentile(kept, [2.5, 97.5])), abs=1e-9)
        rho_arr = np.array(rhos, dtype=float)
        rho_kept = rho_arr[~np.isnan(rho_arr)]
        low, high, count = spearman_bootstrap(
            [float(v) for v in human], [float(v) for v in judge], resamples=100, seed=seed
        )
        assert count == rho_kept.size
        assert (low, high) == pytest.approx(tuple(np.percentile(rho_kept, [2.5, 97.5])), abs=1e-9)


def test_agreement_table_offset_and_interval_contains_estimate() -> None:
    human = [1, 2, 3, 4, 5, 3, 2, 4, 5, 1, 2, 3]
    judge = [2, 2, 3, 5, 5, 4, 2, 4, 5, 2, 3, 3]
    table = agreement_table(
        human,
        judge,
        [float(h) for h in human],
        [float(j) for j in judge],
        kind="pointwise",
        categories=[1, 2, 3, 4, 5],
        seed=7,
    )
    offsets = np.array(judge) - np.array(human)
    assert table["mean_offset"]["value"] == pytest.approx(offsets.mean())
    assert table["kappa"]["weights"] == "quadratic"
    assert table["kappa"]["value"] == pytest.approx(
        cohen_kappa_score(human, judge, labels=[1, 2, 3, 4, 5], weights="quadratic")
    )
    assert table["kappa"]["low"] <= table["kappa"]["value"] <= table["kappa"]["high"]
    assert table["spearman"]["value"] == pytest.approx(stats.spearmanr(human, judge).statistic)
    assert table["confusion"]["rows"] == "human"
    again = agreement_table(
        human,
        judge,
        [float(h) for h in human],
        [float(j) for j in judge],
        kind="pointwise",
        categories=[1, 2, 3, 4, 5],
        seed=7,
    )
    assert again == table  # seeded: the same intervals every time
