"""A run gates only what ran, a suite's verdict is its own, and merged shards gate as the whole run.

Real pytest sessions: `-k` on an unchanged three-suite project passes; a regression that FAILs
its suite alone still FAILs beside two unchanged suites; a SUT raising in every case names that
cause; shards 1/2 and 2/2 merged give the unsharded verdict for a calibration floor, a replay
miss and a spent judge budget.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_provider import FakeProvider
from test_plugin_judge import JUDGE
from test_plugin_judge import make_project as make_judge_project

from pytest_llmgate.cli import main

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
REPO = Path(__file__).resolve().parents[1]

SUITE_FILE = """
import os

import pytest

MODE = os.environ.get("GATE_MODE", "good")


@pytest.mark.golden("datasets/{name}.jsonl", slices={slices})
def test_{name}(case, llm_gate):
    number = int(case.id.split("-")[1])
    broken = MODE == "regress-{name}" and number < 8
    if MODE == "down":
        raise ConnectionError("the SUT is down")
    llm_gate.output({{"answer": case.reference}})
    llm_gate.judge("correctness")
    llm_gate.score("mrr", 0.8)
    llm_gate.score("recall@5", 0.9)
    assert not broken, f"case {{case.id}} failed its check"
"""
CORRECTNESS = """name: correctness
version: "1"
kind: pass_fail
criteria: |
  Pass when the answer states the same facts as the reference.
"""


def make_suites(pytester: pytest.Pytester) -> None:
    """Three suites of 53 cases: `std` (gated slices `mismatch`, `rounding`), `tax`, `ship`."""
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    for name in ("std", "tax", "ship"):
        rows = []
        for i in range(53):
            tags = ["mismatch"] if i % 5 == 0 else ["rounding"] if i % 5 == 1 else []
            rows.append({"id": f"{name}-{i}", "input": f"q {i}", "reference": f"answer {i}", "tags": tags})
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (pytester.path / f"datasets/{name}.jsonl").write_text(text, encoding="utf-8")
        slices = "['mismatch', 'rounding']" if name == "std" else "None"
        pytester.makepyfile(**{f"test_{name}": SUITE_FILE.format(name=name, slices=slices)})


@pytest.fixture
def suites(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    make_suites(pytester)
    update = pytester.runpytest(*GATE, "--llm-gate-update")
    assert update.ret == 0, update.stdout.str()
    return pytester


def _gate(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))["gate"]


def test_k_on_an_unchanged_project_gates_only_what_ran(suites: pytest.Pytester) -> None:
    # Two untagged cases of `std` (its gated slices keep no selected case), none of `tax` or `ship`.
    result = suites.runpytest(*GATE, "-k", "std-2] or std-3]")
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "fingerprint" not in out and "NO DATA" not in out and "no case with that tag" not in out
    assert "gated slice 'mismatch': no selected case carries the tag; not gated in this run." in out
    assert "not run (no case selected), not gated: test_ship.py::test_ship, test_tax.py::test_tax" in out
    assert out.count("not run (no case selected)") == 1
    gate = _gate(suites.path / "reports/llm-gate.json")
    assert gate["passed"] is True


def test_k_update_keeps_the_whole_set_figures_of_cases_it_did_not_run(suites: pytest.Pytester) -> None:
    path = suites.path / "baselines/test_std/test_std.json"
    before = json.loads(path.read_text(encoding="utf-8"))
    result = suites.runpytest(*GATE, "--llm-gate-update", "-k", "std-1] or std-2]")
    assert result.ret == 0, result.stdout.str()
    after = json.loads(path.read_text(encoding="utf-8"))
    assert after["cases"].keys() == before["cases"].keys()
    assert after["judge_cost"] == before["judge_cost"]
    assert after["aggregates"] == before["aggregates"]


def test_an_update_from_the_cache_keeps_the_judge_cost(
    pytester: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_MODE", "good")
    make_judge_project(pytester)
    assert pytester.runpytest(*JUDGE, "--llm-gate-update").ret == 0
    path = pytester.path / "baselines/test_qa/test_qa.json"
    before = json.loads(path.read_text(encoding="utf-8"))["judge_cost"]
    assert before["calls"] > 0 and before["input_tokens"] > 0
    calls = fake_provider.request_count
    assert pytester.runpytest(*JUDGE, "--llm-gate-update").ret == 0
    assert fake_provider.request_count == calls  # every verdict from the cache
    assert json.loads(path.read_text(encoding="utf-8"))["judge_cost"] == before
    assert pytester.runpytest(*JUDGE, "--llm-gate-update", "-k", "j-1] or j-2]").ret == 0
    after = json.loads(path.read_text(encoding="utf-8"))["judge_cost"]
    # The 22 cases not run keep their share (the mean per case) of the whole set's figures.
    assert after["calls"] == before["calls"]
    assert after.keys() == before.keys()
    for key in ("input_tokens", "output_tokens", "usd") if "usd" in before else ("input_tokens", "output_tokens"):
        assert after[key] == pytest.approx(before[key], rel=0.05), key


def test_a_regression_fails_beside_two_unchanged_suites(
    suites: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_MODE", "regress-tax")
    alone = suites.runpytest(*GATE, "test_tax.py")
    assert alone.ret == 1, alone.stdout.str()
    beside = suites.runpytest(*GATE)
    out = beside.stdout.str()
    assert beside.ret == 1, out
    assert "test_tax.py::test_tax: 1 metric(s) dropped beyond their tolerance" in out
    gate = _gate(suites.path / "reports/llm-gate.json")
    assert [r["kind"] for r in gate["reasons"]] == ["regression"]


def test_a_sut_raising_in_every_case_names_the_cause(suites: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_MODE", "down")
    result = suites.runpytest(*GATE, "test_ship.py")
    out = result.stdout.str()
    assert result.ret == 1
    assert "every selected case errored (53 of 53), nothing to compare; the first: ship-0: " in out
    assert "ConnectionError: the SUT is down" in out
    assert "fingerprint" not in out and "--llm-gate-update" not in out


def _shards_and_merge(project: pytest.Pytester, *args: str) -> tuple[dict[str, Any], int]:
    """Run shards 1/2 and 2/2 with `args`, merge them: the merged gate and the merge's exit code."""
    for index in (1, 2):
        shard = project.runpytest_subprocess(*args, "--llm-gate-shard", f"{index}/2")
        assert shard.ret == 0, shard.stdout.str()
        assert f"shard {index}/2: partial run" in shard.stdout.str()
    reports = project.path / "reports"
    shards = sorted(str(p) for p in reports.glob("llm-gate.shard-*.json"))
    assert len(shards) == 2
    merged = project.path / "merged.json"
    outcome = CliRunner().invoke(main, ["merge", *shards, "-o", str(merged), "--html", str(project.path / "m.html")])
    return _gate(merged), outcome.exit_code


