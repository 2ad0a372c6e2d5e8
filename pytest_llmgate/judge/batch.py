"""Batch mode: the session's judge calls through the Anthropic Message Batches API or the
OpenAI Batch API (about half the price, a separate rate-limit pool).

The engine parks every call the cache cannot answer here instead of asking the provider.
When every submitted request is either answered or parked, `BatchCollector.run` sends the
parked calls in as few batches as each API's size limits allow, polls them, writes every
answer into the judge cache and hands each parked call its result. Calls whose result is
malformed or failed are then re-asked online by the engine, under the online rules.

Resumable: each batch id is written to `.llmgate/batches.json` (atomically, under a file
lock) as soon as it is created and removed once its results are in the cache, so a rerun
after an interrupted wait collects the same batch instead of paying for it again.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pydantic

from pytest_llmgate._files import utf8
from pytest_llmgate.judge.providers import (
    CACHE_CONTROL,
    MAX_TOKENS,
    ProviderError,
    anthropic_usage,
    check_answer,
    openai_usage,
)
from pytest_llmgate.judge.schemas import SCHEMAS

if TYPE_CHECKING:
    from pytest_llmgate.judge.cache import JudgeCache
    from pytest_llmgate.judge.prompts import RenderedPrompt
    from pytest_llmgate.judge.rubrics import Rubric

STATE_FILE = "batches.json"
STATE_FORMAT = 1
DEFAULT_POLL_INTERVAL = 30.0
#: Batches older than this are dropped from the state file: both APIs keep results ~29-30 days.
STATE_MAX_AGE_DAYS = 29


class BatchError(Exception):
    """A batch API request failed; `missing` when the batch id is unknown to the provider."""

    def __init__(self, message: str, *, missing: bool = False, retryable: bool = False) -> None:
        super().__init__(message)
        self.missing = missing
        self.retryable = retryable


@dataclass(frozen=True)
class BatchOptions:
    """How batch mode runs."""

    state_dir: Path
    """Folder of `batches.json` (the judge cache folder, `.llmgate/`)."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    """Seconds between two status checks of a batch."""
    max_requests: int | None = None
    """Requests per batch at most; None means the API's limit."""
    max_bytes: int | None = None
    """Bytes of requests per batch at most; None means the API's limit."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch said about one call."""

    answer: dict[str, Any] | None = None
    """The parsed, range-checked answer, or None."""
    error: str | None = None
    """Why there is no answer (malformed output, an error inside the batch, no result)."""
    malformed: bool = False
    """The judge answered but the answer is unusable: re-asked online with the re-ask note."""
    input_tokens: int = 0
    """Input tokens, prompt-cache reads and writes included (as online calls count them)."""
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    deadline: bool = False
    """No answer because the judge deadline passed: `error` says when; the call is left unjudged."""


@dataclass
class BatchStatus:
    """A batch's progress as the provider reports it."""

    ended: bool
    done: int
    """Requests finished (Anthropic reports these only when the whole batch has ended)."""
    total: int
    state: str
    """The provider's own status word (`in_progress`, `ended`, `completed`, ...)."""


class BatchApi(Protocol):
    """One provider's batch endpoints, through its official SDK."""

    title: str
    max_requests: int
    max_bytes: int

    def request(self, key: str, rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
        """One request line of a batch, with the cache key as its `custom_id`."""

    async def submit(self, requests: list[dict[str, Any]]) -> str:
        """Create a batch; returns its id."""

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str, rubrics: dict[str, Rubric]) -> dict[str, BatchResult]:
        """Results by custom_id; `rubrics` maps custom_id to the rubric (to check answers)."""

    async def aclose(self) -> None: ...


