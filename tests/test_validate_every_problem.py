"""`llmgate validate` and the session's start list every problem of a file, not the first one:
each bad line of a golden set (with "did you mean" for a field typo), of a labels file and each
bad key of a rubric; a `primary=` judge metric no rubric can record fails before any judge call."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gate_project import make_project

RUBRIC = 'name: correctness\nversion: "1"\nkind: pointwise\ncriteria: Same facts as the reference.\n'
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester, 6)
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    return pytester


def _errors(project: pytest.Pytester) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", "from pytest_llmgate.cli import main; main()", "validate"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    return [line.removeprefix("ERROR: ") for line in result.stderr.splitlines() if line.startswith("ERROR: ")]


def test_every_bad_line_and_key_is_listed(project: pytest.Pytester) -> None:
    good = json.dumps({"id": "q-1", "input": "question 1", "reference": "answer 1", "relevant_ids": ["doc-1"]})
    (project.path / "datasets/qa.jsonl").write_text(
        "\n".join(
            [
                good,
                '{"id": "q-2", "input": ',
                json.dumps({"id": "q-3", "input": "q", "refrence": "r"}),
                json.dumps({"id": "q-1", "input": "again"}),
                json.dumps({"id": "q-5", "input": "q", "tgas": ["a"]}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (project.path / "rubrics/tone.yaml").write_text(
        "name: tone\nversion: 1\nkind: pass_fial\ncritera: Is it polite?\nexampels: []\n", encoding="utf-8"
    )
    labels = project.path / "datasets/labels"
    labels.mkdir()
    line = {"suite": "s", "case_id": "a", "rubric": "correctness", "label": 3, "labeler": "l", "output_hash": "0" * 64}
    (labels / "correctness.jsonl").write_text(
        "\n".join([json.dumps(line), "{not json", json.dumps({**line, "label": 9}), json.dumps({"suite": "s"})]) + "\n",
        encoding="utf-8",
    )
    errors = _errors(project)
    for expected in (
        "datasets/qa.jsonl:2: invalid JSON",
        "datasets/qa.jsonl:3: field 'refrence': unknown field; did you mean 'reference'?",
        "datasets/qa.jsonl:4: field 'id': duplicate id 'q-1' (also on line 1)",
        "datasets/qa.jsonl:5: field 'tgas': unknown field; did you mean 'tags'?",
        "rubrics/tone.yaml:3: field 'kind':",
        "rubrics/tone.yaml:4: field 'critera': unknown key; did you mean 'criteria'?",
        "rubrics/tone.yaml:5: field 'exampels': unknown key; did you mean 'examples'?",
        "datasets/labels/correctness.jsonl:2: invalid JSON",
        "datasets/labels/correctness.jsonl:3: field 'label': 9 is not on the scale",
        "datasets/labels/correctness.jsonl:4: field 'case_id': Field required",
    ):
        assert sum(error.startswith(expected) for error in errors) == 1, (expected, errors)
    assert not any("'criteria': Field required" in error for error in errors)  # the typo is the cause


def test_a_primary_judge_metric_without_its_rubric_stops_before_any_judge_call(
    project: pytest.Pytester,
) -> None:
    source = (project.path / "test_qa.py").read_text(encoding="utf-8")
    source = source.replace(
        '@pytest.mark.golden("datasets/qa.jsonl")',
        '@pytest.mark.golden("datasets/qa.jsonl", primary=["checks_passed", "judge:corectness"])',
    ).replace("llm_gate.retrieval(", 'llm_gate.judge("correctness")\n    llm_gate.retrieval(')
    project.makepyfile(test_qa=source)
    errors = _errors(project)
    assert len(errors) == 1, errors
    assert errors[0].startswith("test_qa.py:8: @pytest.mark.golden 'primary' names 'judge:corectness'")
    assert errors[0].endswith("did you mean 'judge:correctness'?")

    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "'primary' names 'judge:corectness'" in out and "passed" not in out
    assert not (project.path / "reports").exists() and not (project.path / ".llmgate").exists()


def test_a_built_in_rubric_s_metric_may_be_primary(project: pytest.Pytester) -> None:
    source = (project.path / "test_qa.py").read_text(encoding="utf-8")
    project.makepyfile(
        test_qa=source.replace(
            '@pytest.mark.golden("datasets/qa.jsonl")',
            '@pytest.mark.golden("datasets/qa.jsonl", primary=["judge:answer-relevancy", "judge:correctness"])',
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", "from pytest_llmgate.cli import main; main()", "validate"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
