"""Simulated apps for the gate's statistics: the models users meet, run through the gate's own
functions (`compare`, `holm`, `decide`, `detectable_drop`).

`tests/test_stats_simulation.py` asserts on these; `python tests/gate_simulation.py` prints the
README's tables ("How the gate decides") from the same code, so the figures there are the suite's.

Pass rates (a case passes or fails), a true drop `drop` of the mean:
- `deterministic`: the app gives the same answer every run; a regression breaks a share of the
  passing cases (they fail every run), nothing else moves.
- `flip`: a share `flip` of the cases flips between any two runs; a regression turns flips
  into failures (the share of changed cases stays `flip`, at least `drop`).
- `case-level`: each case has its own pass probability (most 1 or 0, a fifth 1/2, so 10 % of
  the cases differ between two runs); a regression makes some always-passing cases flaky, so it
  raises the share of cases that differ (by `drop`).

Judge scores on a 1-5 scale (0, 0.25, ..., 1), the same three models with one-point steps:
`deterministic` (a regression moves a share of the cases one point down), `flip` (10 % of the
cases move a point up or down between runs), `case-level` (a third of the cases are noisy, a
point up or down half the time; a regression moves a share of the cases one point down).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_TOLERANCE
from pytest_llmgate.gate.stats import PairedComparison, compare, decide, detectable_drop, holm

ALPHA, TOL = DEFAULT_ALPHA, DEFAULT_TOLERANCE
MODELS = ("deterministic", "flip", "case-level")
FLIP = 0.10
STEP = 0.25

Runs = tuple[np.ndarray, np.ndarray]


def pass_rate_runs(model: str, rng: np.random.Generator, n: int, drop: float, flip: float = FLIP) -> Runs:
    """Baseline and current 0/1 values of n cases under `model` with a true mean drop `drop`."""
    if model == "deterministic":
        base = (rng.random(n) < 0.8).astype(float)
        broken = rng.random(n) < drop / 0.8
        return base, np.where(broken, 0.0, base)
    if model == "flip":
        base = (rng.random(n) < 0.8).astype(float)
        u = rng.random(n)
        psi = max(flip, drop)
        worse = u < (psi + drop) / 2
        better = (u >= (psi + drop) / 2) & (u < psi)
        flipped = worse | better
        return np.where(flipped, worse.astype(float), base), np.where(flipped, better.astype(float), base)
    if model == "case-level":
        # p_i: 1 (share 0.7), 0 (0.1) or 1/2 (2 * flip: two runs of a 1/2 case differ half the time).
        u = rng.random(n)
        flaky = u < 2 * flip
        always = u >= 2 * flip + 0.1
        p_base = np.where(flaky, 0.5, np.where(always, 1.0, 0.0))
        # The regression: a share 2 * drop of all cases turns from always passing to flaky.
        turned = always & (rng.random(n) < 2 * drop / 0.7)
        p_cur = np.where(turned, 0.5, p_base)
        return (rng.random(n) < p_base).astype(float), (rng.random(n) < p_cur).astype(float)
    raise ValueError(model)


def score_runs(model: str, rng: np.random.Generator, n: int, drop: float, flip: float = FLIP) -> Runs:
    """Baseline and current judge scores (0, 0.25, ..., 1) with a true mean drop `drop`."""
    quality = rng.integers(1, 4, n) * STEP  # 0.25, 0.5 or 0.75: room for a point either way
    down = rng.random(n) < drop / STEP  # the regression: these cases lose a point
    if model == "deterministic":
        return quality, quality - STEP * down
    if model == "flip":
        moves = rng.random(n) < flip
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        return quality, quality + STEP * sign * moves - STEP * down
    if model == "case-level":
        noisy = rng.random(n) < 1 / 3

        def run() -> np.ndarray:
            jitter = np.where(rng.random(n) < 0.5, np.where(rng.random(n) < 0.5, -1.0, 1.0), 0.0)
            return quality + STEP * jitter * noisy

        return run(), run() - STEP * down
    raise ValueError(model)


def gate_status(base: np.ndarray, cur: np.ndarray, kind: str, rng: np.random.Generator, *, family: int = 1) -> str:
    """One primary metric's status beside `family - 1` unchanged ones (uniform p-values)."""
    if kind == "binary":
        worse = int(np.sum(cur < base))
        better = int(np.sum(cur > base))
        cmp = _binary_table(base.size, worse, better)
    else:
        cmp = compare(base.tolist(), cur.tolist(), kind="continuous", alpha=ALPHA, tolerance=TOL)
    p_adj = holm([cmp.p_value] + rng.random(family - 1).tolist())[0]
    return decide(cmp, alpha=ALPHA, p_adjusted=p_adj)


