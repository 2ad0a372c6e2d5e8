"""What a gated session leaves behind besides the verdict: JUnit properties (judge metrics
included), the markdown summary in $GITHUB_STEP_SUMMARY, blocking on a verdict in a test."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

TEST_FILE = """
import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference if case.id != "q-2" else "something else entirely"})
    llm_gate.retrieval(["d-" + case.id, "other"], k=1, relevant=["d-" + case.id])
    verdict = llm_gate.judge("correctness").result(timeout=30)   # a test may wait for its verdict
    assert verdict.error is None and verdict.provider == "offline:overlap-v1"
    assert verdict.value == (1.0 if case.id != "q-2" else 0.0)
"""
RUBRIC = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: Same facts as the reference.
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    lines = [
        json.dumps({"id": f"q-{i}", "input": f"question {i}", "reference": f"the answer is {i} blue boxes"})
        for i in range(6)
    ]
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


def test_junit_carries_every_metric_of_every_case(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider", "--llm-gate-update", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    root = ET.parse(project.path / "junit.xml").getroot()
    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    assert props["test_qa[q-1]"]["llm_gate.judge:correctness"] == "1.0"
    assert props["test_qa[q-2]"]["llm_gate.judge:correctness"] == "0.0"
    assert props["test_qa[q-2]"]["llm_gate.recall@1"] == "1.0"
    assert props["test_qa[q-2]"]["llm_gate.checks_passed"] == "1.0"


def test_markdown_summary_goes_to_the_github_step_summary(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = project.path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = project.runpytest("-p", "no:cacheprovider", "--llm-gate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # no baseline yet
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")
    assert "LLM gate: FAIL" in text and "test\\_qa.py::test\\_qa" in text  # markdown-escaped
    assert (project.path / "reports/llm-gate.md").read_text(encoding="utf-8") in text
    assert result.stdout.lines[-2] == "report: reports/llm-gate.html"  # the summary ends with the report
