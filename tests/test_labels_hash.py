"""A label's `output_hash` is the output's sha256 hex digest, bare (as the tools write it) or
prefixed `sha256:`; a shortened or malformed one is an error naming file and line, never a
label silently counted as stale. The README's example line reads back through the loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from gate_project import make_project

from pytest_llmgate.calibration.labels import check_label_values, load_labels
from pytest_llmgate.cli import main

README = Path(__file__).parent.parent / "README.md"
RUBRIC = 'name: correctness\nversion: "1"\nkind: pointwise\nscale: {min: 1, max: 5}\ncriteria: Same facts.\n'
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


def test_the_readme_example_label_reads_back(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("### The labels file", 1)[1]
    example = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert example is not None
    path = tmp_path / "correctness.jsonl"
    path.write_text(example.group(1) + "\n", encoding="utf-8")
    assert check_label_values(path, {"correctness": [1, 2, 3, 4, 5]}) == []
    (label,) = load_labels(path)
    assert re.fullmatch(r"[0-9a-f]{64}", label.output_hash)


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
    monkeypatch.chdir(pytester.path)
    return pytester.path


def _write_labels(project: Path, hashes: list[str]) -> None:
    lines = [
        json.dumps(
            {
                "suite": "test_qa.py::test_qa",
                "case_id": f"q-{i}",
                "rubric": "correctness",
                "label": 4,
                "labeler": "ann",
                "output_hash": value,
            }
        )
        for i, value in enumerate(hashes)
    ]
    (project / "datasets/labels").mkdir(parents=True, exist_ok=True)
    (project / "datasets/labels/correctness.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _hash_of(project: Path, case_id: str) -> str:
    results = json.loads((project / "reports/llm-gate.json").read_text(encoding="utf-8"))
    return str(results["suites"]["test_qa.py::test_qa"]["cases"][case_id]["judge"][0]["output_hash"])


def test_both_forms_of_the_hash_apply_to_the_output(project: Path, pytester: pytest.Pytester) -> None:
    _write_labels(project, [_hash_of(project, "q-0"), "sha256:" + _hash_of(project, "q-1")])
    session = pytester.runpytest(*GATE)
    assert session.ret == 0, session.stdout.str()
    calibrated = CliRunner().invoke(main, ["calibrate", "reports/llm-gate.json"])
    assert calibrated.exit_code == 0, calibrated.output
    row = next(line for line in calibrated.output.splitlines() if " correctness " in f" {line} ")
    assert " 2 " in row and "stale" not in calibrated.output, calibrated.output


@pytest.mark.parametrize("value", ["sha256:9f2c...", "9f2c..."])
def test_a_shortened_hash_stops_the_session_with_file_and_line(
    project: Path, pytester: pytest.Pytester, value: str
) -> None:
    _write_labels(project, [_hash_of(project, "q-0"), value])
    session = pytester.runpytest(*GATE)
    assert session.ret == pytest.ExitCode.USAGE_ERROR
    out = session.stdout.str() + session.stderr.str()
    assert "datasets/labels/correctness.jsonl:2: field 'output_hash'" in out, out
    assert "64 hex digits" in out
    validated = CliRunner().invoke(main, ["validate"])
    assert validated.exit_code == 4
    assert "correctness.jsonl:2: field 'output_hash'" in validated.output