@lru_cache(maxsize=200_000)
def _binary_table(n: int, worse: int, better: int) -> PairedComparison:
    """The gate's comparison of a pass rate depends only on the 2x2 table: computed once each."""
    base = [1.0] * worse + [0.0] * better + [1.0] * (n - worse - better)
    cur = [0.0] * worse + [1.0] * better + [1.0] * (n - worse - better)
    return compare(base, cur, kind="binary", alpha=ALPHA, tolerance=TOL)


def rates(kind: str, model: str, n: int, drop: float, reps: int, seed: int, family: int = 1) -> dict[str, float]:
    """Share of runs ending in each status ("pass" counts IMPROVED too)."""
    rng = np.random.default_rng(seed)
    runs: Callable[..., Runs] = pass_rate_runs if kind == "binary" else score_runs
    counts = {"pass": 0, "fail": 0, "inconclusive": 0}
    for _ in range(reps):
        status = gate_status(*runs(model, rng, n, drop), kind, rng, family=family)
        counts["pass" if status == "improved" else status] += 1
    return {k: v / reps for k, v in counts.items()}


def upper_bound(rate: float, reps: int) -> float:
    """Upper end of the one-sided 95 % (Wilson) Monte Carlo interval of a rate from `reps` runs."""
    z = 1.6449
    centre = (rate + z * z / (2 * reps)) / (1 + z * z / reps)
    half = z * math.sqrt(rate * (1 - rate) / reps + z * z / (4 * reps * reps)) / (1 + z * z / reps)
    return centre + half


def printed_mde(observed: PairedComparison, family: int = 1) -> float:
    """The detectable drop the gate prints after a run compared as `observed`."""
    if observed.kind == "binary":
        return _binary_mde(observed.n, round(observed.discordance * observed.n), family)
    return detectable_drop(observed, tolerance=TOL, alpha=ALPHA, family=family)


