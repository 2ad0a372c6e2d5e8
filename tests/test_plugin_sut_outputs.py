"""Outputs from elsewhere: `--llm-gate-save-outputs` writes a run's outputs, `--llm-gate-outputs`
feeds them back without calling the SUT and gives the same verdict; a missing case or a bad
line is a clear error before any test runs."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeProvider
from sut_project import N_CASES, make_sut_project
from test_plugin_sut import comparable

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


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("repeat", [None, "3"], ids=["one-run", "repeat-3"])
def test_saved_outputs_regate_to_the_same_verdict_without_calling_the_sut(
    project: pytest.Pytester,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    repeat: str | None,
) -> None:
    if repeat:
        monkeypatch.setenv("SUT_REPEAT", repeat)
        monkeypatch.setenv("SUT_FLAKY", "0.5")
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    monkeypatch.setenv("GATE_MODE", "worse")
    live = project.runpytest(*GATE, "--llm-gate-save-outputs", "outputs.jsonl")
    assert live.ret == pytest.ExitCode.TESTS_FAILED
    live.stdout.fnmatch_lines(["wrote outputs.jsonl"])
    expected = _results(project)
    text = (project.path / "outputs.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == N_CASES and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert all(r["suite"] == SUITE for r in rows)
    assert all(("outputs" in r) == bool(repeat) for r in rows)
    assert text == "".join(
        json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows
    )

    calls = fake_provider.request_count
    monkeypatch.setenv("SUT_RAISE", "all")  # the SUT would now fail every case, if it were called
    replay = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    assert fake_provider.request_count == calls
    assert replay.ret == pytest.ExitCode.TESTS_FAILED
    replayed = _results(project)
    assert comparable(replayed) == comparable(expected)
    if repeat:
        assert replayed.suites[SUITE].repeat_stats == expected.suites[SUITE].repeat_stats
    assert replayed.settings["outputs"] == "outputs.jsonl"


def test_an_outputs_file_without_suites_and_a_list_of_runs(project: pytest.Pytester) -> None:
    lines = [
        json.dumps({"id": f"q-{i}", "outputs": [{"answer": f"Crate {i} holds apples."}] * 2}) for i in range(N_CASES)
    ]
    (project.path / "from-ray.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-update", "--llm-gate-outputs", "from-ray.jsonl")
    assert result.ret == 0, result.stdout.str()
    suite = _results(project).suites[SUITE]
    assert suite.repeat == 2 and suite.cases["q-3"].repeats[1].output == {"answer": "Crate 3 holds apples."}


def test_a_case_missing_from_the_outputs_file_is_named_before_tests_run(project: pytest.Pytester) -> None:
    lines = [json.dumps({"id": f"q-{i}", "output": {"answer": "x"}}) for i in range(N_CASES) if i != 12]
    (project.path / "outputs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--llm-gate-outputs *outputs.jsonl: no output for case 'q-12' of test_qa.py::test_qa.*"]
    )
    result.stdout.fnmatch_lines(["*not gated, no file written*"])
    result.stdout.no_fnmatch_line("*passed*")
    assert not (project.path / "reports").exists() and not (project.path / "baselines").exists()
    deselected = project.runpytest(*GATE, "--llm-gate-update", "--llm-gate-outputs", "outputs.jsonl", "-k", "not q-12")
    assert deselected.ret == 0, deselected.stdout.str()


def test_a_wrong_number_of_runs_is_named(project: pytest.Pytester) -> None:
    lines = [json.dumps({"id": f"q-{i}", "output": {"answer": "x"}}) for i in range(N_CASES) if i != 5]
    lines.append(json.dumps({"id": "q-5", "outputs": [{"answer": "x"}, {"answer": "y"}]}))
    (project.path / "outputs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*case 'q-0' of test_qa.py::test_qa has 1 output(s), the suite runs each case 2 time(s)*"]
    )


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "q-0", "output": ', "*outputs.jsonl:2: not valid JSON*"),
        ('{"output": 1}', "*outputs.jsonl:2: field 'id' must be a non-empty string (got None).*"),
        ('{"id": "q-0", "output": 1, "outputs": [1]}', "*outputs.jsonl:2: give exactly one of 'output'*"),
        (
            '{"id": "q-0", "answer": 1}',
            "*outputs.jsonl:2: unknown field(s) [[]'answer'[]]; use id, suite, output or outputs.",
        ),
    ],
)
def test_a_bad_outputs_file_names_file_and_line(project: pytest.Pytester, line: str, message: str) -> None:
    (project.path / "outputs.jsonl").write_text('{"id": "q-1", "output": 1}\n' + line + "\n", encoding="utf-8")
    result = project.runpytest(*GATE, "--llm-gate-outputs", "outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_missing_outputs_file_says_how_to_make_one(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE, "--llm-gate-outputs", "nope.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nope.jsonl: no such outputs file; write one with --llm-gate-save-outputs*"])


def test_with_xdist_a_missing_case_errors_only_its_item_naming_it(project: pytest.Pytester) -> None:
    lines = [json.dumps({"id": f"q-{i}", "output": {"answer": "x"}}) for i in range(N_CASES) if i != 12]
    (project.path / "outputs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = project.runpytest_subprocess(*GATE, "--llm-gate-outputs", "outputs.jsonl", "-n", "2")
    result.assert_outcomes(errors=1, passed=N_CASES - 2)  # q-7 is a check failure, counted apart
    result.stdout.fnmatch_lines(
        ["*--llm-gate-outputs *outputs.jsonl: no output for case 'q-12' of test_qa.py::test_qa.*"]
    )
