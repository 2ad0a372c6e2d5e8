"""Judge timeouts, retries, the deadline and the xdist concurrency split in real gated
sessions: the real openai SDK talks to the fake provider on 127.0.0.1, which hangs on purpose."""

from __future__ import annotations

import pytest
from fake_provider import FakeConfig, FakeProvider
from test_plugin_judge import JUDGE, N_CASES, _results
from test_plugin_judge import project as project  # the fixture

from pytest_llmgate.config import worker_concurrency


def _errors(project: pytest.Pytester, rubric: str = "correctness") -> list[str]:
    cases = _results(project).suites["test_qa.py::test_qa"].cases.values()
    return [v.error or "" for c in cases for v in c.judge if v.rubric == rubric]


def test_timeout_and_retries_flags_bound_a_hanging_judge(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(rate_hang=1.0))
    result = project.runpytest(*JUDGE, "--llm-gate-judge-timeout", "0.3", "--llm-gate-judge-retries", "0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    errors = _errors(project)
    assert errors == ["judge request timed out; gave up after 1 attempts"] * N_CASES
    results = _results(project)
    assert all("judge:correctness" not in c.metrics for c in results.suites["test_qa.py::test_qa"].cases.values())
    assert results.judge_stats["correctness"].errors == N_CASES
    assert results.settings["judge_timeout"] == 0.3 and results.settings["judge_retries"] == 0
    result.stdout.fnmatch_lines(["*judge errors for rubric 'correctness': 24 of 24 verdicts (100%)*"])


def test_ini_keys_set_timeout_and_retries(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    project.makeini("[pytest]\nllm_gate_judge_timeout = 0.3\nllm_gate_judge_retries = 1\n")
    fake_provider.reset(FakeConfig(rate_hang=1.0))
    project.runpytest(*JUDGE)
    assert _errors(project) == ["judge request timed out; gave up after 2 attempts"] * N_CASES
    assert _results(project).settings["judge_deadline"] is None


def test_deadline_stops_a_hanging_run_and_counts_what_is_left(
    project: pytest.Pytester, fake_provider: FakeProvider
) -> None:
    fake_provider.reset(FakeConfig(rate_hang=1.0))
    # With the default 60 s timeout and 4 retries this session would hang for minutes.
    result = project.runpytest(*JUDGE, "--llm-gate-judge-deadline", "1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    errors = _errors(project)
    assert len(errors) == N_CASES and all("judge deadline reached while" in e for e in errors), errors
    result.stdout.fnmatch_lines(
        ["*the judge deadline (1 s) was reached: 24 judge call(s) were left unjudged and counted as judge errors*"]
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--llm-gate-judge-timeout", "0", "'--llm-gate-judge-timeout' must be a positive number of seconds (got '0')."),
        ("--llm-gate-judge-retries", "-1", "'--llm-gate-judge-retries' must be a non-negative integer (got '-1')."),
        (
            "--llm-gate-judge-deadline",
            "soon",
            "'--llm-gate-judge-deadline' must be a positive number of seconds (got 'soon').",
        ),
    ],
)
def test_bad_limits_are_usage_errors(
    project: pytest.Pytester, fake_provider: FakeProvider, flag: str, value: str, message: str
) -> None:
    result = project.runpytest(*JUDGE, flag, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert fake_provider.request_count == 0


def test_a_bad_ini_limit_names_the_ini_key(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nllm_gate_judge_retries = many\n")
    result = project.runpytest(*JUDGE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'llm_gate_judge_retries' must be a non-negative integer (got 'many')." in result.stderr.str()


def test_concurrency_is_split_between_xdist_workers(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(latency=0.4))
    result = project.runpytest_subprocess(*JUDGE, "-n", "2", "--llm-gate-concurrency", "4")
    assert fake_provider.request_count == N_CASES, result.stdout.str()
    # Each worker keeps 2 in flight; both judged at once, and together never above 4.
    assert 2 < fake_provider.max_in_flight <= 4


@pytest.mark.parametrize(("total", "count"), [(16, 2), (5, 2), (4, 3), (7, 7), (100, 6)])
def test_worker_shares_add_up_to_the_limit(total: int, count: int) -> None:
    shares = [worker_concurrency(total, {"workerid": f"gw{i}", "workercount": count}) for i in range(count)]
    assert sum(shares) == total and max(shares) - min(shares) <= 1


def test_every_worker_keeps_one_slot() -> None:
    shares = [worker_concurrency(2, {"workerid": f"gw{i}", "workercount": 3}) for i in range(3)]
    assert shares == [1, 1, 1]