@lru_cache(maxsize=10_000)
def _binary_mde(n: int, changed: int, family: int) -> float:
    cmp = _binary_table(n, changed // 2, changed - changed // 2)
    return detectable_drop(cmp, tolerance=TOL, alpha=ALPHA, family=family)


def power_at_printed_mde(kind: str, model: str, n: int, reps: int, seed: int, family: int = 1) -> tuple[float, float]:
    """(mean printed MDE, share of runs FAILed): each run is an unchanged one (what the user
    sees, whose MDE the gate prints), then a regression of exactly that size, gated."""
    rng = np.random.default_rng(seed)
    runs: Callable[..., Runs] = pass_rate_runs if kind == "binary" else score_runs
    caught, mdes = 0, []
    for _ in range(reps):
        base, cur = runs(model, rng, n, 0.0)
        if kind == "binary":
            observed = _binary_table(n, int(np.sum(cur < base)), int(np.sum(cur > base)))
        else:
            observed = compare(base.tolist(), cur.tolist(), alpha=ALPHA, tolerance=TOL)
        mde = printed_mde(observed, family)
        mdes.append(mde)
        caught += gate_status(*runs(model, rng, n, min(mde, 0.5)), kind, rng, family=family) == "fail"
    return float(np.mean(mdes)), caught / reps


# ------------------------------------------------------------------------ README tables


def _table_false_pass(reps: int) -> list[str]:
    lines = [
        "| metric | model | n = 30 | 100 | 250 | 1000 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, label in (("binary", "pass rate"), ("continuous", "judge score")):
        for model in MODELS:
            cells = [rates(kind, model, n, TOL, reps, seed=n)["pass"] for n in (30, 100, 250, 1000)]
            lines.append(f"| {label} | {model} | " + " | ".join(f"{c:.1%}" for c in cells) + " |")
    return lines


def _table_no_change(reps: int) -> list[str]:
    lines = [
        "| metric | model | n | PASS | INCONCLUSIVE | FAIL |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, label in (("binary", "pass rate"), ("continuous", "judge score")):
        for model in ("flip", "case-level"):
            for n in (100, 250, 1000):
                r = rates(kind, model, n, 0.0, reps, seed=7 + n)
                lines.append(
                    f"| {label} | {model} | {n} | {r['pass']:.1%} | {r['inconclusive']:.1%} | {r['fail']:.1%} |"
                )
    return lines


def _table_power(reps: int) -> list[str]:
    lines = [
        "| metric | model | n | printed MDE (mean) | FAILs at the printed MDE |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for kind, label in (("binary", "pass rate"), ("continuous", "judge score")):
        for model in MODELS[1:]:
            for n in (100, 250, 1000):
                mde, power = power_at_printed_mde(kind, model, n, reps, seed=3 * n)
                lines.append(f"| {label} | {model} | {n} | {mde:.3f} | {power:.1%} |")
    return lines


def table_detectable_drop() -> list[str]:
    """The README's detectable-drop table: exact power sums and the case-level model, no simulation."""
    from pytest_llmgate.gate.plan import detectable_at

    lines = [
        "| paired cases | pass rate, 10 % flip | pass rate, 4 primaries | score, sd of change 0.2 |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for n in (50, 100, 250, 500, 1000):
        cells = [
            detectable_at(n, "binary", FLIP, tolerance=TOL, alpha=ALPHA, family=1, power=0.8),
            detectable_at(n, "binary", FLIP, tolerance=TOL, alpha=ALPHA, family=4, power=0.8),
            detectable_at(n, "continuous", 0.2, tolerance=TOL, alpha=ALPHA, family=1, power=0.8),
        ]
        lines.append(f"| {n} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return lines


def table_tolerances() -> list[str]:
    """What each tolerance costs: the drop 250 cases catch, and what PASSing an unchanged app needs."""
    from pytest_llmgate.gate.plan import cases_to_certify, detectable_at, repeats_to_certify

    lines = [
        "| tolerance | detectable drop, 250 cases (pass rate, 10 % flip) | cases to PASS unchanged: pass rate, 10 % flip "
        "| repeats on 250 cases | cases to PASS unchanged: score, sd 0.2 |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for tol in (0.02, 0.03, 0.05):
        mde = detectable_at(250, "binary", FLIP, tolerance=tol, alpha=ALPHA, family=1, power=0.8)
        rate = cases_to_certify("binary", FLIP, tolerance=tol, alpha=ALPHA)
        k = repeats_to_certify(250, "binary", FLIP, tolerance=tol, alpha=ALPHA)
        score = cases_to_certify("continuous", 0.2, tolerance=tol, alpha=ALPHA)
        lines.append(f"| {tol} | {mde:.3f} | {rate} | {'K = ' + str(k) if k else '> 10'} | {score} |")
    return lines


def main(reps: int = 2000) -> None:
    """Print the README's simulation tables (`python tests/gate_simulation.py [reps]`)."""
    print("Detectable drop at the defaults (exact power sums, case-level model):\n")
    print("\n".join(table_detectable_drop()))
    print("\nWhat each tolerance costs (alpha 0.05, one primary metric):\n")
    print("\n".join(table_tolerances()))
    print(f"\nFalse PASS at a true drop of T = {TOL} (alpha {ALPHA}), {reps} runs a cell:\n")
    print("\n".join(_table_false_pass(reps)))
    print(f"\nAn unchanged app (no true change), {reps} runs a cell:\n")
    print("\n".join(_table_no_change(reps)))
    print(f"\nPower at the printed detectable drop, {reps} runs a cell:\n")
    print("\n".join(_table_power(reps)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
