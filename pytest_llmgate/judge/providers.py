"""Judge providers: Anthropic, OpenAI and OpenAI-compatible servers through the official
SDKs' structured-output parse APIs, and the offline overlap judge.

Providers make exactly one request per `ask`; retries, backoff and concurrency belong to
the engine, so the SDKs' own retries are disabled (`max_retries=0`).
Keys are read by the SDKs from their usual environment variables and never stored here.
"""

from __future__ import annotations

import email.utils
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import pydantic

from pytest_llmgate._redact import without_credentials
from pytest_llmgate.judge import offline
from pytest_llmgate.judge.schemas import SCHEMAS

if TYPE_CHECKING:
    from pytest_llmgate.judge.prompts import RenderedPrompt
    from pytest_llmgate.judge.rubrics import Rubric

#: Largest judge reply, in tokens.
MAX_TOKENS = 1024
#: Anthropic's prompt-cache marker on the stable prefix (a five-minute cache).
CACHE_CONTROL: Any = {"type": "ephemeral"}


class JudgeConfigError(ValueError):
    """The judge specification is unusable (unknown provider, missing model or URL)."""


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


def anthropic_usage(usage: Any) -> Tokens:
    """Token counts of an Anthropic reply; its `input_tokens` excludes cache reads and writes."""
    read = getattr(usage, "cache_read_input_tokens", None) or 0
    write = getattr(usage, "cache_creation_input_tokens", None) or 0
    return {
        "input_tokens": (usage.input_tokens or 0) + read + write,
        "output_tokens": usage.output_tokens or 0,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


def openai_usage(usage: Any) -> Tokens:
    """Token counts of an OpenAI reply; `prompt_tokens` already includes the cached ones."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0}
    details = getattr(usage, "prompt_tokens_details", None)
    return {
        "input_tokens": usage.prompt_tokens or 0,
        "output_tokens": usage.completion_tokens or 0,
        "cache_read_tokens": (getattr(details, "cached_tokens", None) or 0) if details is not None else 0,
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


def _classify(exc: BaseException, sdk: Any) -> ProviderError:
    """Map an SDK exception onto a ProviderError (the message never includes credentials)."""
    if isinstance(exc, pydantic.ValidationError | ValueError) and not isinstance(exc, sdk.APIError):
        first = exc.errors()[0]["msg"] if isinstance(exc, pydantic.ValidationError) else str(exc)
        return ProviderError(f"malformed judge output: {first}", malformed=True)
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


class AnthropicProvider:
    """Claude through `AsyncAnthropic().messages.parse(output_format=...)`.

    The installed SDK's Messages API takes no `temperature`; only `max_tokens` is sent. The
    system prompt (the part of the prompt every case of a rubric shares) is marked with
    `cache_control`, so Anthropic serves it from its prompt cache after the first call.
    """

    remote = True
    parameters: dict[str, Any] = {"max_tokens": MAX_TOKENS}

    def __init__(self, model: str, timeout: float) -> None:
        import anthropic

        self._sdk = anthropic
        self.model = model
        self.name = self.identity = f"anthropic:{model}"
        self.kind = "anthropic"
        self._client = anthropic.AsyncAnthropic(max_retries=0, timeout=timeout)

    async def ask(self, rubric: Rubric, prompt: RenderedPrompt, timeout: float) -> ProviderAnswer:
        schema = SCHEMAS[prompt.schema or rubric.kind]
        try:
            message = await self._client.messages.parse(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=[{"type": "text", "text": prompt.system, "cache_control": CACHE_CONTROL}],
                messages=[{"role": "user", "content": prompt.user}],
                output_format=schema,
                timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a typed error
            raise _classify(exc, self._sdk) from None
        return _checked_answer(rubric, prompt, message.parsed_output, anthropic_usage(message.usage))

    async def aclose(self) -> None:
        await self._client.close()


def _checked_answer(
    rubric: Rubric, prompt: RenderedPrompt, parsed: pydantic.BaseModel | None, tokens: Tokens
) -> ProviderAnswer:
    """The SDK's parsed answer, checked against the rubric; anything unusable is malformed output."""
    if parsed is None:
        raise ProviderError("malformed judge output: no structured answer in the reply", malformed=True, **tokens)
    answer = parsed.model_dump()
    try:
        check_answer(rubric, answer, prompt)
    except ProviderError as exc:
        raise ProviderError(str(exc), malformed=True, **tokens) from None
    return ProviderAnswer(answer=answer, **tokens)


class OpenAIProvider:
    """OpenAI, or any OpenAI-compatible server, through `chat.completions.parse(response_format=...)`."""

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
            self._client = openai.AsyncOpenAI(max_retries=0, timeout=timeout)
        else:
            self.name = without_credentials(f"openai-compatible:{model}@{base_url}")
            # Local servers (vLLM, Ollama, llama.cpp) usually need no key; the SDK needs a string.
            api_key = os.environ.get("OPENAI_API_KEY") or "not-needed"
            self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    async def ask(self, rubric: Rubric, prompt: RenderedPrompt, timeout: float) -> ProviderAnswer:
        schema = SCHEMAS[prompt.schema or rubric.kind]
        try:
            completion = await self._client.chat.completions.parse(
                model=self.model,
                max_completion_tokens=MAX_TOKENS,
                temperature=0.0,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                response_format=schema,
                timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a typed error
            raise _classify(exc, self._sdk) from None
        tokens = openai_usage(completion.usage)
        if not completion.choices:
            raise ProviderError("malformed judge output: no choices in the reply", malformed=True, **tokens)
        message = completion.choices[0].message
        if message.refusal:
            raise ProviderError(f"the judge refused: {message.refusal[:200]}", malformed=True, **tokens)
        return _checked_answer(rubric, prompt, message.parsed, tokens)

    async def aclose(self) -> None:
        await self._client.close()


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


def parse_spec(spec: str | None) -> tuple[str, str, str | None]:
    """Split a judge spec into (provider, model, base_url).

    `offline`, `anthropic:<model>`, `openai:<model>`, `openai-compatible:<model>@<base_url>`.
    """
    spec = (spec or "offline").strip()
    if spec in ("offline", offline.OFFLINE_NAME):
        return "offline", "overlap-v1", None
    provider, _, rest = spec.partition(":")
    if provider not in ("anthropic", "openai", "openai-compatible") or not rest:
        msg = (
            f"judge must be 'offline', 'anthropic:<model>', 'openai:<model>' or "
            f"'openai-compatible:<model>@<base_url>' (got {without_credentials(spec)!r})."
        )
        raise JudgeConfigError(msg)
    if provider == "openai-compatible":
        model, _, base_url = rest.partition("@")
        if not model or not base_url.startswith(("http://", "https://")):
            msg = f"an OpenAI-compatible judge needs '<model>@<http(s) base URL>' (got {without_credentials(spec)!r})."
            raise JudgeConfigError(msg)
        return provider, model, base_url
    return provider, rest, None


def judge_identity(fingerprint: str) -> str:
    """The model identity in a judge fingerprint: `openai-compatible:m@http://host:port/v1`
    (as older baselines recorded it) becomes `openai-compatible:m`; others are unchanged."""
    # A jury's fingerprint joins its judges with " + ".
    parts = fingerprint.split(" + ")
    return " + ".join(p.split("@", 1)[0] if p.startswith("openai-compatible:") else p for p in parts)


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
