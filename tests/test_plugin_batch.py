"""`--llm-gate-batch` in real gated sessions: both SDKs against the fake provider's batch
endpoints, a rerun makes zero calls, an interrupted session's batch is collected by the next run,
and the combinations that cannot work are usage errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from fake_provider import FakeConfig, FakeProvider, subprocess_env
from test_plugin_judge import N_CASES, _results, project  # noqa: F401  (the fixture)

from pytest_llmgate.judge.batch import STATE_FILE

PROVIDERS = ["anthropic:claude-test", "openai:gpt-test"]
INI = "[pytest]\nllm_gate_batch_poll_interval = 0.01\n"


def args(provider: str) -> tuple[str, ...]:
    return ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--llm-gate-judge", provider)


def creates(fake: FakeProvider) -> list[str]:
    return [batch_id for op, batch_id in fake.batch_log if op == "create"]


def online_calls(fake: FakeProvider) -> int:
    return sum(seen.path.rstrip("/").endswith(("/v1/messages", "/chat/completions")) for seen in fake.requests)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_session_fills_the_cache_and_a_rerun_makes_no_calls(
    project: pytest.Pytester,  # noqa: F811
    fake_provider: FakeProvider,
    provider: str,
) -> None:
    project.makeini(INI)
    result = project.runpytest(*args(provider), "--llm-gate-update", "--llm-gate-batch")
    assert result.ret == 0, result.stdout.str()
    assert len(creates(fake_provider)) == 1 and online_calls(fake_provider) == 0
    title = "Anthropic Message Batches" if provider.startswith("anthropic") else "OpenAI Batch API"
    result.stdout.fnmatch_lines([f"batch: {N_CASES} judge call(s) sent as 1 batch(es) through the {title}: *"])
    results = _results(project)
    assert results.settings["batch"] is True
    stats = results.judge_stats["correctness"]
    assert stats.batched == stats.calls == N_CASES and stats.errors == 0
    case = results.suites["test_qa.py::test_qa"].cases["j-5"]
    assert case.metrics["judge:correctness"] == 1.0  # the reference itself scores the top of the scale
    assert not (project.path / ".llmgate" / STATE_FILE).read_text(encoding="utf-8").count("msgbatch_")

    fake_provider.reset()
    rerun = project.runpytest(*args(provider), "--llm-gate-batch")
    assert rerun.ret == 0, rerun.stdout.str()
    assert fake_provider.request_count == 0, "the rerun is answered by the cache"
    assert _results(project).judge_stats["correctness"].cache_hits == N_CASES


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_interrupted_session_leaves_its_batch_to_the_next_run(
    project: pytest.Pytester,  # noqa: F811
    fake_provider: FakeProvider,
    provider: str,
) -> None:
    project.makeini(INI)
    fake_provider.reset(FakeConfig(batch_hold=True))
    env = subprocess_env(fake_provider)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(project.path)) if p)
    command = [sys.executable, "-m", "pytest", *args(provider), "--llm-gate-update", "--llm-gate-batch"]
    errors = project.path / "child-stderr.txt"
    with open(errors, "wb") as stderr:
        child = subprocess.Popen(command, cwd=project.path, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        state_path = project.path / ".llmgate" / STATE_FILE
        try:
            deadline = time.monotonic() + 120
            while not (state_path.exists() and json.loads(state_path.read_text(encoding="utf-8"))["batches"]):
                assert child.poll() is None, "the session ended before its batch was recorded"
                assert time.monotonic() < deadline, "the batch id was never recorded"
                time.sleep(0.05)
            while not any(op == "retrieve" for op, _ in fake_provider.batch_log):
                time.sleep(0.05)
            child.send_signal(signal.SIGINT)  # Ctrl-C mid-poll
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=60)
    batch_id = json.loads(state_path.read_text(encoding="utf-8"))["batches"][0]["id"]
    assert creates(fake_provider) == [batch_id]
    assert f"batch: interrupted while waiting for {batch_id}" in errors.read_text(encoding="utf-8")

    fake_provider.reset(FakeConfig())
    result = project.runpytest(*args(provider), "--llm-gate-update", "--llm-gate-batch")
    assert result.ret == 0, result.stdout.str()
    assert creates(fake_provider) == [], "the next run collects the recorded batch instead of paying again"
    assert ("retrieve", batch_id) in fake_provider.batch_log
    assert online_calls(fake_provider) == 0
    result.stdout.fnmatch_lines([f"batch: collecting 1 batch(es) submitted by an earlier run: {batch_id}."])
    assert _results(project).judge_stats["correctness"].errors == 0
    assert json.loads(state_path.read_text(encoding="utf-8"))["batches"] == []


def test_malformed_batch_results_are_re_asked_online_in_a_session(
    project: pytest.Pytester,  # noqa: F811
    fake_provider: FakeProvider,
) -> None:
    project.makeini(INI)
    fake_provider.reset(FakeConfig(batch_rate_malformed=0.25, seed=3))
    result = project.runpytest(*args("openai:gpt-test"), "--llm-gate-update", "--llm-gate-batch")
    assert result.ret == 0, result.stdout.str()
    reasked = online_calls(fake_provider)
    assert 0 < reasked < N_CASES
    result.stdout.fnmatch_lines([f"batch: {reasked} call(s) came back malformed or failed from the batch*online."])
    assert _results(project).judge_stats["correctness"].errors == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--llm-gate-no-cache",), "*'--llm-gate-batch' and '--llm-gate-no-cache' cannot be combined*"),
        (("--llm-gate-replay",), "*'--llm-gate-batch' and '--llm-gate-replay' cannot be combined*"),
        (("--llm-gate-budget-tokens", "100"), "*'--llm-gate-batch' and '--llm-gate-budget-tokens' cannot be*"),
    ],
)
def test_batch_with_a_flag_it_cannot_honour_is_a_usage_error(
    project: pytest.Pytester,  # noqa: F811
    extra: tuple[str, ...],
    message: str,
) -> None:
    result = project.runpytest(*args("openai:gpt-test"), "--llm-gate-batch", *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_batch_from_the_ini_and_the_offline_judge_says_so(project: pytest.Pytester) -> None:  # noqa: F811
    project.makeini(INI + "llm_gate_batch = true\n")
    result = project.runpytest(*args("offline"), "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["batch: the offline judge makes no API calls; there is nothing to batch."])


def test_waiting_on_a_verdict_inside_a_test_is_refused_in_batch_mode(
    project: pytest.Pytester,  # noqa: F811
    fake_provider: FakeProvider,
) -> None:
    project.makeini(INI)
    project.makepyfile(
        test_qa="""
