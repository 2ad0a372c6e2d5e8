"""Judge providers: Anthropic, OpenAI and OpenAI-compatible servers through the official
SDKs with JSON-schema structured output, and the offline overlap judge.

A remote provider builds a call's request body once (`request`) and reads a reply once
(`parse`); sending it online (`send`) or in a batch (judge/batch.py) are two transports.

Providers make exactly one request per `ask`; retries, backoff and concurrency belong to
the engine, so the SDKs' own retries are disabled (`max_retries=0`).
Keys are read by the SDKs from their usual environment variables and never stored here.
"""

from __future__ import annotations

import email.utils
import functools
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import pydantic

from pytest_llmgate._redact import without_credentials
from pytest_llmgate.judge import offline
from pytest_llmgate.judge.schemas import SCHEMAS
from pytest_llmgate.judge.spec import JudgeConfigError, parse_spec

if TYPE_CHECKING:
    from pytest_llmgate.judge.prompts import RenderedPrompt
    from pytest_llmgate.judge.rubrics import Rubric

#: Largest judge reply, in tokens.
MAX_TOKENS = 1024
#: Anthropic's prompt-cache marker on the stable prefix (a five-minute cache).
CACHE_CONTROL: Any = {"type": "ephemeral"}


class ProviderError(Exception):
    """A provider request failed. `retryable` errors are retried by the engine."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        rate_limited: bool = False,
        malformed: bool = False,
        retry_after: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.rate_limited = rate_limited
        self.malformed = malformed
        self.retry_after = retry_after
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.cache_write_tokens = cache_write_tokens


@dataclass(frozen=True)
class ProviderAnswer:
    """A parsed structured answer and the tokens the request used."""

    answer: dict[str, Any]
    input_tokens: int = 0
    """Every input token, prompt-cache reads and writes included (as OpenAI counts them)."""
    output_tokens: int = 0
    cache_read_tokens: int = 0
    """Input tokens served from the provider's prompt cache (billed at a discount)."""
    cache_write_tokens: int = 0
    """Input tokens written to the provider's prompt cache (Anthropic bills a premium)."""


