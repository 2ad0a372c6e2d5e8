"""`--llm-gate-rejudge-baseline` in a `repeat=K` suite: the baseline keeps one output per case,
not its K runs', so its judge values (means over K outputs) cannot be re-judged; they are left
out of the pairing and the summary says so, never paired with the new judge's values."""

from __future__ import annotations

import json

import pytest

from pytest_llmgate.gate.records import RunResults

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--llm-gate-judge", "offline")
SUITE = "test_qa.py::test_qa"
RUBRIC = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: Same facts as the reference.
"""
TEST_FILE = """
import pytest


def answer(case):
    return {"answer": case.reference if int(case.id.split("-")[1]) % 3 else "I do not know."}


@pytest.mark.golden("datasets/qa.jsonl", sut=answer, repeat=3)
def test_qa(case, output, llm_gate):
    llm_gate.judge("correctness")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps({"id": f"q-{i}", "input": f"question {i}?", "reference": f"Crate {i} holds {i + 7} apples."})
        for i in range(12)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


def test_a_repeated_suite_s_old_judge_values_are_left_out_and_said(project: pytest.Pytester) -> None:
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    baseline = json.loads((project.path / "baselines/test_qa/test_qa.json").read_text(encoding="utf-8"))
    assert baseline["repeat"] == 3 and all("judge:correctness" in c["metrics"] for c in baseline["cases"].values())
    rubric = project.path / "rubrics/correctness.yaml"
    rubric.write_text(rubric.read_text(encoding="utf-8").replace("{min: 1, max: 5}", "{min: 1, max: 10}"))

    result = project.runpytest(*GATE, "--llm-gate-rejudge-baseline")
    out = result.stdout.str()
    results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    rejudged = results.baselines[SUITE]
    assert rejudged is not None
    # No value of the old judge is paired with the new judge's.
    assert not any("judge:correctness" in case.metrics for case in rejudged.cases.values())
    correctness = next(m for m in results.verdicts[0].metrics if m.metric == "judge:correctness")
    assert correctness.n_paired == 0
    note = results.rejudged[SUITE]
    assert "repeat=3" in note and "left out, not re-judged" in note, note
    assert note.endswith("0 value(s) of judge:correctness"), note
    assert "left out, not re-judged" in out
