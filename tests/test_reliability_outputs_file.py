"""Outputs files a user gets wrong, or points at from elsewhere: a case given twice is an error
naming both lines (a file concatenated twice must not pass as repeats), lines that feed no case
and suites the file cannot feed (SUT called in the body) are said in the summary, a `null`
output fails its case with a message, and a file outside the project, given space-separated,
leaves pytest's rootdir where the project is."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeProvider
from sut_project import N_CASES, make_sut_project

from pytest_llmgate.gate.records import RunResults

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
SUITE = "test_qa.py::test_qa"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider) -> pytest.Pytester:
    for name in ("GATE_MODE", "SUT_FLAKY", "SUT_RAISE", "SUT_SLOW", "SUT_REPEAT", "SUT_UNIQUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUT_STYLE", "sync")
    monkeypatch.setenv("FAKE_SUT_URL", fake_provider.url)
    make_sut_project(pytester)
    return pytester


def _lines(extra: list[dict[str, object]] | None = None, skip: tuple[int, ...] = ()) -> str:
    rows = [{"id": f"q-{i}", "output": {"answer": f"Crate {i} holds {i * 3 + 7} apples."}} for i in range(N_CASES)]
    rows = [row for i, row in enumerate(rows) if i not in skip] + (extra or [])
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_a_file_concatenated_twice_is_an_error_naming_both_lines(project: pytest.Pytester) -> None:
    text = _lines()
    (project.path / "outputs.jsonl").write_text(text + text, encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*outputs.jsonl:{N_CASES + 1}: case 'q-0' already has a line (*outputs.jsonl:1); "
            "give one line per case, with its runs as one 'outputs' list."
        ]
    )
    assert not (project.path / "reports").exists()


def test_lines_that_feed_no_case_are_said_in_the_summary(project: pytest.Pytester) -> None:
    extra = [{"id": "q-99", "output": {"answer": "?"}}, {"suite": "test_other.py::test_x", "id": "q-1", "output": 1}]
    (project.path / "outputs.jsonl").write_text(_lines(extra), encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-update", "--llm-gate-outputs", "outputs.jsonl")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"--llm-gate-outputs *outputs.jsonl: 2 line(s) name no case of the collected suites and were not used: "
            f"line {N_CASES + 1} ('q-99'), line {N_CASES + 2} ('q-1' of 'test_other.py::test_x'). "
            "Check the ids (and 'suite'), or remove the lines."
        ]
    )


def test_a_null_output_fails_its_case_with_a_message(project: pytest.Pytester) -> None:
    text = _lines([{"id": "q-4", "output": None}], skip=(4,))
    (project.path / "outputs.jsonl").write_text(text, encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    result.assert_outcomes(failed=1, passed=N_CASES - 2)  # q-7 is a check failure, counted apart
    out = result.stdout.str()
    assert f"outputs.jsonl:{N_CASES}: the output of case 'q-4' is null" in out
    assert "TypeError" not in out and "NoneType" not in out
    results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    case = results.suites[SUITE].cases["q-4"]
    assert not case.passed and "the output of case 'q-4' is null" in (case.failure or "")


def test_a_suite_that_calls_its_sut_in_the_body_is_named(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider
) -> None:
    monkeypatch.setenv("SUT_STYLE", "inbody")
    (project.path / "outputs.jsonl").write_text(_lines(), encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    out = result.stdout.str()
    assert (
        f"{SUITE} calls its SUT in the test body, so the file cannot feed it: its cases called the SUT live."
    ) in out, out
    assert fake_provider.request_count >= N_CASES  # the body did call it: said, not hidden


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "n2"])
def test_an_outputs_file_outside_the_project_keeps_the_rootdir(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory, workers: str | None
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "outputs.jsonl"
    elsewhere.write_text(_lines(), encoding="utf-8")
    args = [*GATE, "--llm-gate-update", "--llm-gate-outputs", str(elsewhere)]
    result = project.runpytest_subprocess(*args, *(["-n", workers] if workers else []))
    out = result.stdout.str()
    assert f"rootdir: {project.path}" in out, out
    assert result.ret == 0, out
    assert (project.path / "baselines/test_qa/test_qa.json").is_file()
    assert not (elsewhere.parent / "reports").exists()


def test_a_relative_outputs_path_is_read_from_where_pytest_runs(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = project.path / "sub"
    sub.mkdir()
    (project.path / "outputs.jsonl").write_text(_lines(), encoding="utf-8")
    monkeypatch.chdir(sub)
    result = project.runpytest(*GATE, "--llm-gate-update", "--llm-gate-outputs", "../outputs.jsonl", str(project.path))
    assert f"rootdir: {project.path}" in result.stdout.str()
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    saved = project.runpytest(*GATE, "--llm-gate-save-outputs", "saved.jsonl", str(project.path))
    assert saved.ret == 0
    assert (sub / "saved.jsonl").is_file() and not (project.path / "saved.jsonl").exists()


def test_an_ini_that_pytest_needed_before_plugins_is_a_usage_error(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "outputs.jsonl"
    elsewhere.write_text(_lines(), encoding="utf-8")
    result = project.runpytest_subprocess(*GATE, "--llm-gate-outputs", str(elsewhere))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*was taken for a test path*addopts were not applied*--option={elsewhere}*"])
    equals = project.runpytest_subprocess(*GATE, f"--llm-gate-outputs={elsewhere}", "--llm-gate-update")
    assert equals.ret == 0, equals.stdout.str()


def test_option_values_are_found_only_when_space_separated() -> None:
    from pytest_llmgate._rootdir import option_values

    class Namespace:
        llm_gate_outputs = "/abs/outputs.jsonl"
        llm_gate_no_progress = True

    args = ["--llm-gate", "--llm-gate-no-progress", "tests", "--llm-gate-outputs", "/abs/outputs.jsonl", "x"]
    assert option_values(args, Namespace()) == ["/abs/outputs.jsonl"]
    assert option_values(["--llm-gate-outputs=/abs/outputs.jsonl"], Namespace()) == []