class Tokens(TypedDict):
    """Token counts of one reply, as `ProviderAnswer` and `ProviderError` take them."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


def anthropic_usage(usage: Mapping[str, Any] | None) -> Tokens:
    """Token counts of an Anthropic reply's `usage`; its `input_tokens` excludes cache reads and writes."""
    usage = usage or {}
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    return {
        "input_tokens": (usage.get("input_tokens") or 0) + read + write,
        "output_tokens": usage.get("output_tokens") or 0,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


def openai_usage(usage: Mapping[str, Any] | None) -> Tokens:
    """Token counts of an OpenAI reply's `usage`; `prompt_tokens` already includes the cached ones."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    return {
        "input_tokens": usage.get("prompt_tokens") or 0,
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_read_tokens": details.get("cached_tokens") or 0,
        "cache_write_tokens": 0,
    }


class Provider(Protocol):
    name: str
    """`provider:model` (with the base URL for an OpenAI-compatible server), shown in every report."""
    identity: str
    """`provider:model` without any URL: the judge's fingerprint and part of every cache key."""
    kind: str
    """`anthropic`, `openai`, `openai-compatible` or `offline` (which price table applies)."""
    model: str
    remote: bool
    """True when calls cost money and time (cached, counted, budgeted)."""
    parameters: dict[str, Any]
    """Request parameters sent with every call; part of the cache key."""

    async def ask(self, rubric: Rubric, prompt: RenderedPrompt, timeout: float) -> ProviderAnswer: ...

    async def aclose(self) -> None: ...


class RemoteProvider(Provider, Protocol):
    """A provider behind an HTTP API. A judge call is one request body, built once by `request`,
    and one reply, read once by `parse`; `send` is the online transport between them, and a
    batch API (judge/batch.py) is another transport for the same bodies and replies."""

    def request(self, rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
        """The JSON body of the call (the batch line's `params` or `body`)."""

    async def send(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one body online; the reply's JSON. SDK failures become `ProviderError`s."""

    def parse(self, rubric: Rubric, prompt: RenderedPrompt, reply: Mapping[str, Any]) -> ProviderAnswer:
        """The checked answer in a reply; `ProviderError(malformed=True)` with the tokens if unusable."""


@functools.cache
def response_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of an answer, as both structured-output APIs take it. The answer models
    forbid extra fields and default none, so pydantic's schema is already strict (every
    object closed, every property required), which both APIs demand."""
    return SCHEMAS[kind].model_json_schema()


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def check_answer(rubric: Rubric, answer: dict[str, Any], prompt: RenderedPrompt | None = None) -> None:
    """Reject a well-formed answer that is out of the rubric's range (treated as malformed)."""
    if prompt is not None and prompt.schema == "claims":
        return
    if prompt is not None and prompt.schema == "claim_verdicts":
        from pytest_llmgate.judge.claims import check_verdicts

        problem = check_verdicts(answer, prompt.expect_items or 0)
        if problem is not None:
            raise ProviderError(problem, malformed=True)
        return
    if rubric.kind == "pointwise":
        score = answer.get("score")
        if not isinstance(score, int) or not rubric.scale_min <= score <= rubric.scale_max:
            msg = f"score {score!r} is outside the scale {rubric.scale_min}..{rubric.scale_max}"
            raise ProviderError(msg, malformed=True)


def answer_from_text(rubric: Rubric, prompt: RenderedPrompt, text: str | None, tokens: Tokens) -> ProviderAnswer:
    """The answer in a reply's text, validated against the schema and the rubric's range;
    anything unusable is malformed output (its tokens are still counted)."""
    if not text:
        raise ProviderError("malformed judge output: no text in the reply", malformed=True, **tokens)
    try:
        answer = SCHEMAS[prompt.schema or rubric.kind].model_validate_json(text).model_dump()
        check_answer(rubric, answer, prompt)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]["msg"]
        raise ProviderError(f"malformed judge output: {first}", malformed=True, **tokens) from None
    except ProviderError as exc:
        raise ProviderError(f"malformed judge output: {exc}", malformed=True, **tokens) from None
    return ProviderAnswer(answer=answer, **tokens)


def _classify(exc: BaseException, sdk: Any) -> ProviderError:
    """Map an SDK exception onto a ProviderError (the message never includes credentials)."""
    if isinstance(exc, ValueError) and not isinstance(exc, sdk.APIError):
        return ProviderError(f"malformed judge output: the reply is not JSON ({exc})", malformed=True)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("judge request timed out", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(f"cannot connect to the judge provider: {type(exc).__name__}", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        retry_after = retry_after_seconds(getattr(exc.response, "headers", None))
        if status == 429:
            return ProviderError("rate limited (HTTP 429)", retryable=True, rate_limited=True, retry_after=retry_after)
        if status >= 500 or status == 408:
            return ProviderError(f"provider error (HTTP {status})", retryable=True, retry_after=retry_after)
        return ProviderError(f"provider rejected the request (HTTP {status}): {_short(exc)}")
    return ProviderError(f"{type(exc).__name__}: {exc}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _json_reply(raw: Any) -> dict[str, Any]:
    """The JSON object of a raw SDK response (`with_raw_response`): read once, as a batch line is."""
    reply = json.loads(raw.http_response.content)
    if not isinstance(reply, dict):
        msg = f"expected a JSON object, got {type(reply).__name__}"
        raise ValueError(msg)
    return reply


class AnthropicProvider:
    """Claude through the Messages API with a JSON-schema output format (`output_config`).

    Only `max_tokens` is sent (no `temperature`). The system prompt (the part of the prompt
    every case of a rubric shares) is marked with `cache_control`, so Anthropic serves it
    from its prompt cache after the first call.
    """

    remote = True
    parameters: dict[str, Any] = {"max_tokens": MAX_TOKENS}

    def __init__(self, model: str, timeout: float) -> None:
        import anthropic

        self._sdk = anthropic
        self.model = model
        self.name = self.identity = f"anthropic:{model}"
        self.kind = "anthropic"
        self.client = anthropic.AsyncAnthropic(max_retries=0, timeout=timeout)
        """The SDK client (the batch transport sends through it too)."""

    def request(self, rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": MAX_TOKENS,
            "system": [{"type": "text", "text": prompt.system, "cache_control": CACHE_CONTROL}],
            "messages": [{"role": "user", "content": prompt.user}],
            "output_config": {
                "format": {"type": "json_schema", "schema": response_schema(prompt.schema or rubric.kind)}
            },
        }

    async def send(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            raw = await self.client.messages.with_raw_response.create(**body, timeout=timeout)
            return _json_reply(raw)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a typed error
            raise _classify(exc, self._sdk) from None

    def parse(self, rubric: Rubric, prompt: RenderedPrompt, reply: Mapping[str, Any]) -> ProviderAnswer:
        tokens = anthropic_usage(reply.get("usage"))
        if reply.get("stop_reason") == "refusal":
            raise ProviderError("the judge refused to answer", malformed=True, **tokens)
        content = reply.get("content") or []
        text = next((b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"), None)
        return answer_from_text(rubric, prompt, text, tokens)

    async def ask(self, rubric: Rubric, prompt: RenderedPrompt, timeout: float) -> ProviderAnswer:
        return self.parse(rubric, prompt, await self.send(self.request(rubric, prompt), timeout))

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIProvider:
    """OpenAI, or any OpenAI-compatible server, through chat completions with a strict JSON-schema
    `response_format`."""

    remote = True
    parameters: dict[str, Any] = {"max_completion_tokens": MAX_TOKENS, "temperature": 0.0}

    def __init__(self, model: str, timeout: float, base_url: str | None = None) -> None:
        import openai

        self._sdk = openai
        self.model = model
        self.kind = "openai" if base_url is None else "openai-compatible"
        self.identity = f"{self.kind}:{model}"
        if base_url is None:
            self.name = f"openai:{model}"
            self.client = openai.AsyncOpenAI(max_retries=0, timeout=timeout)
        else:
            self.name = without_credentials(f"openai-compatible:{model}@{base_url}")
            # Local servers (vLLM, Ollama, llama.cpp) usually need no key; the SDK needs a string.
            api_key = os.environ.get("OPENAI_API_KEY") or "not-needed"
            self.client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    def request(self, rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
        kind = prompt.schema or rubric.kind
        return {
            "model": self.model,
            "max_completion_tokens": MAX_TOKENS,
            "temperature": 0.0,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": SCHEMAS[kind].__name__, "schema": response_schema(kind), "strict": True},
            },
        }

    async def send(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            raw = await self.client.chat.completions.with_raw_response.create(**body, timeout=timeout)
            return _json_reply(raw)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a typed error
            raise _classify(exc, self._sdk) from None

    def parse(self, rubric: Rubric, prompt: RenderedPrompt, reply: Mapping[str, Any]) -> ProviderAnswer:
        tokens = openai_usage(reply.get("usage"))
        choices = reply.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise ProviderError("malformed judge output: no choices in the reply", malformed=True, **tokens)
        message = choices[0].get("message") or {}
        if message.get("refusal"):
            raise ProviderError(f"the judge refused: {str(message['refusal'])[:200]}", malformed=True, **tokens)
        return answer_from_text(rubric, prompt, message.get("content"), tokens)

    async def ask(self, rubric: Rubric, prompt: RenderedPrompt, timeout: float) -> ProviderAnswer:
        return self.parse(rubric, prompt, await self.send(self.request(rubric, prompt), timeout))

    async def aclose(self) -> None:
        await self.client.close()


class OfflineProvider:
    """The offline overlap judge behind the provider interface (no I/O, no tokens)."""

    remote = False
    parameters: dict[str, Any] = {}
    model = "overlap-v1"
    name = identity = offline.OFFLINE_NAME
    kind = "offline"

    async def ask(self, rubric: Rubric, prompt: RenderedPrompt, timeout: float) -> ProviderAnswer:
        try:
            return ProviderAnswer(answer=offline.answer(rubric, prompt))
        except offline.OfflineJudgeError as exc:
            raise ProviderError(str(exc)) from None

    async def aclose(self) -> None:
        return None


def make_provider(spec: str | None, timeout: float) -> Provider:
    """Build the provider named by a judge spec."""
    provider, model, base_url = parse_spec(spec)
    if provider == "offline":
        return OfflineProvider()
    try:
        if provider == "anthropic":
            return AnthropicProvider(model, timeout)
        return OpenAIProvider(model, timeout, base_url=base_url)
    except Exception as exc:  # noqa: BLE001 - the SDKs raise their own types for a missing key
        variable = "ANTHROPIC_API_KEY" if provider == "anthropic" else "OPENAI_API_KEY"
        msg = f"cannot create the {provider} judge client ({type(exc).__name__}); set {variable} or use the offline judge."
        raise JudgeConfigError(msg) from None
