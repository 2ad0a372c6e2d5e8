"""`llmgate labels import FILE.csv`: spreadsheet rows become label lines on the judged outputs
of a results file; one row matching no judged output and nothing is appended."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from gate_project import make_project

from pytest_llmgate.calibration.labels import load_labels
from pytest_llmgate.cli import main
from pytest_llmgate.gate.records import RunResults

RUBRIC = 'name: correctness\nversion: "1"\nkind: pointwise\nscale: {min: 1, max: 5}\ncriteria: Same facts.\n'
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester, 8)
    source = (pytester.path / "test_qa.py").read_text()
    pytester.makepyfile(
        test_qa=source.replace("llm_gate.retrieval(", 'llm_gate.judge("correctness")\n    llm_gate.retrieval(')
    )
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    return pytester.path


def _import(project: Path, csv_text: str, *extra: str) -> tuple[int, str]:
    csv_path = project / "labels.csv"
    csv_path.write_text(csv_text, encoding="utf-8")
    args = ["labels", "import", str(csv_path), "--results", str(project / "reports/llm-gate.json")]
    args += ["--labels-dir", str(project / "datasets/labels"), "--rubrics-dir", str(project / "rubrics"), *extra]
    outcome = CliRunner().invoke(main, args)
    return outcome.exit_code, outcome.output


def test_rows_become_labels_with_the_judged_output_hash(project: Path) -> None:
    code, output = _import(project, "case_id,label,labeler,rubric\nq-1,4,ann,correctness\nq-2,2,bob,correctness\n")
    assert code == 0, output
    target = project / "datasets/labels/correctness.jsonl"
    assert f"appended 2 label(s) to {target.as_posix()}" in output
    results = RunResults.model_validate_json((project / "reports/llm-gate.json").read_text(encoding="utf-8"))
    labels = {label.case_id: label for label in load_labels(target)}
    for case_id, value, labeler in (("q-1", 4, "ann"), ("q-2", 2, "bob")):
        verdict = next(v for v in results.suites["test_qa.py::test_qa"].cases[case_id].judge)
        assert labels[case_id].output_hash == verdict.output_hash
        assert (labels[case_id].label, labels[case_id].labeler, labels[case_id].suite) == (
            value,
            labeler,
            "test_qa.py::test_qa",
        )
        assert labels[case_id].stratum == "uniform"


def test_the_rubric_can_come_from_the_option(project: Path) -> None:
    code, output = _import(project, "case_id,label,labeler\nq-3,5,ann\n", "--rubric", "correctness")
    assert code == 0, output


@pytest.mark.parametrize(
    ("csv_text", "problem"),
    [
        (
            "case_id,label,labeler\nq-1,4,ann\nq-99,3,ann\n",
            "labels.csv:3: field 'case_id': no judged output of rubric 'correctness' for case 'q-99'",
        ),
        ("case_id,label,labeler\nq-1,9,ann\n", "labels.csv:2: field 'label': '9' is not on the scale of rubric"),
        ("case_id,label,labeler\nq-1,pass,ann\n", "labels.csv:2: field 'label': 'pass' is not on the scale"),
        ("case_id,label,labeler\nq-1,3,\n", "labels.csv:2: field 'labeler': empty"),
        ("case,label,labeler\nq-1,3,ann\n", "labels.csv:1: header: missing column(s) case_id"),
    ],
)
def test_a_bad_row_imports_nothing(project: Path, csv_text: str, problem: str) -> None:
    target = project / "datasets/labels/correctness.jsonl"
    _import(project, "case_id,label,labeler\nq-5,3,ann\n", "--rubric", "correctness")
    before = target.read_bytes()
    code, output = _import(project, csv_text, "--rubric", "correctness")
    assert code == 4
    assert problem in output
    assert "No label imported" in output
    assert target.read_bytes() == before
