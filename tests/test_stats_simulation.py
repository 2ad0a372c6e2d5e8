"""The gate's error rates and power, by simulation on its own functions (compare, holm, decide).

Each check runs hundreds of seeded runs of the whole rule (test, Holm over the primary
metrics, tolerance) at the defaults, in the models of `tests/gate_simulation.py`
(deterministic, flip, case-level), so the figures in the README are the suite's. The fast
checks run by default with a few hundred runs a cell; `pytest -m slow` runs the full grid with
4,000 runs a cell (2,000 for power) and the issue's bound (the upper 95 % Monte Carlo bound within 1.5 points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gate_simulation import (
    MODELS,
    gate_status,
    pass_rate_runs,
    power_at_printed_mde,
    rates,
    upper_bound,
)

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_TOLERANCE
from pytest_llmgate.gate.stats import compare, decide, detectable_drop, holm

ALPHA, TOL = DEFAULT_ALPHA, DEFAULT_TOLERANCE
SIZES = (30, 100, 250, 1000)
KINDS = ("binary", "continuous")


def _margin(rate: float, reps: int) -> float:
    """Three Monte Carlo standard errors of a rate estimated from `reps` runs."""
    return 3 * math.sqrt(rate * (1 - rate) / reps)


def _gate(
    base: np.ndarray,
    cur: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    *,
    family: int = 1,
    clusters: list[str] | None = None,
) -> str:
    """The status of one primary metric beside `family - 1` unchanged ones (uniform p-values)."""
    cmp = compare(base.tolist(), cur.tolist(), kind=kind, alpha=ALPHA, tolerance=TOL, clusters=clusters)  # type: ignore[arg-type]
    p_adj = holm([cmp.p_value] + rng.random(family - 1).tolist())[0]
    return decide(cmp, alpha=ALPHA, p_adjusted=p_adj)


def _pass_rate_runs(rng: np.random.Generator, n: int, drop: float, discordance: float) -> tuple[np.ndarray, np.ndarray]:
    """A pass rate over n cases: a share `discordance` of cases flips, worse - better = drop."""
    return pass_rate_runs("flip", rng, n, drop, flip=discordance)


# --- false alarms at no change ------------------------------------------------------------


@pytest.mark.parametrize("kind,n", [("binary", 250), ("binary", 40), ("continuous", 250), ("continuous", 12)])
def test_no_change_fails_at_most_alpha_independent(kind: str, n: int) -> None:
    rng = np.random.default_rng(n)
    reps, rejected, failed = 600, 0, 0
    for _ in range(reps):
        if kind == "binary":
            base, cur = _pass_rate_runs(rng, n, 0.0, 0.10)
        else:
            quality = rng.random(n)
            base = quality + rng.normal(0, 0.1, n)
            cur = quality + rng.normal(0, 0.1, n)
        cmp = compare(base.tolist(), cur.tolist(), kind=kind, alpha=ALPHA, tolerance=0.0)  # type: ignore[arg-type]
        rejected += cmp.p_value < ALPHA
        failed += decide(cmp, alpha=ALPHA, p_adjusted=cmp.p_value) == "fail"
    # The test alone (tolerance 0) keeps its level; the tolerance rule can only lower it.
    assert rejected / reps <= ALPHA + _margin(ALPHA, reps)
    assert failed <= rejected


def _clustered_noise(rng: np.random.Generator, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two runs whose per-case change shares noise within each cluster (no real change)."""
    g = groups.max() + 1
    quality = rng.random(groups.size)
    shared = rng.normal(0, 0.12, g)[groups]
    return quality, quality + shared + rng.normal(0, 0.05, groups.size)