def _parse_answer(rubric: Rubric, text: str | None, tokens: Any) -> BatchResult:
    """The answer in a reply's text, validated like the SDKs' parse helpers do; `tokens` as
    `providers.anthropic_usage` / `openai_usage` count them."""
    input_tokens, output_tokens = tokens["input_tokens"], tokens["output_tokens"]
    cache = {"cache_read_tokens": tokens["cache_read_tokens"], "cache_write_tokens": tokens["cache_write_tokens"]}
    problem: str
    if text is None:
        problem = "no text in the reply"
    else:
        try:
            answer = SCHEMAS[rubric.kind].model_validate_json(text).model_dump()
            check_answer(rubric, answer)
            return BatchResult(answer=answer, input_tokens=input_tokens, output_tokens=output_tokens, **cache)
        except pydantic.ValidationError as exc:
            problem = str(exc.errors()[0]["msg"])
        except ProviderError as exc:
            problem = str(exc)
    return BatchResult(
        error=f"malformed judge output: {problem}",
        malformed=True,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        **cache,
    )


def _status_error(exc: BaseException, sdk: Any, what: str) -> BatchError:
    if isinstance(exc, sdk.NotFoundError):
        return BatchError(f"{what}: not found (HTTP 404)", missing=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        return BatchError(f"{what}: HTTP {status}", retryable=status == 429 or status >= 500)
    if isinstance(exc, sdk.APIConnectionError):
        return BatchError(f"{what}: {type(exc).__name__}", retryable=True)
    return BatchError(f"{what}: {type(exc).__name__}: {exc}")


class AnthropicBatches:
    """The Anthropic Message Batches API (100,000 requests or 256 MB per batch)."""

    title = "Anthropic Message Batches"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def __init__(self, model: str, timeout: float) -> None:
        import anthropic
        from anthropic.lib._parse._transform import transform_schema

        self._sdk = anthropic
        self._model = model
        self._transform = transform_schema
        self._formats: dict[str, dict[str, Any]] = {}
        # Status checks and downloads are idempotent, so the SDK may retry them; creating a
        # batch is not (a lost response would mean paying twice), so `submit` never retries.
        self._client = anthropic.AsyncAnthropic(max_retries=2, timeout=timeout)

    def _format(self, kind: str) -> dict[str, Any]:
        if kind not in self._formats:
            schema = pydantic.TypeAdapter(SCHEMAS[kind]).json_schema()
            self._formats[kind] = {"type": "json_schema", "schema": self._transform(schema)}
        return self._formats[kind]

    def request(self, key: str, rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
        # The same parameters as the online `messages.parse` call (providers.AnthropicProvider).
        params = {
            "model": self._model,
            "max_tokens": MAX_TOKENS,
            "system": [{"type": "text", "text": prompt.system, "cache_control": CACHE_CONTROL}],
            "messages": [{"role": "user", "content": prompt.user}],
            "output_config": {"format": self._format(rubric.kind)},
        }
        return {"custom_id": key, "params": params}

    async def submit(self, requests: list[dict[str, Any]]) -> str:
        try:
            client = self._client.with_options(max_retries=0)
            batch = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a typed error
            raise _status_error(exc, self._sdk, "creating the batch") from None
        return batch.id

    async def status(self, batch_id: str) -> BatchStatus:
        try:
            batch = await self._client.messages.batches.retrieve(batch_id)
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, f"batch {batch_id}") from None
        counts = batch.request_counts
        total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        return BatchStatus(
            ended=batch.processing_status == "ended",
            done=total - counts.processing,
            total=total,
            state=batch.processing_status,
        )

    async def results(self, batch_id: str, rubrics: dict[str, Rubric]) -> dict[str, BatchResult]:
        results: dict[str, BatchResult] = {}
        try:
            async for entry in await self._client.messages.batches.results(batch_id):
                rubric = rubrics.get(entry.custom_id)
                if rubric is None:
                    continue
                result = entry.result
                if result.type == "succeeded":
                    message = result.message
                    text = next((block.text for block in message.content if block.type == "text"), None)
                    results[entry.custom_id] = _parse_answer(rubric, text, anthropic_usage(message.usage))
                elif result.type == "errored":
                    error = result.error.error
                    results[entry.custom_id] = BatchResult(error=f"error inside the batch: {error.type}")
                else:
                    results[entry.custom_id] = BatchResult(error=f"request {result.type} inside the batch")
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, f"results of batch {batch_id}") from None
        return results

    async def aclose(self) -> None:
        await self._client.close()


