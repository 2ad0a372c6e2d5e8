"""Judge runs that take too long: per-call timeout and retries, the run's deadline, and
rate limits (a 429 with Retry-After pauses issuing; one without halves the limit), through
the real SDKs against the fake provider, hanging or rate limiting on purpose."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import pytest
from fake_provider import HANG, FakeConfig, FakeProvider

from pytest_llmgate.judge.engine import DEADLINE_REACHED, JudgeEngine, JudgeRequest, _AimdLimiter
from pytest_llmgate.judge.rubrics import Rubric

RUBRICS = {"correctness": Rubric(name="correctness", version="1", kind="pointwise", criteria="Correct?")}
PROVIDERS = ["anthropic:claude-test", "openai:gpt-test"]


def requests(n: int) -> list[JudgeRequest]:
    return [
        JudgeRequest(
            rubric="correctness",
            suite="evals/test_x.py::test_x",
            case_id=f"case-{i}",
            metric="judge:correctness",
            input=f"How long do refunds take? ({i})",
            candidate=f"refunds take five business days ({i})",
            reference=f"refunds take five business days ({i})",
        )
        for i in range(n)
    ]


def judge_all(provider: str, batch: list[JudgeRequest], **kwargs: object) -> tuple[list, JudgeEngine]:
    kwargs.setdefault("cache_dir", None)
    kwargs.setdefault("backoff_base", 0.01)
    engine = JudgeEngine(provider=provider, rubrics=RUBRICS, **kwargs)  # type: ignore[arg-type]
    with engine:
        futures = [engine.submit(request) for request in batch]
        engine.wait(progress=False)
        return [future.result() for future in futures], engine


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_hanging_judge_times_out_and_is_retried_as_configured(fake_provider: FakeProvider, provider: str) -> None:
    fake_provider.reset(FakeConfig(rate_hang=1.0))
    (verdict,), engine = judge_all(provider, requests(1), timeout=0.3, max_retries=2)
    assert verdict.error == "judge request timed out; gave up after 3 attempts"
    assert verdict.value is None  # an error, never a score
    assert fake_provider.request_count == 0  # none of the three was ever answered
    assert engine.stats()["correctness"].errors == 1 and engine.stats()["correctness"].calls == 3


def test_zero_retries_means_one_attempt(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(rate_5xx=1.0))
    (verdict,), _ = judge_all("openai:gpt-test", requests(1), max_retries=0)
    assert verdict.error == "provider error (HTTP 503); gave up after 1 attempts"
    assert fake_provider.request_count == 1


def test_a_timeout_then_an_answer_is_judged(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(script=[HANG]))
    (verdict,), _ = judge_all("openai:gpt-test", requests(1), timeout=0.3, max_retries=1)
    assert verdict.error is None and verdict.value == 1.0
    assert verdict.calls[0].attempts == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_deadline_cuts_calls_in_flight_and_queued(fake_provider: FakeProvider, provider: str) -> None:
    fake_provider.reset(FakeConfig(rate_hang=1.0))
    # A 30 s timeout with 4 retries would hang for minutes; the deadline ends it at 0.5 s.
    verdicts, engine = judge_all(provider, requests(5), timeout=30.0, max_retries=4, concurrency=2, deadline=0.5)
    errors = [v.error or "" for v in verdicts]
    assert all(DEADLINE_REACHED in e for e in errors), errors
    assert sum("while this call was in flight" in e for e in errors) == 2  # the two holding a slot
    assert sum("waited for a free slot" in e for e in errors) == 3
    assert all(v.value is None for v in verdicts)
    assert engine.deadline_reached and engine.unjudged_calls == 5
    assert engine.stats()["correctness"].errors == 5


def test_the_deadline_does_not_wait_out_a_backoff(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(rate_5xx=1.0))
    (verdict,), engine = judge_all("openai:gpt-test", requests(1), backoff_base=30.0, deadline=1.0)
    assert verdict.error is not None
    assert verdict.error.startswith("provider error (HTTP 503); judge deadline reached before the retry was due")
    assert fake_provider.request_count == 1 and engine.backoff_seconds == 0


def test_after_the_deadline_the_cache_still_answers(fake_provider: FakeProvider, tmp_path: Path) -> None:
    judged, _ = judge_all("openai:gpt-test", requests(3), cache_dir=tmp_path)
    assert all(v.error is None for v in judged)
    fake_provider.reset()
    verdicts, engine = judge_all("openai:gpt-test", requests(5), cache_dir=tmp_path, deadline=0)
    assert [v.value for v in verdicts[:3]] == [v.value for v in judged]  # cache hits cost no call
    assert all(DEADLINE_REACHED in (v.error or "") for v in verdicts[3:])
    assert fake_provider.request_count == 0 and engine.unjudged_calls == 2


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"max_retries": -1}, {"deadline": -1.0}])
def test_engine_rejects_bad_limits(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be a"):
        JudgeEngine(provider="offline", rubrics=RUBRICS, cache_dir=None, **bad)  # type: ignore[arg-type]


def test_429_with_retry_after_pauses_issuing_and_keeps_the_limit() -> None:
    async def scenario() -> tuple[int, float, float, int]:
        loop = asyncio.get_running_loop()
        limiter = _AimdLimiter(maximum=8, recover_after=10)
        epochs = [await limiter.acquire() for _ in range(3)]
        await limiter.release(epochs[0], "rate_limited", retry_after=0.3)
        await limiter.release(epochs[1], "rate_limited", retry_after=0.1)  # inside the first pause
        paused_at = loop.time()
        await limiter.acquire()  # waits for the gate to reopen
        waited = loop.time() - paused_at
        return limiter.limit, waited, limiter.paused_seconds, limiter.in_flight

    # On its own thread: Playwright's sync API (browser tests) may hold the main thread's loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        limit, waited, paused, in_flight = pool.submit(asyncio.run, scenario()).result()
    assert limit == 8  # not halved
    assert waited >= 0.29
    assert paused == pytest.approx(0.3, abs=0.02)  # overlapping pauses counted once
    assert in_flight == 2  # the third acquisition never paused the ones in flight


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_with_retry_after_costs_its_retry_after(fake_provider: FakeProvider, provider: str) -> None:
    fake_provider.reset(FakeConfig(retry_after=0.5, script=[429]))
    verdicts, engine = judge_all(provider, requests(6), concurrency=4, backoff_base=5.0)
    assert all(v.error is None for v in verdicts)
    assert engine.limiter is not None and engine.limiter.halvings == 0 and engine.limiter.min_limit == 4
    first = fake_provider.requests[0]
    assert first.status == 429
    # The retry waited for the gate (0.5 s), not for the exponential backoff (5 s): a lower
    # bound only, since a loaded machine can only make requests later, never earlier.
    assert max(seen.start for seen in fake_provider.requests) - first.end >= 0.45
    assert engine.backoff_seconds == 0


def test_429_without_retry_after_halves_the_limit(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(retry_after=None, script=[429]))
    verdicts, engine = judge_all("openai:gpt-test", requests(4), concurrency=4)
    assert all(v.error is None for v in verdicts)
    assert engine.limiter is not None and engine.limiter.halvings == 1 and engine.limiter.min_limit == 2
    assert engine.limiter.limit == 4  # one slot back per success: whole again within the run
    assert engine.backoff_seconds > 0  # exponential backoff, nothing told it how long to wait
