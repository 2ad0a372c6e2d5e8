"""Sampling for labeling: seeded uniform sample, extra strata kept apart, labels needed."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from test_calibration_support import make_results

from pytest_llmgate.calibration.sampling import labels_needed, sample_for_labeling


def _results():
    values = [i % 5 / 4 for i in range(40)]
    consistent = [i % 7 != 0 for i in range(40)]
    return make_results("quality", "pointwise", values, consistent=consistent)


def test_uniform_sample_is_seeded_and_grows_as_a_prefix() -> None:
    results = _results()
    small = sample_for_labeling(results, "quality", n=5, seed=3)
    big = sample_for_labeling(results, "quality", n=12, seed=3)
    assert small == sample_for_labeling(results, "quality", n=5, seed=3)
    assert [item.key for item in big[:5]] == [item.key for item in small]
    assert {item.stratum for item in big} == {"uniform"}
    assert big[0].weight == pytest.approx(40 / 12)
    assert [item.key for item in sample_for_labeling(results, "quality", n=5, seed=4)] != [i.key for i in small]
    everything = sample_for_labeling(results, "quality", seed=3)
    assert len(everything) == 40 and len({item.key for item in everything}) == 40


def test_excluded_outputs_are_dropped_without_changing_the_sample() -> None:
    results = _results()
    sample = sample_for_labeling(results, "quality", n=10, seed=1)
    done = {item.key for item in sample[:4]}
    rest = sample_for_labeling(results, "quality", n=10, seed=1, exclude=done)
    assert [item.key for item in rest] == [item.key for item in sample[4:]]


def test_extra_strata_come_from_outside_the_uniform_sample() -> None:
    results = _results()
    items = sample_for_labeling(results, "quality", n=10, seed=2, strata=("flips", "extremes"), per_stratum=3)
    uniform = {item.case_id for item in items if item.stratum == "uniform"}
    flips = [item for item in items if item.stratum == "flips"]
    extremes = [item for item in items if item.stratum == "extremes"]
    assert len(uniform) == 10
    assert not uniform & {item.case_id for item in flips + extremes}
    cases = results.suites[items[0].suite].cases
    assert all(cases[item.case_id].judge[0].consistent is False for item in flips)
    assert all(cases[item.case_id].judge[0].value in (0.0, 1.0) for item in extremes)
    assert len(extremes) == 3
    with pytest.raises(ValueError, match="unknown stratum"):
        sample_for_labeling(results, "quality", n=1, strata=("odd",))


def test_labels_needed() -> None:
    # The textbook figure: +/-5 points at 95% for a proportion needs 385 labels.
    assert labels_needed(0.05) == 385
    z = stats.norm.ppf(0.95)
    assert labels_needed(0.1, proportion=0.8, confidence=0.9) == math.ceil(z * z * 0.16 / 0.01)
    assert labels_needed(0.25, sd=1.2) == math.ceil((1.959963984540054 * 1.2 / 0.25) ** 2)
    assert labels_needed(0.05, population=200) < 200
    with pytest.raises(ValueError, match="'half_width' must be positive"):
        labels_needed(0)