class OpenAIBatches:
    """The OpenAI Batch API over `/v1/chat/completions` (50,000 requests or 200 MB per file)."""

    title = "OpenAI Batch API"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def __init__(self, model: str, timeout: float) -> None:
        import openai
        from openai.lib._parsing._completions import type_to_response_format_param

        self._sdk = openai
        self._model = model
        self._response_format = type_to_response_format_param
        self._formats: dict[str, Any] = {}
        self._client = openai.AsyncOpenAI(max_retries=2, timeout=timeout)

    def request(self, key: str, rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
        if rubric.kind not in self._formats:
            self._formats[rubric.kind] = self._response_format(SCHEMAS[rubric.kind])
        # The same parameters as the online `chat.completions.parse` call (providers.OpenAIProvider).
        body = {
            "model": self._model,
            "max_completion_tokens": MAX_TOKENS,
            "temperature": 0.0,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "response_format": self._formats[rubric.kind],
        }
        return {"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body}

    async def submit(self, requests: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in requests)
        client = self._client.with_options(max_retries=0)
        try:
            upload = await client.files.create(
                file=("llmgate-judge-batch.jsonl", utf8(data), "application/jsonl"), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, "creating the batch") from None
        return batch.id

    async def _retrieve(self, batch_id: str) -> Any:
        try:
            return await self._client.batches.retrieve(batch_id)
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, f"batch {batch_id}") from None

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self._retrieve(batch_id)
        counts = batch.request_counts
        total = counts.total if counts else 0
        done = (counts.completed + counts.failed) if counts else 0
        ended = batch.status in ("completed", "failed", "expired", "cancelled")
        return BatchStatus(ended=ended, done=done, total=total, state=batch.status)

    async def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        try:
            content = await self._client.files.content(file_id)
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, f"batch file {file_id}") from None
        return [json.loads(line) for line in content.text.splitlines() if line.strip()]

    async def results(self, batch_id: str, rubrics: dict[str, Rubric]) -> dict[str, BatchResult]:
        batch = await self._retrieve(batch_id)
        results: dict[str, BatchResult] = {}
        lines = await self._lines(batch.output_file_id) + await self._lines(batch.error_file_id)
        for line in lines:
            key = line.get("custom_id")
            rubric = rubrics.get(key) if isinstance(key, str) else None
            if rubric is None or key is None:
                continue
            response = line.get("response") or {}
            body = response.get("body") or {}
            if response.get("status_code") != 200:
                status = response.get("status_code") or (line.get("error") or {}).get("code") or "unknown"
                results[key] = BatchResult(error=f"error inside the batch: {status}")
                continue
            raw_usage = body.get("usage")
            tokens = openai_usage(_namespace(raw_usage) if isinstance(raw_usage, dict) else None)
            input_tokens, output_tokens = tokens["input_tokens"], tokens["output_tokens"]
            choices = body.get("choices") or []
            message = (choices[0].get("message") or {}) if choices else {}
            if message.get("refusal"):
                refusal = str(message["refusal"])[:200]
                results[key] = BatchResult(
                    error=f"the judge refused: {refusal}",
                    malformed=True,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                )
                continue
            results[key] = _parse_answer(rubric, message.get("content"), tokens)
        return results

    async def aclose(self) -> None:
        await self._client.close()


def _namespace(data: dict[str, Any]) -> Any:
    """A JSON object read like an SDK model (attribute access), nested objects too."""
    from types import SimpleNamespace

    return SimpleNamespace(**{k: _namespace(v) if isinstance(v, dict) else v for k, v in data.items()})


def make_batch_api(spec: str, timeout: float) -> BatchApi | None:
    """The batch API of a judge spec, or None when the provider has none (offline, compatible)."""
    from pytest_llmgate.judge.providers import parse_spec

    provider, model, _ = parse_spec(spec)
    if provider == "anthropic":
        return AnthropicBatches(model, timeout)
    if provider == "openai":
        return OpenAIBatches(model, timeout)
    return None


# -- state file ---------------------------------------------------------------------------


