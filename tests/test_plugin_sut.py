"""The SUT called by the plugin (`sut=` on the marker, the `output` fixture), in real sessions
against the fake provider's `/sut` model: the same records and verdict as the in-body style
(serial, `-n 2`, shards + merge), failures and timeouts that fail only their item, and the
concurrency limit observed at the server."""

from __future__ import annotations

from typing import Any

import pytest
from fake_provider import FakeConfig, FakeProvider
from sut_project import N_CASES, make_sut_project

from pytest_llmgate.gate.records import RunResults

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
SUITE = "test_qa.py::test_qa"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider) -> pytest.Pytester:
    for name in ("GATE_MODE", "SUT_FLAKY", "SUT_RAISE", "SUT_SLOW", "SUT_REPEAT", "SUT_UNIQUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUT_STYLE", "inbody")
    monkeypatch.setenv("FAKE_SUT_URL", fake_provider.url)
    make_sut_project(pytester)
    return pytester


def _results(project: pytest.Pytester, name: str = "reports/llm-gate.json") -> RunResults:
    return RunResults.model_validate_json((project.path / name).read_text(encoding="utf-8"))


def comparable(results: RunResults) -> dict[str, Any]:
    """What must not depend on how the SUT was called: everything but timings and cache flags."""
    cases = {}
    for suite_id, suite in results.suites.items():
        for case_id, case in suite.cases.items():
            cases[f"{suite_id}::{case_id}"] = {
                "output": case.output,
                "passed": case.passed,
                "failure": case.failure,
                "metrics": case.metrics,
                "judge": [(v.rubric, v.value, v.label, v.error, v.output_hash) for v in case.judge],
            }
    return {
        "cases": cases,
        "metrics": {
            s: {m: spec.model_dump() for m, spec in suite.metrics.items()} for s, suite in results.suites.items()
        },
        "verdicts": [v.model_dump() for v in results.verdicts],
        "gate": results.gate.model_dump(),
    }


@pytest.mark.parametrize(
    "style, workers",
    [("sync", None), ("async", None), ("fixture", None), ("sync", "2"), ("async", "2")],
    ids=["sync-serial", "async-serial", "fixture-serial", "sync-n2", "async-n2"],
)
def test_concurrent_sut_gives_the_in_body_records_and_verdict(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, style: str, workers: str | None
) -> None:
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    monkeypatch.setenv("GATE_MODE", "worse")
    in_body = project.runpytest(*GATE)
    assert in_body.ret == pytest.ExitCode.TESTS_FAILED
    expected = _results(project)
    monkeypatch.setenv("SUT_STYLE", style)
    concurrent = project.runpytest_subprocess(*GATE, "-n", workers) if workers else project.runpytest(*GATE)
    assert concurrent.ret == pytest.ExitCode.TESTS_FAILED, concurrent.stdout.str()
    concurrent.stdout.fnmatch_lines(["LLM gate: FAIL"])
    results = _results(project)
    assert comparable(results) == comparable(expected)
    assert len(results.suites[SUITE].cases) == N_CASES
    timed = [case.sut_seconds for case in results.suites[SUITE].cases.values()]
    assert all(seconds is not None and seconds >= 0 for seconds in timed)
    assert all(case.sut_seconds is None for case in expected.suites[SUITE].cases.values())