def test_clustered_noise_fails_at_most_alpha_with_clusters_declared() -> None:
    rng = np.random.default_rng(2026)
    groups = np.repeat(np.arange(25), 10)  # 25 documents, 10 questions each: n = 250
    labels = [f"doc-{g}" for g in groups]
    reps, declared, ignored, fails = 600, 0, 0, 0
    for _ in range(reps):
        base, cur = _clustered_noise(rng, groups)
        with_clusters = compare(base.tolist(), cur.tolist(), alpha=ALPHA, tolerance=0.0, clusters=labels)
        without = compare(base.tolist(), cur.tolist(), alpha=ALPHA, tolerance=0.0)
        declared += with_clusters.p_value < ALPHA
        ignored += without.p_value < ALPHA
        fails += _gate(base, cur, "continuous", rng, clusters=labels) == "fail"
    assert declared / reps <= ALPHA + _margin(ALPHA, reps)
    assert fails / reps <= ALPHA + _margin(ALPHA, reps)
    # Why clusters matter: treated as independent, the same noise looks like a change far too often.
    assert ignored / reps > 2 * ALPHA


def test_few_clusters_use_the_exact_test_and_keep_the_level() -> None:
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(10), 6)
    labels = [str(g) for g in groups]
    reps = 500
    rejected = 0
    for _ in range(reps):
        base, cur = _clustered_noise(rng, groups)
        rejected += compare(base.tolist(), cur.tolist(), alpha=ALPHA, clusters=labels).p_value < ALPHA
    assert rejected / reps <= ALPHA + _margin(ALPHA, reps)


# --- PASS at a true drop of the tolerance (non-inferiority) ------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_false_pass_at_a_drop_of_the_tolerance_is_at_most_alpha(kind: str, model: str) -> None:
    # PASS claims the drop is below T: when it equals T that claim is false. Every size at once.
    for n in SIZES:
        reps = 300
        rate = rates(kind, model, n, TOL, reps, seed=n)["pass"]
        assert rate <= ALPHA + _margin(ALPHA, reps), (kind, model, n, rate)


@pytest.mark.slow
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_false_pass_full(kind: str, model: str, n: int) -> None:
    reps = 4000
    rate = rates(kind, model, n, TOL, reps, seed=1000 + n)["pass"]
    assert upper_bound(rate, reps) <= ALPHA + 0.015, (kind, model, n, rate)


@pytest.mark.parametrize("kind", KINDS)
def test_false_fail_at_no_change_is_at_most_alpha_in_every_model(kind: str) -> None:
    for model in MODELS:
        for n in (30, 250):
            reps = 300
            rate = rates(kind, model, n, 0.0, reps, seed=7 * n)["fail"]
            assert rate <= ALPHA + _margin(ALPHA, reps), (kind, model, n, rate)


@pytest.mark.slow
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_false_fail_full(kind: str, model: str, n: int) -> None:
    reps = 4000
    rate = rates(kind, model, n, 0.0, reps, seed=2000 + n)["fail"]
    assert upper_bound(rate, reps) <= ALPHA + 0.015, (kind, model, n, rate)


def test_one_newly_failing_case_of_100_does_not_pass() -> None:
    # The session: nothing else changed. An app that breaks 3 % of its cases shows
    # exactly one broken case out of 100 a fifth of the time, so this cannot be a PASS.
    base = np.ones(100)
    cur = base.copy()
    cur[0] = 0.0
    assert gate_status(base, cur, "binary", np.random.default_rng(0)) == "inconclusive"


# --- power at the printed detectable drop -------------------------------------------------


@pytest.mark.parametrize(("kind", "n"), [("binary", 250), ("continuous", 100)])
def test_power_at_the_printed_drop_is_80_percent_in_the_case_level_model(kind: str, n: int) -> None:
    reps = 600
    _, power = power_at_printed_mde(kind, "case-level", n, reps, seed=n)
    assert abs(power - 0.80) < 0.06, power


@pytest.mark.slow
@pytest.mark.parametrize("n", (100, 250, 1000))
@pytest.mark.parametrize("kind", KINDS)
def test_power_at_the_printed_drop_full(kind: str, n: int) -> None:
    _, power = power_at_printed_mde(kind, "case-level", n, 2000, seed=3 * n)
    assert 0.76 <= power <= 0.84, power


def test_the_flip_model_is_caught_at_least_as_often() -> None:
    # The printed drop assumes a regression adds changed cases (case-level); where it only
    # turns noise flips into failures (flip model), it is caught more often, never less.
    _, power = power_at_printed_mde("binary", "flip", 250, 400, seed=4)
    assert power >= 0.76