@dataclass
class BatchRecord:
    """A submitted batch, as kept in `.llmgate/batches.json` until its results are cached."""

    id: str
    """The provider's batch id."""
    provider: str
    """`provider:model` of the judge that submitted it."""
    keys: list[str]
    """Cache keys (custom_ids) of its requests."""
    created: str
    """ISO 8601, UTC."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "provider": self.provider, "keys": self.keys, "created": self.created}


class BatchState:
    """`batches.json`: read and changed under a file lock, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / STATE_FILE
        self._lock_path = Path(directory) / f"{STATE_FILE}.lock"

    def _read(self) -> list[BatchRecord]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            msg = f"{self.path} is unreadable ({exc}); delete it to start over (submitted batches are then paid again)."
            raise BatchError(msg) from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            msg = f"{self.path} has an unknown format; delete it to start over."
            raise BatchError(msg)
        try:
            return [
                BatchRecord(str(raw["id"]), str(raw["provider"]), [str(k) for k in raw["keys"]], str(raw["created"]))
                for raw in data.get("batches", [])
            ]
        except (KeyError, TypeError) as exc:
            msg = f"{self.path}: a batch entry lacks {exc}; delete the file to start over."
            raise BatchError(msg) from None

    def _write(self, records: list[BatchRecord]) -> None:
        from pytest_llmgate._files import atomic_write_text, dumps

        data = {"format": STATE_FORMAT, "batches": [r.to_json() for r in sorted(records, key=lambda r: r.id)]}
        atomic_write_text(self.path, dumps(data))

    def _locked(self) -> Any:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self._lock_path), timeout=60)

    def load(self) -> list[BatchRecord]:
        """Every recorded batch (those older than the providers keep results are dropped)."""
        with self._locked():
            records = self._read()
            cutoff = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=STATE_MAX_AGE_DAYS)
            kept = [r for r in records if _dt.datetime.fromisoformat(r.created) >= cutoff]
            if len(kept) != len(records):
                self._write(kept)
            return kept

    def add(self, record: BatchRecord) -> None:
        with self._locked():
            records = [r for r in self._read() if r.id != record.id]
            self._write([*records, record])

    def remove(self, batch_id: str) -> None:
        with self._locked():
            records = self._read()
            if any(r.id == batch_id for r in records):
                self._write([r for r in records if r.id != batch_id])


# -- the collector ------------------------------------------------------------------------


@dataclass
class _Parked:
    key: str
    rubric: Rubric
    prompt: RenderedPrompt
    future: asyncio.Future[BatchResult]
    claimed: bool = False
    """The first caller to read the result takes its tokens; followers share the answer."""


@dataclass
class BatchProgress:
    """What the progress bar shows (written on the engine's loop, read by the main thread)."""

    phase: str = "collecting"
    batches: list[str] = field(default_factory=list)
    done: int = 0
    total: int = 0