def _whole(project: pytest.Pytester, *args: str) -> dict[str, Any]:
    result = project.runpytest_subprocess(*args)
    assert result.ret == 1, result.stdout.str()
    gate = _gate(project.path / "reports/llm-gate.json")
    shutil.rmtree(project.path / "reports")
    return gate


def test_merged_shards_fail_a_calibration_floor_as_the_whole_run(pytester: pytest.Pytester) -> None:
    for folder in ("examples", "datasets", "rubrics", "baselines"):
        shutil.copytree(REPO / folder, pytester.path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (pytester.path / "pytest.ini").write_text("[pytest]\npythonpath = .\n", encoding="utf-8")
    args = (*GATE, "examples/test_support.py", "-o", "llm_gate_min_agreement=correctness=0.99")
    whole = _whole(pytester, *args)
    assert "calibration" in [r["kind"] for r in whole["reasons"]]
    merged, code = _shards_and_merge(pytester, *args)
    assert code == 1
    assert merged == whole


def test_merged_shards_fail_a_replay_miss_as_the_whole_run(
    pytester: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_MODE", "good")
    make_judge_project(pytester)
    assert pytester.runpytest(*JUDGE, "--llm-gate-update", "--llm-gate-no-cache").ret == 0
    whole = _whole(pytester, *JUDGE, "--llm-gate-replay")
    assert [r["kind"] for r in whole["reasons"]] == ["judge_errors", "replay_miss"]
    merged, code = _shards_and_merge(pytester, *JUDGE, "--llm-gate-replay")
    assert code == 1
    assert merged == whole


def test_merged_shards_fail_a_spent_budget_as_the_whole_run(
    pytester: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_MODE", "good")
    make_judge_project(pytester)
    assert pytester.runpytest(*JUDGE, "--llm-gate-update", "--llm-gate-no-cache").ret == 0
    spent = (*JUDGE, "--llm-gate-no-cache", "--llm-gate-budget-tokens", "1", "--llm-gate-concurrency", "1")
    whole = _whole(pytester, *spent)
    merged, code = _shards_and_merge(pytester, *spent)
    assert code == 1
    for gate in (whole, merged):
        budget = [r for r in gate["reasons"] if r["kind"] == "budget"]
        assert [r["text"] for r in budget] == [
            "the judge token budget (1) ran out: verdicts after it are judge errors."
        ], gate
