"""`llmgate validate`: every input file checked with the gate's own messages, nothing run, exit 4 on a problem."""

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
    make_project(pytester, 10)
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    return pytester


def _validate(project: pytest.Pytester) -> subprocess.CompletedProcess[str]:
    before = sorted(p.relative_to(project.path) for p in project.path.rglob("*"))
    result = subprocess.run(
        [sys.executable, "-c", "from pytest_llmgate.cli import main; main()", "validate"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    after = sorted(p.relative_to(project.path) for p in project.path.rglob("*") if "__pycache__" not in p.parts)
    assert after == [p for p in before if "__pycache__" not in p.parts], "validate writes nothing"
    return result


def test_a_valid_project_passes(project: pytest.Pytester) -> None:
    result = _validate(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == (
        "llmgate validate: no problem in 1 golden set(s) (10 cases), 1 rubric(s), 0 labels file(s), 1 baseline(s)."
    )


def test_every_problem_is_listed_with_file_line_and_field(project: pytest.Pytester) -> None:
    (project.path / "datasets/qa.jsonl").write_text('{"id": "a"}\n', encoding="utf-8")
    (project.path / "rubrics/tone.yaml").write_text("name: tone\nversion: 1\nkind: pass_fail\ncritera: x\n")
    labels = project.path / "datasets/labels"
    labels.mkdir()
    label = {
        "suite": "s",
        "case_id": "a",
        "rubric": "correctness",
        "label": "pass",
        "labeler": "l",
        "output_hash": "0" * 64,
    }
    (labels / "correctness.jsonl").write_text(json.dumps(label) + "\n", encoding="utf-8")
    result = _validate(project)
    assert result.returncode == 4
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert errors == [
        "ERROR: rubrics/tone.yaml:4: field 'critera': unknown key; did you mean 'criteria'?",
        "ERROR: datasets/labels/correctness.jsonl:1: field 'label': 'pass' is not on the scale of rubric "
        "'correctness' (1, 2, 3, 4, 5); fix the label.",
        "ERROR: datasets/qa.jsonl:1: field 'input': required field is missing.",
    ], result.stderr


def test_a_broken_baseline_is_a_problem(project: pytest.Pytester) -> None:
    path = project.path / "baselines/test_qa/test_qa.json"
    path.write_text(path.read_text()[:-10], encoding="utf-8")
    result = _validate(project)
    assert result.returncode == 4
    assert "ERROR: " in result.stderr and "test_qa.json: not valid JSON" in result.stderr


def test_a_test_module_that_does_not_import_is_a_problem(project: pytest.Pytester) -> None:
    project.makepyfile(test_other="import no_such_module_here\n")
    result = _validate(project)
    assert result.returncode == 4
    assert "collecting the tests failed" in result.stdout