def test_shards_of_the_concurrent_path_merge_to_the_whole_run(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from pytest_llmgate.cli import main

    monkeypatch.setenv("SUT_STYLE", "sync")
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    monkeypatch.setenv("GATE_MODE", "worse")
    assert project.runpytest(*GATE).ret == pytest.ExitCode.TESTS_FAILED
    whole = _results(project)
    shards = []
    for index in (1, 2):
        target = project.path / f"shard-{index}.json"
        shard = project.runpytest(*GATE, "--llm-gate-shard", f"{index}/2", "--llm-gate-results", str(target))
        assert shard.ret == 0
        assert len(_results(project, target.name).suites[SUITE].cases) == N_CASES // 2
        shards.append(str(target))
    merged_path = project.path / "merged.json"
    outcome = CliRunner().invoke(
        main, ["merge", *shards, "-o", str(merged_path), "--html", str(project.path / "m.html")]
    )
    assert outcome.exit_code == 1, outcome.output
    merged = RunResults.model_validate_json(merged_path.read_text(encoding="utf-8"))
    assert comparable(merged)["cases"] == comparable(whole)["cases"]
    assert merged.gate.status == whole.gate.status == "FAIL"
    assert [m.model_dump(exclude={"reason"}) for v in merged.verdicts for m in v.metrics] == [
        m.model_dump(exclude={"reason"}) for v in whole.verdicts for m in v.metrics
    ]


@pytest.mark.parametrize("style", ["sync", "async", "fixture"])
def test_a_sut_that_raises_fails_only_its_item_with_its_own_traceback(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    monkeypatch.setenv("SUT_STYLE", style)
    monkeypatch.setenv("SUT_RAISE", "q-4")
    result = project.runpytest(*GATE)
    result.assert_outcomes(failed=1, passed=N_CASES - 2)  # q-7 is a check failure, counted apart
    result.stdout.fnmatch_lines(
        [
            "*_ test_qa[[]q-4[]] _*",
            '*raise RuntimeError("planted SUT failure")',
            "E*RuntimeError: planted SUT failure",
            "*direct cause*",
            "E*SutError: the system under test raised for case 'q-4': RuntimeError: planted SUT failure",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_qa.py::test_qa[[]q-4[]]*"])
    case = _results(project).suites[SUITE].cases["q-4"]
    assert case.passed is False and case.metrics["checks_passed"] == 0.0
    assert "planted SUT failure" in (case.failure or "") and case.output is None
    assert _results(project).suites[SUITE].cases["q-5"].passed is True


@pytest.mark.parametrize("style", ["sync", "async"])
def test_a_sut_timeout_fails_only_its_item_with_the_remedy(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    monkeypatch.setenv("SUT_STYLE", style)
    monkeypatch.setenv("SUT_SLOW", "q-2")
    result = project.runpytest(*GATE, "--llm-gate-sut-timeout", "0.5")
    result.assert_outcomes(failed=1, passed=N_CASES - 2)  # q-7 is a check failure, counted apart
    result.stdout.fnmatch_lines(
        [
            "*SutError: the system under test took longer than the SUT timeout (0.5 s) for case 'q-2'. "
            "Raise --llm-gate-sut-timeout or make the SUT faster."
        ]
    )
    assert _results(project).settings["sut_timeout"] == 0.5


@pytest.mark.parametrize(
    "style, limit", [("sync", 4), ("async", 4), ("async", None)], ids=["sync-4", "async-4", "async-default"]
)
def test_the_concurrency_limit_is_reached_and_never_exceeded(
    project: pytest.Pytester,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    style: str,
    limit: int | None,
) -> None:
    from pytest_llmgate.config import DEFAULT_SUT_CONCURRENCY

    fake_provider.reset(FakeConfig(latency=0.1))
    monkeypatch.setenv("SUT_STYLE", style)
    flags = ("--llm-gate-sut-concurrency", str(limit)) if limit else ()
    result = project.runpytest(*GATE, "--llm-gate-update", *flags)
    assert result.ret == 0, result.stdout.str()
    assert fake_provider.count(200) == N_CASES
    assert fake_provider.max_in_flight == (limit or DEFAULT_SUT_CONCURRENCY)


def test_ini_sets_the_concurrency(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_provider.reset(FakeConfig(latency=0.1))
    monkeypatch.setenv("SUT_STYLE", "sync")
    project.makeini("[pytest]\nllm_gate_sut_concurrency = 3\n")
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    assert fake_provider.max_in_flight == 3
    assert _results(project).settings["sut_concurrency"] == 3


def test_deselected_cases_are_never_sent_to_the_sut(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUT_STYLE", "async")
    result = project.runpytest(*GATE, "--llm-gate-update", "-k", "q-1 or q-2]")
    assert result.ret == 0
    selected = [c for c in _results(project).suites[SUITE].cases]
    assert fake_provider.count(200) == len(selected) == 12  # q-1, q-10..q-19, q-2


def test_sut_seconds_is_gated_only_when_the_marker_names_it(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUT_STYLE", "sync")
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    assert "sut_seconds" not in _results(project).suites[SUITE].metrics
    source = (project.path / "test_qa.py").read_text(encoding="utf-8")
    project.makepyfile(
        test_qa=source.replace("sut=SUT, **MARK)", 'sut=SUT, metrics={"sut_seconds": {"tolerance": 5.0}}, **MARK)')
    )
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    results = _results(project)
    spec = results.suites[SUITE].metrics["sut_seconds"]
    assert spec.higher_is_better is False and spec.tolerance == 5.0
    case = results.suites[SUITE].cases["q-3"]
    assert case.metrics["sut_seconds"] == case.sut_seconds
    again = project.runpytest(*GATE)
    verdict = next(m for m in _results(project).verdicts[0].metrics if m.metric == "sut_seconds")
    assert verdict.status in ("pass", "underpowered") and again.ret == 0


@pytest.mark.parametrize(
    "decorator, argument, message",
    [
        ('@pytest.mark.golden("datasets/qa.jsonl", sut=42)', "case, output", "*'sut' must be a callable*(got int)*"),
        ('@pytest.mark.golden("datasets/qa.jsonl", sut=len)', "case", "*the test must take an 'output' argument*"),
        ('@pytest.mark.golden("datasets/qa.jsonl")', "case, output", "*'output' argument needs sut= on the marker*"),
        (
            '@pytest.mark.golden("datasets/qa.jsonl", sut=len, repeat=0)',
            "case, output",
            "*'repeat' must be a positive integer (got 0)*",
        ),
    ],
)
def test_bad_sut_arguments_are_collection_errors(
    project: pytest.Pytester, decorator: str, argument: str, message: str
) -> None:
    project.makepyfile(test_qa=f"import pytest\n{decorator}\ndef test_qa({argument}):\n    pass\n")
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_without_the_flag_sut_tests_are_skipped_and_the_sut_is_not_called(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUT_STYLE", "sync")
    result = project.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    assert fake_provider.request_count == 0
