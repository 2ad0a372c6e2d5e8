"""The judge engine through the real anthropic and openai SDKs against the fake provider."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_provider import DUMMY_ANTHROPIC_KEY, DUMMY_OPENAI_KEY, FakeConfig, FakeProvider, subprocess_env

from pytest_llmgate.gate.records import JudgeVerdict
from pytest_llmgate.judge.cache import JudgeCache, JudgeCacheWarning
from pytest_llmgate.judge.engine import NOT_IN_CACHE, JudgeEngine, JudgeRequest, _AimdLimiter
from pytest_llmgate.judge.offline import overlap_f1, scale_score
from pytest_llmgate.judge.rubrics import Rubric

RUBRICS = {
    "correctness": Rubric(name="correctness", version="1", kind="pointwise", criteria="Correct?"),
    "swapped": Rubric(name="swapped", version="1", kind="pointwise", criteria="Correct answer?", both_orders=True),
    "passes": Rubric(name="passes", version="1", kind="pass_fail", criteria="Acceptable?"),
    "helpfulness": Rubric(name="helpfulness", version="1", kind="pairwise", criteria="More helpful?"),
}
PROVIDERS = ["anthropic:claude-test", "openai:gpt-test"]

REFERENCE = "refunds are processed within five business days after we receive the returned item"
GOOD = "refunds are processed within five business days after we receive the item"
BAD = "please contact our sales team for a discount on your next purchase"


def cases(n: int, rubric: str = "helpfulness", against: str | None = "baseline") -> list[JudgeRequest]:
    """n distinct cases; the candidate is the better answer in even cases, the worse in odd ones."""
    requests = []
    for i in range(n):
        good, bad, ref = f"{GOOD} case {i}", f"{BAD} case {i}", f"{REFERENCE} case {i}"
        candidate, other = (good, bad) if i % 2 == 0 else (bad, good)
        requests.append(
            JudgeRequest(
                rubric=rubric,
                suite="evals/test_support.py::test_answer",
                case_id=f"case-{i:03d}",
                metric=f"judge:{rubric}",
                input=f"How long do refunds take? ({i})",
                candidate=candidate,
                reference=ref,
                other=other if rubric == "helpfulness" else None,
                against=against if rubric == "helpfulness" else None,
            )
        )
    return requests


def run(provider: str, requests: list[JudgeRequest], **kwargs) -> tuple[list[JudgeVerdict], JudgeEngine]:
    kwargs.setdefault("cache_dir", None)
    kwargs.setdefault("backoff_base", 0.01)
    engine = JudgeEngine(provider=provider, rubrics=RUBRICS, **kwargs)
    with engine:
        futures = [engine.submit(request) for request in requests]
        engine.wait(progress=False)
        verdicts = [future.result() for future in futures]
    return verdicts, engine


@pytest.mark.parametrize("provider", PROVIDERS)
def test_pointwise_and_pass_fail_values(fake_provider: FakeProvider, provider: str) -> None:
    requests = cases(4, "correctness") + cases(2, "passes") + cases(2, "swapped")
    verdicts, engine = run(provider, requests)
    assert engine.provider_name == provider
    for request, verdict in zip(requests, verdicts, strict=True):
        assert verdict.error is None, verdict.error
        f1 = overlap_f1(request.candidate, request.reference or "")
        if verdict.kind == "pointwise":
            score = scale_score(f1, 1, 5)
            assert verdict.value == (score - 1) / 4
            assert verdict.label == f"{score}/5"
        else:
            assert verdict.value == (1.0 if f1 >= 0.5 else 0.0)
        assert verdict.provider == provider
        assert all(call.input_tokens > 0 and call.output_tokens > 0 for call in verdict.calls)
    swapped = [v for v in verdicts if v.rubric == "swapped"]
    assert all(len(v.calls) == 2 and v.consistent is True for v in swapped)
    stats = engine.stats()
    assert stats["correctness"].calls == 4 and stats["correctness"].swapped_pairs == 0
    assert stats["swapped"].calls == 4 and stats["swapped"].swapped_pairs == 2
    assert fake_provider.request_count == 4 + 2 + 4
    total = sum(s.input_tokens + s.output_tokens for s in stats.values())
    assert total == engine.tokens_used > 0


def test_openai_compatible_server(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    spec = f"openai-compatible:llama3@{fake_provider.url}/v1"
    verdicts, engine = run(spec, cases(2))
    assert engine.provider_name == spec
    assert [v.label for v in verdicts] == ["win", "loss"]
    assert fake_provider.request_count == 4


@pytest.mark.parametrize("provider", PROVIDERS)
def test_pairwise_order_swap_without_bias(fake_provider: FakeProvider, provider: str) -> None:
    verdicts, engine = run(provider, cases(20))
    assert [v.label for v in verdicts] == ["win", "loss"] * 10
    assert all(v.consistent is True and [c.order for c in v.calls] == ["forward", "swapped"] for v in verdicts)
    stats = engine.stats()["helpfulness"]
    assert (stats.swapped_pairs, stats.consistent_pairs) == (20, 20)
    assert stats.first_position_rate == 0.5


def test_planted_position_bias_is_reported(fake_provider: FakeProvider) -> None:
    bias = 0.3
    fake_provider.reset(FakeConfig(position_bias=bias, seed=7))
    verdicts, engine = run("openai:gpt-test", cases(200), concurrency=16)
    stats = engine.stats()["helpfulness"]
    # Each case has a clear winner, so a pair is consistent iff the call whose truthful
    # answer is B was not hijacked by the bias: P(consistent) = 1 - bias. Every call
    # prefers A with probability bias + (1 - bias) / 2.
    consistency = stats.consistent_pairs / stats.swapped_pairs
    assert stats.swapped_pairs == 200
    assert abs(consistency - (1 - bias)) < 0.1  # ~3 standard errors at n = 200
    assert abs(stats.first_position_rate - (bias + (1 - bias) / 2)) < 0.07
    inconsistent = [v for v in verdicts if v.consistent is False]
    assert len(inconsistent) == 200 - stats.consistent_pairs
    # Flips become ties, and every flip is a first-position preference in both orders.
    assert all(v.value == 0.5 and v.label == "tie" and v.first_position_preferred == 2 for v in inconsistent)
    consistent = [v for v in verdicts if v.consistent]
    assert all(v.value in (0.0, 1.0) for v in consistent)
    # A consistent verdict is always the truth (the bias can only ever say A).
    for index, verdict in enumerate(verdicts):
        if verdict.consistent:
            assert verdict.label == ("win" if index % 2 == 0 else "loss")


def test_in_flight_reaches_and_never_exceeds_concurrency(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(latency=0.1))
    verdicts, engine = run("anthropic:claude-test", cases(30, "correctness"), concurrency=6)
    assert all(v.error is None for v in verdicts)
    assert fake_provider.max_in_flight == 6
    assert engine.limiter is not None and engine.limiter.max_in_flight == 6
    fake_provider.reset(FakeConfig(latency=0.1))
    run("openai:gpt-test", cases(20), concurrency=11)  # 40 calls
    assert fake_provider.max_in_flight == 11


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rerun_with_unchanged_inputs_makes_zero_calls(
    fake_provider: FakeProvider, provider: str, tmp_path: Path
) -> None:
    cache_dir = tmp_path / ".llmgate"
    first, _ = run(provider, cases(10), cache_dir=cache_dir)
    calls = fake_provider.request_count
    assert calls == 20
    assert (cache_dir / ".gitignore").read_text() == "*\n"
    second, engine = run(provider, cases(10), cache_dir=cache_dir)
    assert fake_provider.request_count == calls
    assert [v.value for v in second] == [v.value for v in first]
    assert all(c.cached and c.attempts == 0 for v in second for c in v.calls)
    stats = engine.stats()["helpfulness"]
    assert (stats.calls, stats.cache_hits, stats.input_tokens, engine.tokens_used) == (0, 20, 0, 0)
    # A changed output misses the cache for that case only.
    changed = cases(10)
    changed[3] = JudgeRequest(**{**changed[3].__dict__, "candidate": changed[3].candidate + " (edited)"})
    run(provider, changed, cache_dir=cache_dir)
    assert fake_provider.request_count == calls + 2


def test_keys_never_reach_the_cache(fake_provider: FakeProvider, tmp_path: Path) -> None:
    cache_dir = tmp_path / ".llmgate"
    for provider in PROVIDERS:
        run(provider, cases(3), cache_dir=cache_dir)
    stored = b"".join(path.read_bytes() for path in cache_dir.iterdir() if path.is_file())
    assert b"judge_cache" in stored  # the files were really read
    for secret in (DUMMY_ANTHROPIC_KEY, DUMMY_OPENAI_KEY, "DUMMY"):
        assert secret.encode() not in stored


CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from pytest_llmgate.judge.engine import JudgeEngine
    from pytest_llmgate.judge.rubrics import Rubric
    from test_judge_engine import cases, RUBRICS
    engine = JudgeEngine(provider="openai:gpt-test", rubrics=RUBRICS, cache_dir=Path(sys.argv[1]), concurrency=8)
    with engine:
        futures = [engine.submit(r) for r in cases(int(sys.argv[2]))]
        engine.wait(progress=False)
        print(json.dumps([f.result().value for f in futures]))
""")


