"""Batch mode in the judge engine, through the real anthropic and openai SDKs against the fake
provider's batch endpoints: submit, poll, results into the cache, reruns, size limits,
malformed and failed results, resuming a recorded batch."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from pathlib import Path

import pytest
from fake_provider import FakeConfig, FakeProvider
from test_judge_engine import RUBRICS, cases

from pytest_llmgate.gate.records import JudgeVerdict
from pytest_llmgate.judge.batch import STATE_FILE, BatchOptions, _chunks
from pytest_llmgate.judge.cache import JudgeCache
from pytest_llmgate.judge.engine import DEADLINE_REACHED, JudgeEngine, JudgeRequest

PROVIDERS = ["anthropic:claude-test", "openai:gpt-test"]
ONLINE_PATHS = ("/v1/messages", "/v1/chat/completions")


def engine_for(provider: str, tmp_path: Path, deadline: float | None = None, **options: object) -> JudgeEngine:
    return JudgeEngine(
        provider=provider,
        rubrics=RUBRICS,
        cache_dir=tmp_path / ".llmgate",
        backoff_base=0.01,
        deadline=deadline,
        batch=BatchOptions(state_dir=tmp_path / ".llmgate", poll_interval=0.01, **options),  # type: ignore[arg-type]
    )


def judge_all(engine: JudgeEngine, requests: list[JudgeRequest]) -> list[JudgeVerdict]:
    with engine:
        futures = [engine.submit(request) for request in requests]
        engine.wait(progress=False)
        return [future.result() for future in futures]


def online_calls(fake: FakeProvider) -> list[str]:
    return [seen.path for seen in fake.requests if seen.path.rstrip("/").endswith(ONLINE_PATHS)]


def creates(fake: FakeProvider) -> list[str]:
    return [batch_id for op, batch_id in fake.batch_log if op == "create"]


def state(tmp_path: Path) -> list[dict[str, object]]:
    return json.loads((tmp_path / ".llmgate" / STATE_FILE).read_text(encoding="utf-8"))["batches"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_answers_equal_online_answers_and_fill_the_cache(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    requests = cases(6) + cases(4, "correctness")
    online = JudgeEngine(provider=provider, rubrics=RUBRICS, cache_dir=None)
    expected = judge_all(online, requests)
    fake_provider.reset()

    engine = engine_for(provider, tmp_path)
    verdicts = judge_all(engine, requests)
    assert [(v.value, v.label, v.error) for v in verdicts] == [(v.value, v.label, v.error) for v in expected]
    assert online_calls(fake_provider) == []
    assert len(creates(fake_provider)) == 1
    batch = fake_provider.batches[creates(fake_provider)[0]]
    assert len(batch.requests) == 6 * 2 + 4  # pairwise both orders, pointwise once
    assert all(call.batch and call.attempts == 1 and call.input_tokens > 0 for v in verdicts for call in v.calls)
    assert engine.stats()["helpfulness"].batched == 12
    assert state(tmp_path) == [], "a collected batch leaves the state file"
    assert any("sent as 1 batch(es)" in note for note in engine.notes())
    assert len(JudgeCache(tmp_path / ".llmgate")) == 16

    fake_provider.reset()
    again = judge_all(engine_for(provider, tmp_path), requests)
    assert fake_provider.request_count == 0, "a rerun is served from the cache"
    assert [v.value for v in again] == [v.value for v in verdicts]
    assert all(call.cached for v in again for call in v.calls)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_size_limit_splits_the_calls_into_several_batches(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    verdicts = judge_all(engine_for(provider, tmp_path, max_requests=5), cases(6))
    assert all(v.error is None for v in verdicts)
    sizes = [len(fake_provider.batches[batch_id].requests) for batch_id in creates(fake_provider)]
    assert sizes == [5, 5, 2]


def test_chunks_respect_count_and_bytes() -> None:
    requests = [{"custom_id": str(i), "body": "x" * 90} for i in range(10)]
    line = len(json.dumps(requests[0])) + 1
    assert [len(c) for c in _chunks(requests, 4, 10**9)] == [4, 4, 2]
    assert [len(c) for c in _chunks(requests, 100, 3 * line)] == [3, 3, 3, 1]


def test_identical_calls_are_batched_once(fake_provider: FakeProvider, tmp_path: Path) -> None:
    request = cases(1, "correctness")[0]
    verdicts = judge_all(engine_for("openai:gpt-test", tmp_path), [request, request])
    assert [v.value for v in verdicts][0] == verdicts[1].value and verdicts[0].error is None
    assert len(fake_provider.batches[creates(fake_provider)[0]].requests) == 1
    assert sorted(call.attempts for v in verdicts for call in v.calls) == [0, 1]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_batch_results_are_re_asked_online(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    fake_provider.reset(FakeConfig(batch_rate_malformed=1.0))
    engine = engine_for(provider, tmp_path)
    verdicts = judge_all(engine, cases(3, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 3
    assert all(call.attempts == 2 and call.batch for v in verdicts for call in v.calls)
    assert engine.reasked_online == 3
    assert any("3 call(s) came back malformed or failed" in note for note in engine.notes())
    assert len(JudgeCache(tmp_path / ".llmgate")) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_everywhere_is_a_judge_error_after_the_online_limit(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    fake_provider.reset(FakeConfig(batch_rate_malformed=1.0, rate_malformed=1.0))
    verdicts = judge_all(engine_for(provider, tmp_path), cases(2, "correctness"))
    assert all(v.value is None and "malformed judge output after 3 attempts" in (v.error or "") for v in verdicts)
    # One batch answer, then the two online re-asks an online call gets (malformed_retries=2).
    assert len(online_calls(fake_provider)) == 2 * 2
    assert len(JudgeCache(tmp_path / ".llmgate")) == 0, "an error is never cached"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_errored_batch_requests_are_asked_online(fake_provider: FakeProvider, tmp_path: Path, provider: str) -> None:
    fake_provider.reset(FakeConfig(batch_rate_errored=1.0))
    verdicts = judge_all(engine_for(provider, tmp_path), cases(2, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expired_batch_requests_are_asked_online(fake_provider: FakeProvider, tmp_path: Path, provider: str) -> None:
    fake_provider.reset(FakeConfig(batch_expire=True))
    engine = engine_for(provider, tmp_path)
    verdicts = judge_all(engine, cases(2, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 2
    if provider.startswith("openai"):
        assert any("ended as 'expired'; calls without a result are asked online" in note for note in engine.notes())
    assert state(tmp_path) == [], "an ended batch leaves the state file once its results are read"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_interrupted_wait_resumes_the_same_batch(fake_provider: FakeProvider, tmp_path: Path, provider: str) -> None:
    requests = cases(4)
    fake_provider.reset(FakeConfig(batch_hold=True))
    first = engine_for(provider, tmp_path)
    first.start()
    for request in requests:
        first.submit(request)
    stopped: list[BaseException] = []

    def wait() -> None:
        try:
            first.wait(progress=False)
        except concurrent.futures.CancelledError as exc:
            stopped.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / ".llmgate" / STATE_FILE).exists() or not state(tmp_path):
        assert time.monotonic() < deadline, "the batch id was never recorded"
        time.sleep(0.01)
    first.close()  # the interruption: the wait stops while the batch is still in progress
    waiter.join(timeout=30)
    assert stopped, "the wait ended by the interruption, not by results"
    recorded = state(tmp_path)
    assert [r["id"] for r in recorded] == creates(fake_provider)

    fake_provider.reset(FakeConfig())
    second = engine_for(provider, tmp_path)
    verdicts = judge_all(second, requests)
    assert all(v.error is None for v in verdicts)
    assert creates(fake_provider) == [], "the recorded batch is collected, not paid for again"
    assert ("retrieve", recorded[0]["id"]) in fake_provider.batch_log
    assert second.notes()[0].startswith(
        f"batch: collecting 1 batch(es) submitted by an earlier run: {recorded[0]['id']}"
    )
    assert state(tmp_path) == []
    assert online_calls(fake_provider) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_judge_deadline_stops_the_wait_and_the_next_run_collects_the_batch(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    requests = cases(3, "correctness")
    fake_provider.reset(FakeConfig(batch_hold=True))
    first = engine_for(provider, tmp_path, deadline=0.5)
    verdicts = judge_all(first, requests)
    assert all(v.value is None and DEADLINE_REACHED in (v.error or "") for v in verdicts)
    assert all("run again to collect it" in (v.error or "") for v in verdicts)
    assert first.unjudged_calls == 3 and online_calls(fake_provider) == []
    batch_id = creates(fake_provider)[0]
    assert [r["id"] for r in state(tmp_path)] == [batch_id], "the batch stays recorded"
    assert any(f"the judge deadline passed while {batch_id} was still running" in n for n in first.notes())

    fake_provider.reset(FakeConfig())
    again = judge_all(engine_for(provider, tmp_path), requests)
    assert all(v.error is None for v in again)
    assert creates(fake_provider) == [] and ("retrieve", batch_id) in fake_provider.batch_log


def test_no_batch_is_submitted_once_the_deadline_has_passed(fake_provider: FakeProvider, tmp_path: Path) -> None:
    engine = engine_for("anthropic:claude-test", tmp_path, deadline=0.0)
    verdicts = judge_all(engine, cases(2, "correctness"))
    assert all("before its batch was submitted" in (v.error or "") for v in verdicts)
    assert fake_provider.request_count == 0 and engine.unjudged_calls == 2


def test_a_recorded_batch_the_provider_forgot_is_submitted_anew(fake_provider: FakeProvider, tmp_path: Path) -> None:
    engine = engine_for("anthropic:claude-test", tmp_path)
    requests = cases(1, "correctness")
    with engine:
        # Record a batch id the provider has never heard of, covering this request's call.
        future = engine.submit(requests[0])
        key = engine._key(RUBRICS["correctness"], _prompt(engine, requests[0]))
        directory = tmp_path / ".llmgate"
        directory.mkdir(exist_ok=True)
        record = {"id": "msgbatch_gone", "provider": engine.provider_name, "keys": [key], "created": _now()}
        (directory / STATE_FILE).write_text(json.dumps({"format": 1, "batches": [record]}), encoding="utf-8")
        engine.wait(progress=False)
        verdict = future.result()
    assert verdict.error is None
    assert len(creates(fake_provider)) == 1
    assert any("msgbatch_gone from an earlier run is gone" in note for note in engine.notes())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_batch_sends_its_calls_online(fake_provider: FakeProvider, tmp_path: Path, provider: str) -> None:
    fake_provider.reset(FakeConfig(batch_create_status=500))
    engine = engine_for(provider, tmp_path)
    verdicts = judge_all(engine, cases(2, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 2 and fake_provider.batches == {}
    assert "batch: creating the batch: HTTP 500; 2 call(s) are asked online instead." in engine.notes()
    assert not (tmp_path / ".llmgate" / STATE_FILE).exists(), "a refused batch is not recorded"
    # Each call was made once (online): the batch that was never created is not counted.
    assert [(call.attempts, call.batch) for v in verdicts for call in v.calls] == [(1, False), (1, False)]
    assert engine.stats()["correctness"].calls == 2 and engine.stats()["correctness"].batched == 0


def test_a_broken_batch_run_sends_its_calls_online(
    fake_provider: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_llmgate.judge.batch import OpenAIBatches

    def broken(self: OpenAIBatches, key: str, body: object) -> dict[str, object]:
        raise TypeError("cannot build the request")

    monkeypatch.setattr(OpenAIBatches, "line", broken)
    engine = engine_for("openai:gpt-test", tmp_path)
    verdicts = judge_all(engine, cases(2, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 2 and creates(fake_provider) == []
    assert "batch: failed (TypeError: cannot build the request); its calls were asked online." in engine.notes()


def test_offline_and_compatible_judges_say_they_do_not_batch(fake_provider: FakeProvider, tmp_path: Path) -> None:
    offline = engine_for("offline", tmp_path)
    assert not offline.batching
    assert offline.notes() == ["batch: the offline judge makes no API calls; there is nothing to batch."]
    compatible = engine_for(f"openai-compatible:llama@{fake_provider.url}/v1", tmp_path)
    verdicts = judge_all(compatible, cases(2, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 2 and creates(fake_provider) == []
    assert compatible.notes() == [f"batch: {compatible.provider_name} has no batch API; its calls were made online."]


def _prompt(engine: JudgeEngine, request: JudgeRequest):  # noqa: ANN202 - a test helper
    from pytest_llmgate.judge.prompts import PromptData, render

    data = PromptData(input=request.input, candidate=request.candidate, reference=request.reference)
    return render(RUBRICS[request.rubric], data, "forward")


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_answer_costs_half_the_online_price(fake_provider: FakeProvider, tmp_path: Path, provider: str) -> None:
    from pytest_llmgate.judge.pricing import Pricer, Usage, parse_price

    pricer = Pricer("test prices", price=parse_price("input=3 output=15"))
    requests = cases(2, "correctness")
    engine = JudgeEngine(
        provider=provider,
        rubrics=RUBRICS,
        cache_dir=tmp_path / ".llmgate",
        pricer=pricer,
        batch=BatchOptions(state_dir=tmp_path / ".llmgate", poll_interval=0.01),
    )
    verdicts = judge_all(engine, requests)
    for call in (call for v in verdicts for call in v.calls):
        online = pricer.cost(Usage(call.input_tokens, call.output_tokens))
        assert call.batch and online is not None and online > 0
        assert call.cost_usd == pytest.approx(online / 2)


def test_a_jurys_batches_run_side_by_side(fake_provider: FakeProvider, tmp_path: Path) -> None:
    """`send_batches` on every judge first: the second batch is submitted before the first is
    collected, so a jury waits for one batch turnaround, not one per judge."""
    fake_provider.reset(FakeConfig(batch_polls=3))
    engines = [engine_for(provider, tmp_path / provider.split(":")[0]) for provider in PROVIDERS]
    futures = []
    for engine in engines:
        engine.start()
        futures += [engine.submit(request) for request in cases(3)]
    for engine in engines:
        engine.send_batches()
    for engine in engines:
        engine.wait(progress=False)
        engine.close()
    assert all(future.result().error is None for future in futures)
    operations = [op for op, _ in fake_provider.batch_log]
    assert operations.count("create") == 2
    first_collection = min(operations.index(op) for op in ("results", "content") if op in operations)
    assert operations.index("create") < first_collection
    assert len(operations) - operations[::-1].index("create") - 1 < first_collection, "both created first"
    assert online_calls(fake_provider) == []


def _canonical(body: object) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("rubric", ["correctness", "passes", "helpfulness"])
def test_batch_and_online_send_the_same_request_body(
    fake_provider: FakeProvider, tmp_path: Path, provider: str, rubric: str
) -> None:
    """One request built once: the body the online call sends is the body in the batch line."""
    requests = cases(2, rubric)
    judge_all(JudgeEngine(provider=provider, rubrics=RUBRICS, cache_dir=None), requests)
    online = sorted(_canonical(json.loads(seen.body)) for seen in fake_provider.requests if seen.body)
    assert len(online) == len(requests) * (2 if rubric == "helpfulness" else 1)
    fake_provider.reset()
    judge_all(engine_for(provider, tmp_path), requests)
    assert online_calls(fake_provider) == []
    batched = sorted(_canonical(body) for _, body in fake_provider.batches[creates(fake_provider)[0]].requests)
    assert batched == online


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failing_status_endpoint_stops_at_the_deadline(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    """A status check that keeps failing with a retryable error (HTTP 503) does not hold the run
    past the judge deadline: the calls are left unjudged and the batch stays recorded."""
    fake_provider.reset(FakeConfig(batch_status_status=503))
    engine = engine_for(provider, tmp_path, deadline=1.0)
    verdicts = judge_all(engine, cases(2, "correctness"))
    assert all(v.value is None and DEADLINE_REACHED in (v.error or "") for v in verdicts)
    assert engine.unjudged_calls == 2 and online_calls(fake_provider) == []
    batch_id = creates(fake_provider)[0]
    assert [r["id"] for r in state(tmp_path)] == [batch_id], "the batch stays recorded for the next run"
    assert fake_provider.count(503) >= 1
    assert any(f"the judge deadline passed while {batch_id} was still running" in n for n in engine.notes())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unreadable_result_line_re_asks_only_its_call(
    fake_provider: FakeProvider, tmp_path: Path, provider: str
) -> None:
    fake_provider.reset(FakeConfig(batch_unreadable_lines=1))
    engine = engine_for(provider, tmp_path)
    verdicts = judge_all(engine, cases(4, "correctness"))
    assert all(v.error is None for v in verdicts)
    assert len(online_calls(fake_provider)) == 1, "only the unreadable line's call is asked online"
    assert sorted(call.batch for v in verdicts for call in v.calls) == [True] * 4
    assert sorted(call.attempts for v in verdicts for call in v.calls) == [1, 1, 1, 2]
    assert len(JudgeCache(tmp_path / ".llmgate")) == 4, "the valid answers are kept"
    assert state(tmp_path) == [], "a batch whose results were read leaves the state file"
    assert any("1 line(s) of the results" in n for n in engine.notes()), engine.notes()


def test_result_lines_of_any_shape_become_replies_or_reasons() -> None:
    """Result lines are untrusted: a line that is not JSON, not an object or without a custom_id
    is counted as unreadable; odd field types give a reason, never a traceback."""
    from pytest_llmgate.judge.batch import BatchReply, _jsonl, anthropic_line, openai_line

    data = (
        b'{"custom_id": "a", "result": {"type": "succeeded", "message": {"content": []}}}\n{"cust\n[1, 2]\n{"x": 1}\n\n'
    )
    lines, unreadable = _jsonl(data)
    assert [line["custom_id"] for line in lines] == ["a"] and unreadable == 3
    assert anthropic_line(lines[0]) == BatchReply(reply={"content": []})
    assert anthropic_line({"custom_id": "b", "result": {"type": "errored", "error": "boom"}}) == BatchReply(
        error="error inside the batch: None"
    )
    assert anthropic_line({"custom_id": "c", "result": "odd"}).error == "request None inside the batch"
    assert openai_line({"custom_id": "d", "response": {"status_code": 200, "body": {"choices": []}}}) == BatchReply(
        reply={"choices": []}
    )
    assert openai_line({"custom_id": "e", "response": None, "error": "x"}).error == "error inside the batch: unknown"
    assert openai_line({"custom_id": "f", "response": {"status_code": 500, "body": "x"}}).error == (
        "error inside the batch: 500"
    )
