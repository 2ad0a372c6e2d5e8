"""`llmgate plan`: cases needed to catch a drop, from assumptions or a results file."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from pytest_llmgate._files import dumps
from pytest_llmgate.cli import main
from pytest_llmgate.gate.plan import (
    cases_needed,
    cases_to_certify,
    detectable_at,
    noise_of,
    pass_probability,
    repeats_to_certify,
)
from pytest_llmgate.gate.records import (
    Baseline,
    BaselineCase,
    CaseResult,
    GateResult,
    MetricSpec,
    RunResults,
    SuiteResult,
)
from pytest_llmgate.gate.stats import binary_power, compare, decide, detectable_drop
from pytest_llmgate.gate.verdict import evaluate


@pytest.mark.parametrize(("kind", "spread"), [("binary", 0.10), ("binary", 0.04), ("continuous", 0.2)])
def test_cases_needed_is_the_smallest_n_whose_detectable_drop_is_small_enough(kind: str, spread: float) -> None:
    n = cases_needed(0.05, kind, spread, tolerance=0.03)
    assert n is not None
    assert detectable_at(n, kind, spread, tolerance=0.03, alpha=0.05, family=1, power=0.8) <= 0.05
    assert detectable_at(n - 1, kind, spread, tolerance=0.03, alpha=0.05, family=1, power=0.8) > 0.05


def test_binary_plan_has_the_power_it_promises() -> None:
    n = cases_needed(0.05, "binary", 0.10, tolerance=0.03)
    assert n is not None and 200 < n < 400
    assert binary_power(n, 0.10, 0.05, tolerance=0.03, level=0.05) >= 0.8
    assert binary_power(n // 2, 0.10, 0.05, tolerance=0.03, level=0.05) < 0.8


def test_more_primaries_need_more_cases_and_drops_within_the_tolerance_never_fail() -> None:
    one = cases_needed(0.05, "continuous", 0.2, tolerance=0.03)
    five = cases_needed(0.05, "continuous", 0.2, tolerance=0.03, family=5)
    assert one is not None and five is not None and five > one
    assert cases_needed(0.03, "continuous", 0.2, tolerance=0.03) is None
    with pytest.raises(ValueError, match="'drop' must be a number above 0"):
        cases_needed(-0.1, "binary", 0.1, tolerance=0.03)


def test_plan_command_from_assumptions() -> None:
    result = CliRunner().invoke(main, ["plan", "--drop", "0.05", "--discordance", "0.10"])
    assert result.exit_code == 0, result.output
    assert "assumed" in result.output and str(cases_needed(0.05, "binary", 0.10, tolerance=0.03)) in result.output
    both = CliRunner().invoke(main, ["plan", "--drop", "0.05"])
    assert both.exit_code == 2 and "exactly one of --discordance" in both.output
    never = CliRunner().invoke(main, ["plan", "--drop", "0.02", "--sd", "0.2"])
    assert "never" in never.output and "Lower the tolerance" in never.output


def _results(n: int = 120) -> RunResults:
    rng = np.random.default_rng(4)
    before = rng.integers(1, 6, n) / 5
    after = np.clip(before + rng.choice([-0.2, 0.0, 0.2], n, p=[0.2, 0.6, 0.2]), 0.2, 1.0)
    spec = MetricSpec(name="judge:correctness")
    suite = SuiteResult(
        suite="t.py::t",
        dataset="d.jsonl",
        metrics={"judge:correctness": spec},
        cases={
            f"c{i}": CaseResult(case_id=f"c{i}", nodeid=f"t.py::t[c{i}]", metrics={"judge:correctness": float(a)})
            for i, a in enumerate(after)
        },
    )
    baseline = Baseline(
        suite="t.py::t",
        dataset="d.jsonl",
        metrics={"judge:correctness": spec},
        cases={f"c{i}": BaselineCase(metrics={"judge:correctness": float(b)}) for i, b in enumerate(before)},
    )
    raw = RunResults(
        plugin_version="0",
        created_at="2026-01-01T00:00:00+00:00",
        settings={"alpha": 0.05, "tolerance": 0.03},
        suites={"t.py::t": suite},
        baselines={"t.py::t": baseline},
        gate=GateResult(status="PASS", passed=True),
    )
    return evaluate(raw, baseline_paths={"t.py::t": "b.json"})


def test_plan_command_from_a_results_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = _results()
    path = tmp_path / "llm-gate.json"
    path.write_text(dumps(results.model_dump(mode="json")), encoding="utf-8")
    out = CliRunner().invoke(main, ["plan", str(path), "--drop", "0.06"])
    assert out.exit_code == 0, out.output
    verdict = results.verdicts[0].metrics[0]
    line = next(line for line in out.output.splitlines() if "judge:correctness" in line)
    assert f"{verdict.mde:.3f}" in line  # "detects now" is the verdict's detectable drop
    needed, pass_now, certify, repeats = line.split()[-4:]
    assert needed.isdigit() and certify.isdigit() and pass_now.endswith("%") and repeats.startswith("K=")
    missing = CliRunner().invoke(main, ["plan", str(path), "--drop", "0.06", "--metric", "nope"])
    assert missing.exit_code == 1 and "no metric 'nope' with paired cases" in missing.output


# --- certifying the tolerance (PASS) ------------------------------------------------------


def test_cases_to_certify_pass_an_unchanged_app_80_percent_of_the_time() -> None:
    from gate_simulation import rates

    n = cases_to_certify("binary", 0.10, tolerance=0.03)
    assert n is not None and 600 < n < 900
    assert pass_probability(n, "binary", 0.10, tolerance=0.03, alpha=0.05) >= 0.8
    simulated = rates("binary", "flip", n, 0.0, 600, seed=3)["pass"]
    assert 0.74 <= simulated <= 0.90, simulated
    # Fewer cases PASS less often: at 250 less than half the time.
    assert rates("binary", "flip", 250, 0.0, 600, seed=4)["pass"] < 0.5


def test_repeats_to_certify_are_the_cheaper_remedy_for_noise() -> None:
    k = repeats_to_certify(250, "binary", 0.10, tolerance=0.03)
    assert k == 3
    # K = 3 runs averaged per case: the per-case pass share changes with variance 0.1 / 3, in steps of 1/3.
    rng = np.random.default_rng(5)
    passed = 0
    reps = 400
    for _ in range(reps):
        flaky = rng.random(250) < 0.2  # a fifth of the cases pass half the time: 10 % flip between runs
        p = np.where(flaky, 0.5, 1.0)
        base = rng.binomial(3, p) / 3
        cur = rng.binomial(3, p) / 3
        cmp = compare(base.tolist(), cur.tolist(), tolerance=0.03)
        passed += decide(cmp, alpha=0.05, p_adjusted=cmp.p_value) in ("pass", "improved")
    assert passed / reps >= 0.74


def test_a_tolerance_of_zero_can_never_be_certified() -> None:
    assert cases_to_certify("continuous", 0.2, tolerance=0.0) is None
    assert repeats_to_certify(100, "binary", 0.1, tolerance=0.0) is None


def test_a_clustered_pass_rate_is_planned_from_its_cluster_robust_sd() -> None:
    # 300 cases in 30 clusters: the plan must read the sd (with the clusters' size), not a flip share.
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(30), 10)
    base = np.ones(300)
    broken = rng.random(30) < 0.1
    cur = np.where(broken[groups] & (rng.random(300) < 0.7), 0.0, 1.0)
    cmp = compare(base.tolist(), cur.tolist(), kind="binary", tolerance=0.03, clusters=[str(g) for g in groups])
    kind, spread, step, size = noise_of(cmp)
    assert (kind, step, size) == ("continuous", 1.0, 10.0)
    assert spread == pytest.approx(cmp.se * math.sqrt(300))
    # Its detectable drop is the verdict's own.
    now = detectable_at(
        300, kind, spread, tolerance=0.03, alpha=0.05, family=1, power=0.8, step=step, cluster_size=size
    )
    assert now == pytest.approx(detectable_drop(cmp, tolerance=0.03, alpha=0.05))


def test_plan_command_sizes_both_goals() -> None:
    out = CliRunner().invoke(main, ["plan", "--discordance", "0.10", "--drop", "0.05", "--cases", "250"])
    assert out.exit_code == 0, out.output
    line = next(line for line in out.output.splitlines() if line.startswith("assumed"))
    assert line.split()[-4:] == [
        str(cases_needed(0.05, "binary", 0.10, tolerance=0.03)),
        f"{pass_probability(250, 'binary', 0.10, tolerance=0.03, alpha=0.05):.0%}",
        str(cases_to_certify("binary", 0.10, tolerance=0.03)),
        "K=3",
    ]
    certify_only = CliRunner().invoke(main, ["plan", "--sd", "0.2", "--step", "0.25"])
    assert certify_only.exit_code == 0 and "to PASS an unchanged app" in certify_only.output
