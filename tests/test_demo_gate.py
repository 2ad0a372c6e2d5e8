"""The demo end to end, in a copy of the repo's demo files: the committed baseline passes,
each planted regression fails with the metrics and cases named, and labels that disagree
with the judge fail the calibration gate naming the rubric."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "examples/test_support.py")
INI = """[pytest]
pythonpath = .
llm_gate_min_agreement = correctness=0.15
"""


@pytest.fixture
def demo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("LLMGATE_DEMO_REGRESSION", raising=False)
    for folder in ("examples", "datasets", "rubrics", "baselines"):
        shutil.copytree(REPO / folder, pytester.path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (pytester.path / "pytest.ini").write_text(INI, encoding="utf-8")
    return pytester


def test_demo_passes_against_its_committed_baseline(demo: pytest.Pytester) -> None:
    result = demo.runpytest_subprocess(*GATE)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*metric*baseline*now*diff*90% CI*p (Holm)*MDE*verdict*",
            "*recall@5*0.853*0.853*PASS*",
            "*known failing (failed in the baseline too): refund-015, refund-016*",
            "*calibration: judge vs human labels*",
            "*correctness (pointwise)*45*",
            "LLM gate: PASS",
        ]
    )


def test_worse_retriever_fails_naming_the_metrics(demo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGATE_DEMO_REGRESSION", "retriever")
    result = demo.runpytest_subprocess(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "LLM gate: FAIL",
            "*recall@5 mean 0.659 is beyond the floor 0.7*",
            "*metric(s) dropped beyond their tolerance, significantly*judge:helpfulness -0.165*",
        ]
    )


def test_broken_guardrail_lists_the_newly_failing_cases(demo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGATE_DEMO_REGRESSION", "guardrail")
    result = demo.runpytest_subprocess(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*10 newly failing cases*",
            "*refund-019*unexpected: issue_refund(order_id='A1003', amount=5000.0)*",
            "*checks_passed -0.110*",
        ]
    )


def test_update_then_pass_and_the_baseline_diff_is_small(
    demo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = demo.path / "baselines/examples/test_support/test_support_agent.json"
    before = baseline.read_text(encoding="utf-8").splitlines()
    monkeypatch.setenv("LLMGATE_DEMO_REGRESSION", "guardrail")
    assert demo.runpytest_subprocess(*GATE, "--llm-gate-update").ret == 0
    after = baseline.read_text(encoding="utf-8").splitlines()
    assert demo.runpytest_subprocess(*GATE).ret == 0
    # Lines removed and added, as `git diff` counts them (difflib's autojunk heuristic would
    # treat the file's frequent lines as junk and misalign the rest).
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    edits = [(before[i1:i2], after[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]
    diff = [line for removed, added in edits for line in removed + added]
    assert 0 < len(diff) < 300, len(diff)  # ten cases' outputs and pass flags, not a rewrite
    assert any('"passed": false' in line for _, added in edits for line in added)


def test_labels_that_disagree_with_the_judge_fail_the_calibration_gate(demo: pytest.Pytester) -> None:
    path = demo.path / "datasets/labels/correctness.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        line["label"] = 6 - line["label"]  # a labeler who reads the 1-5 scale backwards
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = demo.runpytest_subprocess(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["LLM gate: FAIL", "*judge agreement for rubric 'correctness'*below the required 0.150*"]
    )
