"""The providers' batch APIs: Anthropic Message Batches and the OpenAI Batch API, through their SDKs.

Each `BatchApi` turns request bodies the provider built into batch lines, creates a batch,
reports its status and reads its results back as replies by `custom_id`. What is sent when,
the state file and the collection are `judge/batch.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pytest_llmgate._files import utf8

if TYPE_CHECKING:
    from pytest_llmgate.judge.providers import Provider


class BatchError(Exception):
    """A batch API request failed; `missing` when the batch id is unknown to the provider."""

    def __init__(self, message: str, *, missing: bool = False, retryable: bool = False) -> None:
        super().__init__(message)
        self.missing = missing
        self.retryable = retryable


@dataclass(frozen=True)
class BatchReply:
    """One line of a batch's results: the reply body (as an online call returns it) or an error."""

    reply: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class BatchOutput:
    """A batch's results as read: replies by custom_id, and the lines that could not be read."""

    replies: dict[str, BatchReply] = field(default_factory=dict)
    unreadable: int = 0
    """Result lines that are not JSON or lack a custom_id; their calls have no reply (asked online)."""


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
    """One provider's batch endpoints, through its official SDK: the transport for request
    bodies built by the provider's `request`, whose replies its `parse` reads."""

    title: str
    max_requests: int
    max_bytes: int

    def line(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request line of a batch: the body, with the cache key as its `custom_id`."""

    async def submit(self, lines: list[dict[str, Any]]) -> str:
        """Create a batch; returns its id."""

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str) -> BatchOutput: ...


def _status_error(exc: BaseException, sdk: Any, what: str) -> BatchError:
    if isinstance(exc, sdk.NotFoundError):
        return BatchError(f"{what}: not found (HTTP 404)", missing=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        return BatchError(f"{what}: HTTP {status}", retryable=status == 429 or status >= 500)
    if isinstance(exc, sdk.APIConnectionError):
        return BatchError(f"{what}: {type(exc).__name__}", retryable=True)
    return BatchError(f"{what}: {type(exc).__name__}: {exc}")


def _field(value: Any, name: str) -> Any:
    """`value[name]` when `value` is a JSON object, else None (result lines are untrusted)."""
    return value.get(name) if isinstance(value, dict) else None


def anthropic_line(line: dict[str, Any]) -> BatchReply:
    """One line of an Anthropic batch's results: the message, or why there is none."""
    result = line.get("result")
    kind, message = _field(result, "type"), _field(result, "message")
    if kind == "succeeded" and isinstance(message, dict):
        return BatchReply(reply=message)
    if kind == "errored":
        error = _field(_field(result, "error"), "error")
        return BatchReply(error=f"error inside the batch: {_field(error, 'type')}")
    return BatchReply(error=f"request {kind} inside the batch")


def openai_line(line: dict[str, Any]) -> BatchReply:
    """One line of an OpenAI batch's output or error file: the completion, or why there is none."""
    response = line.get("response")
    body = _field(response, "body")
    if _field(response, "status_code") == 200 and isinstance(body, dict):
        return BatchReply(reply=body)
    status = _field(response, "status_code") or _field(_field(line, "error"), "code") or "unknown"
    return BatchReply(error=f"error inside the batch: {status}")


def _jsonl(data: bytes | str) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSONL file with a `custom_id`, and how many lines were unreadable."""
    lines: list[dict[str, Any]] = []
    unreadable = 0
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            unreadable += 1
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            unreadable += 1
            continue
        lines.append(line)
    return lines, unreadable


class AnthropicBatches:
    """The Anthropic Message Batches API (100,000 requests or 256 MB per batch)."""

    title = "Anthropic Message Batches"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def __init__(self, client: Any) -> None:
        import anthropic

        self._sdk = anthropic
        # Status checks and downloads are idempotent, so the SDK may retry them; creating a
        # batch is not (a lost response would mean paying twice), so `submit` never retries.
        self._client = client.with_options(max_retries=2)
        self._create = client.with_options(max_retries=0)

    def line(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": key, "params": body}

    async def submit(self, lines: list[dict[str, Any]]) -> str:
        try:
            batch = await self._create.messages.batches.create(requests=lines)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a typed error
            raise _status_error(exc, self._sdk, "creating the batch") from None
        return str(batch.id)

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

    async def results(self, batch_id: str) -> BatchOutput:
        try:
            # The raw JSONL, read line by line here: the SDK's decoder stops at the first bad line.
            raw = await self._client.messages.batches.with_raw_response.results(batch_id)
            data = await raw.read()
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, f"results of batch {batch_id}") from None
        lines, unreadable = _jsonl(data)
        output = BatchOutput(unreadable=unreadable)
        for line in lines:
            output.replies[line["custom_id"]] = anthropic_line(line)
        return output


class OpenAIBatches:
    """The OpenAI Batch API over `/v1/chat/completions` (50,000 requests or 200 MB per file)."""

    title = "OpenAI Batch API"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def __init__(self, client: Any) -> None:
        import openai

        self._sdk = openai
        self._client = client.with_options(max_retries=2)
        self._create = client.with_options(max_retries=0)

    def line(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body}

    async def submit(self, lines: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in lines)
        try:
            upload = await self._create.files.create(
                file=("llmgate-judge-batch.jsonl", utf8(data), "application/jsonl"), purpose="batch"
            )
            batch = await self._create.batches.create(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, "creating the batch") from None
        return str(batch.id)

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

    async def _lines(self, file_id: str | None) -> tuple[list[dict[str, Any]], int]:
        if not file_id:
            return [], 0
        try:
            content = await self._client.files.content(file_id)
        except Exception as exc:  # noqa: BLE001
            raise _status_error(exc, self._sdk, f"batch file {file_id}") from None
        return _jsonl(content.content)

    async def results(self, batch_id: str) -> BatchOutput:
        batch = await self._retrieve(batch_id)
        output, errors = await self._lines(batch.output_file_id), await self._lines(batch.error_file_id)
        result = BatchOutput(unreadable=output[1] + errors[1])
        for line in output[0] + errors[0]:
            result.replies[line["custom_id"]] = openai_line(line)
        return result


def make_batch_api(provider: Provider) -> BatchApi | None:
    """The batch API of a judge, or None when the provider has none (offline, OpenAI-compatible)."""
    from pytest_llmgate.judge.providers import AnthropicProvider, OpenAIProvider

    if isinstance(provider, AnthropicProvider):
        return AnthropicBatches(provider.client)
    if isinstance(provider, OpenAIProvider) and provider.kind == "openai":
        return OpenAIBatches(provider.client)
    return None