def test_two_processes_share_one_cache(fake_provider: FakeProvider, tmp_path: Path) -> None:
    fake_provider.reset(FakeConfig(latency=0.01))
    cache_dir = tmp_path / ".llmgate"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = subprocess_env(fake_provider)
    tests_dir = str(Path(__file__).parent)
    env["PYTHONPATH"] = tests_dir + ":" + str(Path(__file__).parent.parent)
    children = [
        subprocess.Popen(
            [sys.executable, str(script), str(cache_dir), "60"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    values = [json.loads(out) for out, _ in outputs]
    assert values[0] == values[1] == [1.0, 0.0] * 30
    with sqlite3.connect(cache_dir / "judge-cache.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0] == 120
    # At most both processes asked every call; a third run asks nothing.
    asked = fake_provider.request_count
    assert 120 <= asked <= 240
    verdicts, _ = run("openai:gpt-test", cases(60), cache_dir=cache_dir)
    assert fake_provider.request_count == asked
    assert [v.value for v in verdicts] == [1.0, 0.0] * 30


def test_chaos_run_judges_or_counts_every_case(fake_provider: FakeProvider) -> None:
    clean, _ = run("openai:gpt-test", cases(200, "swapped"))
    fake_provider.reset(FakeConfig(rate_429=0.10, rate_5xx=0.05, rate_malformed=0.05, retry_after=0.01, seed=3))
    verdicts, engine = run("openai:gpt-test", cases(200, "swapped"), concurrency=16, max_retries=4)
    assert len(verdicts) == 200
    errors = [v for v in verdicts if v.error is not None]
    for verdict, reference in zip(verdicts, clean, strict=True):
        # Judged or a counted error; an error is never a score (in particular never 0).
        assert (verdict.value is None) == (verdict.error is not None)
        if verdict.error is None:
            assert verdict.value == reference.value
    stats = engine.stats()["swapped"]
    assert stats.verdicts == 200 and stats.errors == len(errors)
    assert stats.calls == fake_provider.request_count > 400  # retries were made and counted
    assert fake_provider.count(429) > 0 and fake_provider.count(503) > 0
    # Every 429 said how long to wait: the issue gate paused, the limit was never halved.
    assert engine.limiter is not None and engine.limiter.paused_seconds > 0
    assert engine.limiter.min_limit == 16 and engine.limiter.halvings == 0
    assert len(errors) <= 10  # with 4 retries, nearly every call gets through


def test_malformed_output_is_reasked_then_an_error(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(rate_malformed=1.0))
    (verdict,), engine = run("anthropic:claude-test", cases(1, "correctness"), malformed_retries=2)
    assert verdict.value is None and verdict.label is None
    assert verdict.error is not None and verdict.error.startswith("malformed judge output after 3 attempts")
    assert verdict.calls[0].attempts == 3 == fake_provider.request_count
    assert engine.stats()["correctness"].errors == 1


def test_server_errors_give_up_after_bounded_retries(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(rate_5xx=1.0))
    (verdict,), _ = run("openai:gpt-test", cases(1, "correctness"), max_retries=2)
    assert verdict.error == "provider error (HTTP 503); gave up after 3 attempts"
    assert fake_provider.request_count == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_after_is_honoured(fake_provider: FakeProvider, provider: str) -> None:
    fake_provider.reset(FakeConfig(retry_after=1.0, script=[429]))
    (verdict,), _ = run(provider, cases(1, "correctness"), backoff_base=0.001)
    assert verdict.error is None and verdict.calls[0].attempts == 2
    first, second = fake_provider.requests
    assert first.status == 429 and second.status == 200
    assert second.start - first.end >= 0.95


def test_identical_requests_in_flight_are_deduplicated(fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(latency=0.2))
    request = cases(1, "correctness")[0]
    twin = JudgeRequest(**{**request.__dict__, "case_id": "case-twin"})
    (first, second), engine = run("openai:gpt-test", [request, twin])
    assert fake_provider.request_count == 1
    assert engine.deduplicated == 1
    assert first.value == second.value is not None
    assert sorted(v.calls[0].attempts for v in (first, second)) == [0, 1]
    assert engine.stats()["correctness"].calls == 1


def test_token_budget_stops_issuing_calls(fake_provider: FakeProvider) -> None:
    verdicts, engine = run("openai:gpt-test", cases(5, "correctness"), concurrency=1, budget_tokens=1)
    assert fake_provider.request_count == 1
    assert engine.budget_exhausted
    assert verdicts[0].error is None
    for verdict in verdicts[1:]:
        assert verdict.value is None
        assert verdict.error is not None and verdict.error.startswith("token budget exhausted (")
        assert "this judge call was not made" in verdict.error


def test_replay_only_serves_the_cache_and_lists_misses(fake_provider: FakeProvider, tmp_path: Path) -> None:
    cache_dir = tmp_path / ".llmgate"
    run("anthropic:claude-test", cases(3), cache_dir=cache_dir)
    asked = fake_provider.request_count
    verdicts, engine = run("anthropic:claude-test", cases(4), cache_dir=cache_dir, replay_only=True)
    assert fake_provider.request_count == asked
    assert [v.label for v in verdicts[:3]] == ["win", "loss", "win"]
    assert verdicts[3].value is None
    assert verdicts[3].error == f"forward: {NOT_IN_CACHE}; swapped: {NOT_IN_CACHE}"
    assert engine.missing == [("evals/test_support.py::test_answer", "case-003", "helpfulness")]


def test_errors_are_not_cached(fake_provider: FakeProvider, tmp_path: Path) -> None:
    cache_dir = tmp_path / ".llmgate"
    fake_provider.reset(FakeConfig(rate_malformed=1.0))
    run("openai:gpt-test", cases(1, "correctness"), cache_dir=cache_dir, malformed_retries=0)
    fake_provider.reset(FakeConfig())
    (verdict,), _ = run("openai:gpt-test", cases(1, "correctness"), cache_dir=cache_dir)
    assert verdict.error is None and fake_provider.request_count == 1


def test_unusable_cache_is_a_warning(fake_provider: FakeProvider, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.warns(JudgeCacheWarning, match="judge cache disabled: cannot open"):
        verdicts, _ = run("openai:gpt-test", cases(2), cache_dir=blocker / ".llmgate")
    assert [v.label for v in verdicts] == ["win", "loss"]


def test_cache_roundtrip(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path)
    assert cache.get("k") is None
    cache.put("k", {"reason": "r", "score": 4}, 10, 2)
    assert cache.get("k") == ({"reason": "r", "score": 4}, 10, 2)
    assert len(cache) == 1
    cache.close()


def test_cache_buffers_writes_and_flushes_them_in_one_transaction(tmp_path: Path) -> None:
    from pytest_llmgate.judge.cache import FLUSH_ROWS

    writer, reader = JudgeCache(tmp_path), JudgeCache(tmp_path)
    writer.put("k0", {"reason": "r", "score": 4}, 10, 2, cache_read_tokens=3)
    hit = writer.lookup("k0")
    assert hit is not None and (hit.answer, hit.input_tokens, hit.cache_read_tokens) == (
        {"reason": "r", "score": 4},
        10,
        3,
    )
    assert reader.lookup("k0") is None, "a buffered answer is not on disk yet"
    writer.flush()
    assert reader.get("k0") == ({"reason": "r", "score": 4}, 10, 2)
    for i in range(1, FLUSH_ROWS + 1):  # the FLUSH_ROWS-th buffered answer writes them all
        writer.put(f"k{i}", {"reason": "r", "score": 3}, 1, 1)
    assert reader.lookup(f"k{FLUSH_ROWS}") is not None
    writer.put("last", {"reason": "r", "score": 2}, 1, 1)
    writer.close()
    assert reader.lookup("last") is not None, "close writes what is still buffered"
    assert len(reader) == FLUSH_ROWS + 2
    reader.close()


def test_aimd_limiter_halves_once_per_window_and_recovers() -> None:
    async def scenario() -> list[int]:
        limiter = _AimdLimiter(maximum=8, recover_after=2)
        seen = []
        epochs = [await limiter.acquire() for _ in range(4)]
        await limiter.release(epochs[0], "rate_limited")
        seen.append(limiter.limit)  # 4
        await limiter.release(epochs[1], "rate_limited")  # same window: no second halving
        seen.append(limiter.limit)  # 4
        epoch = await limiter.acquire()
        await limiter.release(epoch, "rate_limited")
        seen.append(limiter.limit)  # 2
        for stale in epochs[2:]:
            await limiter.release(stale, "other")  # neither success nor congestion
        seen.append(limiter.limit)  # 2
        for _ in range(20):
            epoch = await limiter.acquire()
            await limiter.release(epoch, "ok")
        seen.append(limiter.limit)  # back to the maximum, never above
        seen.append(limiter.min_limit)
        return seen

    # On its own thread: in a worker that ran the browser tests, Playwright's sync API keeps
    # an event loop running on the main thread, where asyncio.run() refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, asyncio.wait_for(scenario(), 10)).result() == [4, 4, 2, 2, 8, 2]
