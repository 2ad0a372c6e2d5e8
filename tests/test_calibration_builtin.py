"""Calibration with the built-in rubric pack: a run judged with `llmgate:faithfulness` and a
local `correctness` rubric gets labels for both from a CSV, `llmgate calibrate` and the gated
session's calibration table show both, and no `--rubrics-dir` names the pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rag_project import judge_args, write_project

from pytest_llmgate.calibration.labels import load_labels
from pytest_llmgate.cli import main

CORRECTNESS = 'name: correctness\nversion: "1"\nkind: pointwise\nscale: {min: 1, max: 5}\ncriteria: Same facts.\n'
BODY = """

@pytest.mark.golden("datasets/rag.jsonl")
def test_rag(case, llm_gate):
    llm_gate.output({"answer": answer_for(case)})
    llm_gate.judge("llmgate:faithfulness", context=chunks_for(case))
    llm_gate.judge("correctness")
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_project(pytester, BODY)
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    result = pytester.runpytest(*judge_args("offline"), "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    monkeypatch.chdir(pytester.path)
    return pytester.path


def _csv(rubric: str, label: str) -> str:
    rows = [f"r-{i},{label},ann,{rubric}" for i in range(8)]
    return "case_id,label,labeler,rubric\n" + "\n".join(rows) + "\n"


def test_labels_of_a_built_in_and_a_local_rubric_calibrate_without_rubrics_dir(
    project: Path, pytester: pytest.Pytester
) -> None:
    runner = CliRunner()
    (project / "good.csv").write_text(
        _csv("faithfulness", "5") + _csv("correctness", "4").split("\n", 1)[1], encoding="utf-8"
    )
    imported = runner.invoke(main, ["labels", "import", "good.csv", "--results", "reports/llm-gate.json"])
    assert imported.exit_code == 0, imported.output
    assert "appended 8 label(s) to datasets/labels/faithfulness.jsonl" in imported.output
    assert "appended 8 label(s) to datasets/labels/correctness.jsonl" in imported.output
    assert {label.rubric for label in load_labels("datasets/labels/faithfulness.jsonl")} == {"faithfulness"}

    calibrated = runner.invoke(main, ["calibrate", "reports/llm-gate.json"])
    assert calibrated.exit_code == 0, calibrated.output
    table = calibrated.output
    for name in ("faithfulness", "correctness"):
        row = next(line for line in table.splitlines() if f" {name} " in f" {line} ")
        assert " 8 " in row, table  # 8 labels applied, none stale

    validated = runner.invoke(main, ["validate"])
    assert validated.exit_code == 0, validated.output

    session = pytester.runpytest(*judge_args("offline"))
    assert session.ret == 0, session.stdout.str()
    text = session.stdout.str()
    assert "calibration: judge vs human labels" in text
    rows = text.split("calibration: judge vs human labels", 1)[1]
    assert "faithfulness" in rows and "correctness" in rows


@pytest.mark.parametrize("written", ["faithfulness", "llmgate:faithfulness"])
def test_a_label_may_name_the_built_in_rubric_with_or_without_its_prefix(
    project: Path, pytester: pytest.Pytester, written: str
) -> None:
    results = json.loads((project / "reports/llm-gate.json").read_text(encoding="utf-8"))
    case = results["suites"]["test_rag.py::test_rag"]["cases"]["r-1"]
    verdict = next(v for v in case["judge"] if v["rubric"] == "faithfulness")
    line = {
        "suite": "test_rag.py::test_rag",
        "case_id": "r-1",
        "rubric": written,
        "label": 5,
        "labeler": "ann",
        "output_hash": verdict["output_hash"],
    }
    (project / "datasets/labels").mkdir(parents=True)
    (project / "datasets/labels/faithfulness.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    validated = CliRunner().invoke(main, ["validate"])
    assert validated.exit_code == 0, validated.output
    session = pytester.runpytest(*judge_args("offline"))
    assert session.ret == 0, session.stdout.str()
    assert [label.rubric for label in load_labels("datasets/labels/faithfulness.jsonl")] == ["faithfulness"]
    calibrated = CliRunner().invoke(main, ["calibrate", "reports/llm-gate.json"])
    row = next(line for line in calibrated.output.splitlines() if " faithfulness " in f" {line} ")
    assert " 1 " in row, calibrated.output


def test_a_label_of_an_unknown_rubric_names_local_and_built_in_rubrics(project: Path) -> None:
    (project / "datasets/labels").mkdir(parents=True)
    line = {"suite": "s", "case_id": "r-1", "rubric": "faithfulnes", "label": 5, "labeler": "a", "output_hash": "x"}
    (project / "datasets/labels/faithfulnes.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    validated = CliRunner().invoke(main, ["validate"])
    assert validated.exit_code == 4
    assert "faithfulnes.jsonl:1: field 'rubric': unknown rubric 'faithfulnes'" in validated.output
    assert "did you mean 'faithfulness'?" in validated.output