def _chunks(requests: list[dict[str, Any]], max_requests: int, max_bytes: int) -> Iterable[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for request in requests:
        # A request's size as the API counts it, near enough: its JSON line.
        length = len(utf8(json.dumps(request, ensure_ascii=False))) + 1
        if chunk and (len(chunk) >= max_requests or size + length > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(request)
        size += length
    if chunk:
        yield chunk


class BatchCollector:
    """Parks cache misses, then runs them as batches; see the module docstring."""

    def __init__(
        self, api: BatchApi, provider_name: str, options: BatchOptions, cache: JudgeCache | None = None
    ) -> None:
        self.api = api
        self.provider_name = provider_name
        self.options = options
        self.cache = cache
        self.state = BatchState(options.state_dir)
        self.progress = BatchProgress()
        self.notes: list[str] = []
        """One line per thing worth telling the user (batches submitted, resumed, re-asked)."""
        self.submitted: list[str] = []
        """Ids of the batches this run created."""
        self.resumed: list[str] = []
        """Ids of batches recorded by an earlier run and collected by this one."""
        self._parked: dict[str, _Parked] = {}
        self._arrived: set[int] = set()
        self._expected = 0
        self._settled: asyncio.Event | None = None
        self._left: Callable[[], float | None] = lambda: None

    # -- called by the engine, on its loop ----------------------------------------------

    def park(self, key: str, rubric: Rubric, prompt: RenderedPrompt) -> _Parked:
        """Queue a call for the next batch (one entry per cache key)."""
        entry = self._parked.get(key)
        if entry is None:
            future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
            entry = _Parked(key, rubric, prompt, future)
            self._parked[key] = entry
        return entry

    def arrive(self, token: int) -> None:
        """A request (by a token unique to it) is answered or parked; idempotent."""
        self._arrived.add(token)
        self._check_settled()

    def _check_settled(self) -> None:
        if self._settled is not None and len(self._arrived) >= self._expected:
            self._settled.set()

    # -- the batch run -------------------------------------------------------------------

    async def run(self, expected: int, left: Callable[[], float | None] | None = None) -> None:
        """Wait until `expected` requests arrived, then submit, poll and collect the parked calls.

        `left` gives the seconds left before the judge deadline (None: no deadline); once it is
        past, no batch is submitted and no more waiting is done (a batch stays recorded)."""
        if left is not None:
            self._left = left
        self._expected = expected
        self._settled = asyncio.Event()
        self._check_settled()
        await self._settled.wait()
        pending = {key: entry for key, entry in self._parked.items() if not entry.future.done()}
        if not pending:
            return
        try:
            await self._run(pending)
        finally:
            for entry in pending.values():
                if not entry.future.done():
                    entry.future.set_result(BatchResult(error="no result from the batch"))
            self._parked = {k: v for k, v in self._parked.items() if not v.future.done()}

    async def _run(self, pending: dict[str, _Parked]) -> None:
        try:
            records = await asyncio.to_thread(self.state.load)
        except BatchError as exc:
            self.notes.append(f"batch: {exc}")
            self._fail(pending.values(), str(exc))
            return
        # Batches an earlier run submitted and never collected: collect them instead of paying again.
        active: list[BatchRecord] = []
        self.progress.phase = "checking earlier batches"
        for record in records:
            if record.provider != self.provider_name or not pending.keys() & set(record.keys):
                continue
            try:
                await self.api.status(record.id)
            except BatchError as exc:
                if exc.missing:
                    await self._forget(record.id)
                    self.notes.append(f"batch: {record.id} from an earlier run is gone ({exc}); submitting anew.")
                    continue
            active.append(record)
            self.resumed.append(record.id)
        covered = {key for record in active for key in record.keys}
        new = [entry for key, entry in pending.items() if key not in covered]
        if self.resumed:
            self.notes.append(
                f"batch: collecting {len(self.resumed)} batch(es) submitted by an earlier run: {', '.join(self.resumed)}."
            )
        self.progress.phase = "submitting"
        if new and self._past_deadline():
            self._fail(new, "before its batch was submitted", deadline=True)
            new = []
        requests = [self.api.request(entry.key, entry.rubric, entry.prompt) for entry in new]
        max_requests = self.options.max_requests or self.api.max_requests
        max_bytes = self.options.max_bytes or self.api.max_bytes
        for chunk in _chunks(requests, max_requests, max_bytes):
            keys = [request["custom_id"] for request in chunk]
            try:
                batch_id = await self.api.submit(chunk)
            except BatchError as exc:
                self.notes.append(f"batch: {exc}; {len(keys)} call(s) are asked online instead.")
                self._fail((pending[key] for key in keys), f"batch not submitted ({exc})")
                continue
            record = BatchRecord(batch_id, self.provider_name, keys, _now())
            try:
                await asyncio.to_thread(self.state.add, record)
            except (OSError, BatchError) as exc:
                # The batch exists and is paid for: wait for it all the same.
                self.notes.append(f"batch: could not record {batch_id} ({exc}); an interrupted wait would pay again.")
            self.submitted.append(batch_id)
            active.append(record)
        if self.submitted:
            count = sum(len(r.keys) for r in active if r.id in self.submitted)
            self.notes.append(
                f"batch: {count} judge call(s) sent as {len(self.submitted)} batch(es) through the "
                f"{self.api.title}: {', '.join(self.submitted)}."
            )
        self.progress.batches = [record.id for record in active]
        self.progress.total = sum(len(record.keys) for record in active)
        self.progress.phase = "waiting"
        await asyncio.gather(*(self._collect(record, pending) for record in active))

    async def _collect(self, record: BatchRecord, pending: dict[str, _Parked]) -> None:
        done = 0
        while True:
            try:
                status = await self.api.status(record.id)
            except BatchError as exc:
                if exc.retryable:
                    await asyncio.sleep(self.options.poll_interval)
                    continue
                self.notes.append(f"batch: {exc}; its calls are asked online instead (the batch stays recorded).")
                self._fail((pending[k] for k in record.keys if k in pending), str(exc))
                return
            self.progress.done += status.done - done
            done = status.done
            if status.ended:
                if status.state not in ("ended", "completed"):
                    self.notes.append(
                        f"batch: {record.id} ended as {status.state!r}; calls without a result are asked online."
                    )
                break
            if self._past_deadline():
                self.notes.append(
                    f"batch: the judge deadline passed while {record.id} was still running; it stays recorded "
                    f"in {self.state.path}: run again to collect it without paying again."
                )
                when = f"while its batch {record.id} was still running (run again to collect it)"
                self._fail((pending[k] for k in record.keys if k in pending), when, deadline=True)
                return
            left = self._left()
            await asyncio.sleep(self.options.poll_interval if left is None else min(self.options.poll_interval, left))
        rubrics = {
            key: entry.rubric for key in record.keys if (entry := pending.get(key) or self._parked.get(key)) is not None
        }
        try:
            results = await self.api.results(record.id, rubrics)
        except BatchError as exc:
            self.notes.append(f"batch: {exc}; its calls are asked online instead (the batch stays recorded).")
            self._fail((pending[k] for k in record.keys if k in pending), str(exc))
            return
        if self.cache is not None:
            answered = [(key, r) for key, r in results.items() if r.answer is not None]
            await asyncio.to_thread(self._store, answered)
        for key in record.keys:
            entry = pending.get(key)
            if entry is not None and not entry.future.done():
                entry.future.set_result(results.get(key) or BatchResult(error="no result for this call in the batch"))
        await self._forget(record.id)

    async def _forget(self, batch_id: str) -> None:
        """Drop a batch from the state file; a failure costs a needless check next run, nothing more."""
        try:
            await asyncio.to_thread(self.state.remove, batch_id)
        except (OSError, BatchError) as exc:
            self.notes.append(f"batch: could not remove {batch_id} from {self.state.path} ({exc}).")

    def _store(self, answered: list[tuple[str, BatchResult]]) -> None:
        assert self.cache is not None
        for key, result in answered:
            assert result.answer is not None
            self.cache.put(
                key,
                result.answer,
                result.input_tokens,
                result.output_tokens,
                result.cache_read_tokens,
                result.cache_write_tokens,
            )
        # On disk before the batch leaves batches.json: paid answers are never lost.
        self.cache.flush()

    def _past_deadline(self) -> bool:
        left = self._left()
        return left is not None and left <= 0

    def _fail(self, entries: Iterable[_Parked], error: str, *, deadline: bool = False) -> None:
        for entry in entries:
            if not entry.future.done():
                entry.future.set_result(BatchResult(error=error, deadline=deadline))

    # -- the progress bar (main thread) --------------------------------------------------

    def show(self, future: Any, *, progress: bool) -> None:
        """Block until the batch run (a concurrent future) is done, drawing a bar on stderr.

        An interrupted wait (Ctrl-C) says where the batch ids are kept, then goes on interrupting."""
        try:
            self._show(future, progress=progress)
        except KeyboardInterrupt:
            import sys

            if self.progress.batches:
                ids = ", ".join(self.progress.batches)
                print(
                    f"\nbatch: interrupted while waiting for {ids}; the id(s) are kept in {self.state.path}: "
                    "run again to collect the results without paying again.",
                    file=sys.stderr,
                )
            raise

    def _show(self, future: Any, *, progress: bool) -> None:
        import concurrent.futures

        if not progress:
            concurrent.futures.wait([future])
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("[bold]Batch[/bold] {task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task("batch", total=None, phase=self.progress.phase)
            while True:
                finished, _ = concurrent.futures.wait([future], timeout=0.2)
                state = self.progress
                ids = ", ".join(state.batches[:3]) + (" ..." if len(state.batches) > 3 else "")
                phase = f"{state.phase} ({ids})" if state.batches else state.phase
                bar.update(task, total=state.total or None, completed=state.done, phase=phase)
                if finished:
                    break


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
