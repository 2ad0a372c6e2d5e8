"""`--llm-gate-update` writes only from a complete, healthy run: every refusal leaves the
committed baseline byte-identical and writes no other file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_provider import FakeConfig, FakeProvider

BASELINE = "baselines/test_qa/test_qa.json"
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
TEST_FILE = """
import os

import pytest

MODE = os.environ.get("GATE_MODE", "good")


@pytest.fixture
def sut():
    if MODE == "broken-fixture":
        raise RuntimeError("the SUT could not start")
    return lambda text: "I am not sure." if MODE == "worse" else None


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate, sut):
    if MODE == "crash":
        raise ConnectionError("the SUT is down")
    llm_gate.output({"answer": sut(case.input) or case.reference})
    llm_gate.judge("correctness")
"""
CORRECTNESS = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: |
  5 when the answer states the same facts as the reference, 1 when it contradicts or misses them.
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps(
            {"id": f"q-{i}", "input": f"How many apples in crate {i}?", "reference": f"Crate {i} holds {i} apples."}
        )
        for i in range(12)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    first = pytester.runpytest(*GATE, "--llm-gate-update")
    assert first.ret == 0, first.stdout.str()
    return pytester


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file the gate writes (baselines, reports), by path, as bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for folder in ("baselines", "reports")
        for path in sorted((root / folder).rglob("*"))
        if path.is_file()
    }


def _refused(project: pytest.Pytester, before: dict[str, bytes], result: pytest.RunResult) -> str:
    assert result.ret != 0
    assert _snapshot(project.path) == before, "a refused update must write nothing"
    return result.stdout.str() + result.stderr.str()


def test_the_first_update_does_not_advise_an_update(project: pytest.Pytester) -> None:
    (project.path / BASELINE).unlink()
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0
    out = result.stdout.str()
    assert "no previous baseline: this update creates it." in out
    assert "--llm-gate-update" not in out
    data = json.loads((project.path / BASELINE).read_text(encoding="utf-8"))
    assert data["plugin_version"] and len(data["cases"]) == 12


def test_a_sut_raising_refuses_the_update(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(project.path)
    monkeypatch.setenv("GATE_MODE", "crash")
    out = _refused(project, before, project.runpytest(*GATE, "--llm-gate-update"))
    assert "baselines not updated, nothing written:" in out
    assert "12 case(s) errored outside their checks: test_qa.py::test_qa::q-0" in out
    assert "Fix the cause above, then re-run with --llm-gate-update." in out


def test_a_fixture_error_refuses_the_update(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(project.path)
    monkeypatch.setenv("GATE_MODE", "broken-fixture")
    out = _refused(project, before, project.runpytest(*GATE, "--llm-gate-update"))
    assert "12 case(s) errored outside their checks" in out


def test_a_deleted_rubric_refuses_the_update(project: pytest.Pytester) -> None:
    before = _snapshot(project.path)
    (project.path / "rubrics/correctness.yaml").unlink()
    out = _refused(project, before, project.runpytest(*GATE, "--llm-gate-update"))
    assert "errored outside their checks" in out and "unknown rubric 'correctness'" in out


def test_a_broken_rubric_stops_before_any_test(project: pytest.Pytester) -> None:
    before = _snapshot(project.path)
    (project.path / "rubrics/correctness.yaml").write_text(CORRECTNESS + "kind: [\n", encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = _refused(project, before, result)
    assert "rubrics/correctness.yaml: invalid YAML" in out
    assert "collected" not in out  # stopped at session start


def test_nothing_selected_refuses_the_update(project: pytest.Pytester) -> None:
    before = _snapshot(project.path)
    result = project.runpytest(*GATE, "--llm-gate-update", "-k", "no-such-case")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    out = _refused(project, before, result)
    assert "no case ran (all deselected or skipped)" in out


def test_judge_errors_over_the_limit_refuse_the_update(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    before = _snapshot(project.path)
    judge = ("--llm-gate-judge", "openai:gpt-test", "--llm-gate-no-cache")
    fake_provider.reset(FakeConfig(rate_malformed=1.0))
    out = _refused(project, before, project.runpytest(*GATE, *judge, "--llm-gate-update"))
    assert "judge errors for rubric 'correctness': 12 of 12 verdicts (100%) exceed the limit of 5%" in out


def test_a_healthy_update_still_rewrites(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (project.path / BASELINE).read_bytes()
    monkeypatch.setenv("GATE_MODE", "worse")
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    assert (project.path / BASELINE).read_bytes() != before


def test_an_error_on_an_xdist_worker_refuses_the_update(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(project.path)
    monkeypatch.setenv("GATE_MODE", "crash")
    out = _refused(project, before, project.runpytest_subprocess(*GATE, "--llm-gate-update", "-n", "2"))
    assert "12 case(s) errored outside their checks" in out


def test_a_judge_configuration_error_mid_run_refuses_the_update(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(project.path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = project.runpytest(*GATE, "--llm-gate-judge", "openai:gpt-test", "--llm-gate-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = _refused(project, before, result)
    assert "set OPENAI_API_KEY or use the offline judge" in out
    assert "LLM gate: not gated, no file written: the session stopped early (exit 4)." in out


def test_a_suite_with_no_case_run_keeps_its_file(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (project.path / "test_qa.py").read_text(encoding="utf-8")
    other_test = (
        '\n\n@pytest.mark.golden("datasets/qa.jsonl")\ndef test_other(case, llm_gate):\n    llm_gate.output(case.id)\n'
    )
    project.makepyfile(test_qa=source + other_test)
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    other = project.path / "baselines/test_qa/test_other.json"
    before, selected = other.read_bytes(), (project.path / BASELINE).read_bytes()
    monkeypatch.setenv("GATE_MODE", "worse")
    result = project.runpytest(*GATE, "--llm-gate-update", "-k", "test_qa")
    assert result.ret == 0, result.stdout.str()
    assert other.read_bytes() == before, "a suite none of whose cases ran is not rewritten"
    assert (project.path / BASELINE).read_bytes() != selected