@pytest.mark.parametrize("family", [1, 3])
def test_detectable_drop_of_a_score_has_80_percent_power(family: int) -> None:
    rng = np.random.default_rng(10 + family)
    n, sd = 200, 0.2
    quality = rng.random(n)
    observed = compare(quality.tolist(), (quality + rng.normal(0, sd, n)).tolist(), tolerance=TOL)
    mde = detectable_drop(observed, tolerance=TOL, alpha=ALPHA, family=family)
    reps = 1000
    caught = 0
    for _ in range(reps):
        cur = quality + rng.normal(-mde, observed.se * math.sqrt(n), n)
        caught += _gate(quality, cur, "continuous", rng, family=family) == "fail"
    assert abs(caught / reps - 0.80) < 0.04, (mde, caught / reps)


def test_detectable_drop_with_clusters_has_80_percent_power() -> None:
    rng = np.random.default_rng(99)
    groups = np.repeat(np.arange(40), 5)
    labels = [f"c{g}" for g in groups]
    base, cur = _clustered_noise(rng, groups)
    observed = compare(base.tolist(), cur.tolist(), tolerance=TOL, clusters=labels)
    mde = detectable_drop(observed, tolerance=TOL, alpha=ALPHA)
    reps = 800
    caught = 0
    for _ in range(reps):
        b, c = _clustered_noise(rng, groups)
        caught += _gate(b, c - mde, "continuous", rng, clusters=labels) == "fail"
    assert abs(caught / reps - 0.80) < 0.05, (mde, caught / reps)


# --- the three outcomes ----------------------------------------------------------------


def test_an_improvement_never_fails() -> None:
    rng = np.random.default_rng(13)
    for _ in range(300):
        n = int(rng.integers(1, 80))
        kind = "binary" if rng.random() < 0.5 else "continuous"
        if kind == "binary":
            base = rng.integers(0, 2, n).astype(float)
            cur = np.where(rng.random(n) < 0.3, 1.0, base)  # only 0 -> 1 flips
        else:
            base = rng.random(n)
            cur = base + rng.uniform(0, 0.3, n) * (rng.random(n) < 0.5)
        for higher in (True, False):
            b, c = (base, cur) if higher else (1 - base, 1 - cur)
            cmp = compare(b.tolist(), c.tolist(), kind=kind, higher_is_better=higher, tolerance=TOL)  # type: ignore[arg-type]
            assert decide(cmp, alpha=ALPHA, p_adjusted=cmp.p_value) != "fail"


def test_every_case_getting_worse_never_passes() -> None:
    rng = np.random.default_rng(17)
    for _ in range(300):
        n = int(rng.integers(1, 120))
        if rng.random() < 0.5:
            base, cur, kind = np.ones(n), np.zeros(n), "binary"
        else:
            base = rng.uniform(0.5, 1.0, n)
            cur, kind = base - rng.uniform(TOL, 0.5, n), "continuous"
        cmp = compare(base.tolist(), cur.tolist(), kind=kind, tolerance=TOL)  # type: ignore[arg-type]
        assert decide(cmp, alpha=ALPHA, p_adjusted=cmp.p_value) in ("fail", "inconclusive")


def test_a_real_drop_beyond_the_tolerance_fails_and_noise_passes_on_a_big_set() -> None:
    rng = np.random.default_rng(21)
    quality = rng.random(2000)
    same = quality + rng.normal(0, 0.05, 2000)
    assert _gate(quality, same, "continuous", rng) == "pass"
    assert _gate(quality, quality + rng.normal(-0.1, 0.05, 2000), "continuous", rng) == "fail"


def test_the_readme_tables_are_the_suites() -> None:
    # The exact tables are recomputed here; the simulated ones come from `python tests/gate_simulation.py`.
    from pathlib import Path

    from gate_simulation import table_detectable_drop, table_tolerances

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for line in table_detectable_drop() + table_tolerances():
        assert line in readme, line