import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference})
    llm_gate.judge("correctness").result()
"""
    )
    result = project.runpytest(*args("openai:gpt-test"), "--llm-gate-batch", "-x")
    result.stdout.fnmatch_lines(["*a judge verdict cannot be waited for inside a test with --llm-gate-batch*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_xdist_workers_each_batch_their_calls_and_agree_with_an_online_run(
    project: pytest.Pytester,  # noqa: F811
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.makeini(INI)
    judge = args("openai:gpt-test")
    assert project.runpytest(*judge, "--llm-gate-update").ret == 0
    monkeypatch.setenv("GATE_MODE", "worse")
    online = project.runpytest(*judge, "--llm-gate-no-cache")
    online_results = _results(project)
    fake_provider.reset()
    shutil.rmtree(project.path / ".llmgate")  # every call of the parallel run goes into a batch
    parallel = project.runpytest_subprocess(*judge, "--llm-gate-batch", "-n", "2")
    parallel_results = _results(project)
    assert online_calls(fake_provider) == 0
    assert len(creates(fake_provider)) == 2, "each worker sends its own batch"
    assert parallel.ret == online.ret == pytest.ExitCode.TESTS_FAILED
    assert parallel_results.verdicts == online_results.verdicts
    assert parallel_results.judge_stats["preference"].batched == N_CASES  # 12 changed outputs, both orders


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_batch_counts_each_call_once_in_the_summary(
    project: pytest.Pytester,  # noqa: F811
    fake_provider: FakeProvider,
    provider: str,
) -> None:
    """The batch cannot be created: its calls go online, and the summary counts the calls made."""
    project.makeini(INI)
    fake_provider.reset(FakeConfig(batch_create_status=500))
    result = project.runpytest(*args(provider), "--llm-gate-update", "--llm-gate-batch")
    assert result.ret == 0, result.stdout.str()
    assert online_calls(fake_provider) == N_CASES and creates(fake_provider) == []
    stats = _results(project).judge_stats["correctness"]
    assert stats.calls == N_CASES and stats.batched == 0
    result.stdout.fnmatch_lines([f"*judge cost: *{N_CASES} calls*"])
    assert "came back malformed or failed from the batch" not in result.stdout.str()
