"""The judge inside real gated sessions: the real openai SDK talks to the fake provider on
127.0.0.1; verdicts land in the results, reruns are served from the cache, position bias is
reported, replay and judge errors fail the gate, xdist workers share the cache."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeConfig, FakeProvider

from pytest_llmgate.gate.records import RunResults

N_CASES = 24
TEST_FILE = """
import os

import pytest

MODE = os.environ.get("GATE_MODE", "good")


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    number = int(case.id.split("-")[1])
    answer = case.reference
    if MODE == "worse" and number % 2 == 0:
        answer = "I am not sure, please contact support about " + case.input
    llm_gate.output({"answer": answer})
    llm_gate.judge("correctness")
    llm_gate.judge("preference", against="baseline")
"""
CORRECTNESS = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: |
  5 when the answer states the same facts as the reference, 1 when it contradicts or misses them.
"""
PREFERENCE = """name: preference
version: "1"
kind: pairwise
criteria: |
  Prefer the answer that gives the customer the correct, complete information.
"""
JUDGE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--llm-gate-judge", "openai:gpt-test")


@pytest.fixture
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider: FakeProvider,
) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    return make_project(pytester)


def make_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """N_CASES apple-crate questions, the correctness and preference rubrics, TEST_FILE."""
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps(
            {
                "id": f"j-{i}",
                "input": f"How many apples are in crate {i}?",
                "reference": f"Crate {i} holds {i * 3 + 7} green apples, packed on Monday.",
            }
        )
        for i in range(N_CASES)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    (pytester.path / "rubrics/preference.yaml").write_text(PREFERENCE, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def test_verdicts_are_recorded_and_a_rerun_makes_no_calls(
    project: pytest.Pytester, fake_provider: FakeProvider
) -> None:
    update = project.runpytest(*JUDGE, "--llm-gate-update")
    assert update.ret == 0, update.stdout.str()
    calls = fake_provider.request_count
    assert calls == N_CASES  # one pointwise call per case; pairwise against itself needs none
    results = _results(project)
    assert results.judge_provider == "openai:gpt-test"
    case = results.suites["test_qa.py::test_qa"].cases["j-3"]
    verdict = next(v for v in case.judge if v.rubric == "correctness")
    assert verdict.error is None and verdict.value == case.metrics["judge:correctness"]
    assert verdict.provider == "openai:gpt-test" and verdict.calls[0].cached is False
    baseline = json.loads((project.path / "baselines/test_qa/test_qa.json").read_text())
    assert baseline["fingerprints"]["judge"] == "openai:gpt-test"
    assert baseline["fingerprints"]["rubric:correctness"].startswith("sha256:")
    assert {c["metrics"]["judge:preference"] for c in baseline["cases"].values()} == {0.5}

    rerun = project.runpytest(*JUDGE)
    assert rerun.ret == 0, rerun.stdout.str()
    assert fake_provider.request_count == calls, "unchanged outputs must be served from the cache"
    assert _results(project).judge_stats["correctness"].cache_hits == N_CASES
    key = "sk-test-DUMMY-OPENAI-KEY"
    for path in (
        list(project.path.rglob("*.json"))
        + list(project.path.rglob("*.sqlite*"))
        + list(project.path.rglob("*.html"))
        + list(project.path.rglob("*.md"))
    ):
        assert key.encode() not in path.read_bytes(), path


def test_position_bias_becomes_ties_and_is_reported(
    project: pytest.Pytester,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert project.runpytest(*JUDGE, "--llm-gate-update").ret == 0
    fake_provider.reset(FakeConfig(position_bias=1.0))  # always answers "A", whatever the content
    monkeypatch.setenv("GATE_MODE", "worse")
    result = project.runpytest(*JUDGE, "--llm-gate-no-cache")
    stats = _results(project).judge_stats["preference"]
    changed = N_CASES // 2  # only changed outputs are judged; identical ones are ties without a call
    assert stats.swapped_pairs == changed and stats.consistent_pairs == 0
    assert stats.first_position_rate == 1.0
    verdicts = [
        v
        for c in _results(project).suites["test_qa.py::test_qa"].cases.values()
        for v in c.judge
        if v.rubric == "preference" and v.calls
    ]
    assert len(verdicts) == changed and all(v.value == 0.5 and v.consistent is False for v in verdicts)
    result.stdout.fnmatch_lines(["*preference*0/12 (0%)*1.00*"])


def test_replay_mode_fails_listing_what_is_not_cached(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    result = project.runpytest(*JUDGE, "--llm-gate-replay")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert fake_provider.request_count == 0
    result.stdout.fnmatch_lines(
        ["*replay: 24 judge call(s) are not in the cache: test_qa.py::test_qa::j-0 (correctness)*"]
    )


def test_judge_errors_are_counted_not_scored_and_fail_the_gate(
    project: pytest.Pytester, fake_provider: FakeProvider
) -> None:
    assert project.runpytest(*JUDGE, "--llm-gate-update").ret == 0
    fake_provider.reset(FakeConfig(rate_malformed=1.0))
    gated = project.runpytest(*JUDGE, "--llm-gate-no-cache")
    results = _results(project)
    case = results.suites["test_qa.py::test_qa"].cases["j-1"]
    assert "judge:correctness" not in case.metrics  # an error is never a score of 0
    assert next(v for v in case.judge if v.rubric == "correctness").error
    assert results.judge_stats["correctness"].errors == N_CASES
    gated.stdout.fnmatch_lines(
        ["*judge errors for rubric 'correctness': 24 of 24 verdicts (100%) exceed the limit of 5%*"]
    )
    assert gated.ret == pytest.ExitCode.TESTS_FAILED


def test_xdist_workers_share_the_cache_and_agree_with_serial(
    project: pytest.Pytester,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert project.runpytest(*JUDGE, "--llm-gate-update").ret == 0
    monkeypatch.setenv("GATE_MODE", "worse")
    parallel = project.runpytest_subprocess(*JUDGE, "-n", "2")
    first = fake_provider.request_count
    parallel_results = _results(project)
    again = project.runpytest_subprocess(*JUDGE, "-n", "2")
    assert fake_provider.request_count == first, "the second -n 2 run is served from the shared cache"
    serial = project.runpytest(*JUDGE)
    serial_results = _results(project)
    assert parallel.ret == again.ret == serial.ret
    assert parallel_results.verdicts == serial_results.verdicts
    assert parallel_results.gate == serial_results.gate


def test_unknown_judge_spec_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--llm-gate", "--llm-gate-judge", "gemini:pro")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-gate-judge: judge must be 'offline', 'anthropic:<model>'*(got 'gemini:pro')*"])
