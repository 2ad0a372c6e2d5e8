"""PPI++ equals ppi_py on random data and reproduces the worked example."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_llmgate.calibration.ppi import power_tuned_lambda, ppi_mean

ppi_py = pytest.importorskip("ppi_py")  # slow import (numba): only here


def _worked_example() -> tuple[list[float], list[float], list[float]]:
    # n=20 labeled (Y, f): (1,1) x12, (0,0) x6, (1,0) x1, (0,1) x1; N=180 unlabeled, 117 judge passes.
    labels = [1.0] * 12 + [0.0] * 6 + [1.0, 0.0]
    judged = [1.0] * 12 + [0.0] * 6 + [0.0, 1.0]
    unlabeled = [1.0] * 117 + [0.0] * 63
    return labels, judged, unlabeled


def test_worked_example_power_tuned_gives_the_published_interval() -> None:
    labels, judged, unlabeled = _worked_example()
    result = ppi_mean(labels, judged, unlabeled, confidence=0.95)
    assert result.estimate == pytest.approx(0.65)
    assert result.low == pytest.approx(0.5094, abs=5e-4)
    assert result.high == pytest.approx(0.7906, abs=5e-4)
    assert result.power_tuned
    assert 0.0 < result.lam < 1.0
    assert (result.n_labeled, result.n_unlabeled) == (20, 180)


def test_worked_example_plain_ppi_is_wider() -> None:
    labels, judged, unlabeled = _worked_example()
    plain = ppi_mean(labels, judged, unlabeled, confidence=0.95, lam=1.0)
    assert plain.estimate == pytest.approx(0.65)
    assert (plain.low, plain.high) == pytest.approx((0.4949, 0.8051), abs=5e-4)


@pytest.mark.parametrize("lam", [None, 1.0, 0.0, 0.4])
def test_worked_example_equals_ppi_py(lam: float | None) -> None:
    labels, judged, unlabeled = _worked_example()
    y, f, fu = np.array(labels), np.array(judged), np.array(unlabeled)
    ours = ppi_mean(labels, judged, unlabeled, confidence=0.95, lam=lam)
    low, high = ppi_py.ppi_mean_ci(y, f, fu, alpha=0.05, lam=lam)
    point = ppi_py.ppi_mean_pointestimate(y, f, fu, lam=lam)
    assert ours.estimate == pytest.approx(float(np.squeeze(point)), abs=1e-12)
    assert (ours.low, ours.high) == pytest.approx((float(np.squeeze(low)), float(np.squeeze(high))), abs=1e-12)


@pytest.mark.parametrize("data", ["binary", "scores"])
@pytest.mark.parametrize("lam", [None, 1.0])
def test_equals_ppi_py_on_random_data(data: str, lam: float | None) -> None:
    for seed in range(150):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(5, 80))
        big_n = int(rng.integers(20, 500))
        if data == "binary":
            truth = rng.random(n + big_n) < rng.uniform(0.2, 0.9)
            judge = np.where(rng.random(n + big_n) < rng.uniform(0.5, 0.95), truth, ~truth).astype(float)
            truth = truth.astype(float)
        else:
            truth = rng.integers(0, 5, size=n + big_n) / 4
            judge = np.clip(truth + rng.normal(0, rng.uniform(0.05, 0.5), size=n + big_n), 0, 1)
        y, f, fu = truth[:n], judge[:n], judge[n:]
        if np.var(np.concatenate([f, fu])) == 0:
            continue
        confidence = float(rng.choice([0.8, 0.9, 0.95]))
        ours = ppi_mean(y, f, fu, confidence=confidence, lam=lam)
        low, high = ppi_py.ppi_mean_ci(y, f, fu, alpha=1 - confidence, lam=lam)
        point = ppi_py.ppi_mean_pointestimate(y, f, fu, lam=lam)
        assert ours.estimate == pytest.approx(float(np.squeeze(point)), abs=1e-10), seed
        assert ours.low == pytest.approx(float(np.squeeze(low)), abs=1e-10), seed
        assert ours.high == pytest.approx(float(np.squeeze(high)), abs=1e-10), seed


def test_constant_judge_falls_back_to_the_labels_alone() -> None:
    labels = [1.0, 0.0, 1.0, 1.0]
    assert power_tuned_lambda(np.array(labels), np.ones(4), np.ones(10)) == 0.0
    result = ppi_mean(labels, [1.0] * 4, [1.0] * 10)
    assert result.estimate == pytest.approx(0.75)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="same length"):
        ppi_mean([1.0, 0.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="at least 2 labeled"):
        ppi_mean([1.0], [1.0], [1.0])
