"""A fake LLM provider on 127.0.0.1 that the real `anthropic` and `openai` SDKs talk to.

It speaks enough of Anthropic's `POST /v1/messages` and OpenAI's `POST /v1/chat/completions`
for the SDKs' structured-output parse calls, and plays a model behind a system under test at
`POST /sut` (`{"input", "reference", "flaky"}` -> `{"answer"}`: the reference, or with
probability `flaky` a wrong answer). It judges by reading the delimited data blocks
of the prompt (token overlap with the reference), so its answers are meaningful, and it can
misbehave on purpose: latency, 429 with or without Retry-After, 5xx, malformed output,
position bias, and hanging (a request that is never answered until the server stops). Every random choice is drawn from a generator seeded by (seed, request body, how many
times that body was seen), so a run does not depend on the order requests arrive in.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_llmgate.judge.offline import CLAIM_SUPPORT, covered, overlap_f1, scale_score, split_claims, tokens
from pytest_llmgate.judge.prompts import parse_blocks

DUMMY_ANTHROPIC_KEY = "sk-ant-test-DUMMY-KEY-0123456789"
DUMMY_OPENAI_KEY = "sk-test-DUMMY-OPENAI-KEY-9876543210"
HANG = 0
"""A `script` status: this request is never answered (until the server stops)."""


@dataclass
class FakeConfig:
    """How the fake provider behaves; rates are probabilities per request."""

    latency: float = 0.0
    """Seconds each request takes."""
    rate_429: float = 0.0
    retry_after: float | None = 0.05
    """Sent as `Retry-After` (seconds) with every 429; None sends no Retry-After."""
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0
    position_bias: float = 0.0
    """Probability of answering "A" in a pairwise judgment regardless of content."""
    rate_hang: float = 0.0
    """Probability that a request is never answered (it hangs until the server stops)."""
    seed: int = 0
    script: list[int] = field(default_factory=list)
    """Statuses forced on the first requests, in order (e.g. [429]); 200 means behave normally,
    `HANG` never answers."""
    score_offset: dict[str, int] = field(default_factory=dict)
    """Points added to pointwise scores per API (`anthropic`, `openai`), clamped to the scale:
    two judges that disagree, for juries."""


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    start: float
    end: float
    status: int


class FakeProvider:
    """The server and what it observed. Start with `start()`, stop with `stop()`."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self.bodies: list[dict[str, Any]] = []
        """Every request body received (parsed JSON), in arrival order."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._seen_bodies: dict[str, int] = {}
        self._seen_prefixes: set[str] = set()
        self.bodies: list[dict[str, Any]] = []
        """Every request body received, in order of arrival."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        """Set by `stop()`: releases hanging requests."""

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeProvider:
        provider = self

        class Handler(_Handler):
            fake = provider

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment that points both SDKs at this server with dummy keys."""
        return {
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": DUMMY_ANTHROPIC_KEY,
            "OPENAI_BASE_URL": self.url + "/v1",
            "OPENAI_API_KEY": DUMMY_OPENAI_KEY,
        }

    def reset(self, config: FakeConfig | None = None) -> None:
        """Forget what was observed (and optionally change the behaviour)."""
        with self._lock:
            if config is not None:
                self.config = config
            self.requests = []
            self.bodies = []
            self.max_in_flight = 0
            self._seen_bodies = {}
            self._seen_prefixes = set()
            self.bodies = []

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def count(self, status: int) -> int:
        with self._lock:
            return sum(seen.status == status for seen in self.requests)

    # -- behaviour -------------------------------------------------------------------

    def _rng(self, body: bytes) -> random.Random:
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            n = self._seen_bodies.get(digest, 0)
            self._seen_bodies[digest] = n + 1
        seed = hashlib.sha256(f"{self.config.seed}|{digest}|{n}".encode()).digest()
        return random.Random(int.from_bytes(seed[:8], "big"))

    def prefix_seen(self, prefix: str) -> bool:
        """Whether this system prompt was seen before (a prompt-cache hit); records it."""
        with self._lock:
            seen = prefix in self._seen_prefixes
            self._seen_prefixes.add(prefix)
        return seen

    def _script_status(self) -> int | None:
        with self._lock:
            if self.config.script:
                return self.config.script.pop(0)
        return None


def _schema_properties(body: dict[str, Any], api: str) -> dict[str, Any]:
    if api == "anthropic":
        schema = body.get("output_config", {}).get("format", {}).get("schema", {})
    else:
        schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    return schema.get("properties", {})


def _user_text(body: dict[str, Any], api: str) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content)
            return str(content)
    return ""


def _system_text(body: dict[str, Any], api: str) -> str:
    if api == "anthropic":
        system = body.get("system", "")
        if isinstance(system, list):
            return "".join(part.get("text", "") for part in system)
        return str(system)
    for message in body.get("messages", []):
        if message.get("role") == "system":
            return str(message.get("content"))
    return ""


def _anthropic_cache_marked(body: dict[str, Any]) -> bool:
    system = body.get("system")
    return isinstance(system, list) and any(part.get("cache_control") for part in system)


def _quality(text: str, reference: str | None) -> float:
    """How good a response is, as the fake judge sees it."""
    if reference is not None:
        return overlap_f1(text, reference)
    return float(len(set(tokens(text))))


def judge(
    body: dict[str, Any], api: str, rng: random.Random, position_bias: float, score_offset: int = 0
) -> dict[str, Any]:
    """A meaningful answer to a judge prompt, from its data blocks."""
    properties = _schema_properties(body, api)
    text = _user_text(body, api)
    blocks = parse_blocks(text)
    reference = blocks.get("reference")
    context = "\n".join(body for name, body in blocks.items() if name.startswith("context_"))
    if "claims" in properties:
        claims = split_claims(blocks.get("candidate", ""))
        return {"reason": f"{len(claims)} claims", "claims": claims}
    if "verdicts" in properties:
        numbers = sorted(int(name.split("_")[1]) for name in blocks if name.startswith("claim_"))
        verdicts = []
        for number in numbers:
            share = covered(blocks[f"claim_{number}"], context)
            verdict = "supported" if share >= CLAIM_SUPPORT else "unsupported"
            verdicts.append({"claim": number, "reason": f"{share:.0%} in the context", "verdict": verdict})
        return {"verdicts": verdicts}
    if "preference" in properties:
        if rng.random() < position_bias:
            return {"reason": "A reads better.", "preference": "A"}
        quality_a = _quality(blocks.get("response_a", ""), reference)
        quality_b = _quality(blocks.get("response_b", ""), reference)
        if abs(quality_a - quality_b) <= 1e-9:
            return {"reason": "Equally good.", "preference": "tie"}
        return {"reason": "Closer to the reference.", "preference": "A" if quality_a > quality_b else "B"}
    if reference is not None:
        f1 = overlap_f1(blocks.get("candidate", ""), reference)
    elif context:
        f1 = covered(blocks.get("candidate", ""), context)
    else:
        f1 = 0.5
    if "verdict" in properties:
        return {"reason": f"overlap {f1:.2f}", "verdict": "pass" if f1 >= 0.5 else "fail"}
    match = re.search(r"scale from (\d+) to (\d+)", _system_text(body, api) + text)
    low, high = (int(match.group(1)), int(match.group(2))) if match else (1, 5)
    score = min(high, max(low, scale_score(f1, low, high) + score_offset))
    return {"reason": f"overlap {f1:.2f}", "score": score}


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connection attempts when many clients connect at
    # once, which shows up as one-second stalls (SYN retransmits) on the client side.
    request_queue_size = 1024
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; without TCP_NODELAY each response waits for
    # a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    fake: FakeProvider

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        fake = self.fake
        start = time.monotonic()
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        decremented = False
        try:
            if self.path.rstrip("/").endswith("/v1/messages"):
                api = "anthropic"
            elif self.path.rstrip("/").endswith("/chat/completions"):
                api = "openai"
            elif self.path.rstrip("/") == "/sut":
                api = "sut"
            else:
                status, payload, headers = 404, {"error": {"message": f"no route {self.path}"}}, {}
                api = ""
            if api:
                answer = self._respond(api, raw)
                if answer is None:  # hung until the server stopped: never answered, not recorded
                    self.close_connection = True
                    return
                status, payload, headers = answer
            # Leave the in-flight count before answering, so the server never counts a
            # request the client already considers finished.
            with fake._lock:
                fake.in_flight -= 1
                decremented = True
                fake.requests.append(Seen(self.path, start, time.monotonic(), status))
            self._send(status, payload, headers)
        finally:
            if not decremented:
                with fake._lock:
                    fake.in_flight -= 1

    def _respond(self, api: str, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        fake = self.fake
        config = fake.config
        body = json.loads(raw)
        with fake._lock:
            fake.bodies.append(body)
        rng = fake._rng(raw)
        if config.latency:
            time.sleep(config.latency)
        if api == "sut":
            wrong = rng.random() < float(body.get("flaky", 0.0))
            answer = "I am not sure, please ask support." if wrong else str(body.get("reference", ""))
            return 200, {"answer": answer}, {}
        forced = fake._script_status()
        if forced == HANG or (forced is None and config.rate_hang and rng.random() < config.rate_hang):
            fake.stopping.wait()
            return None
        roll = rng.random()
        status = forced if forced is not None else 200
        if forced is None:
            if roll < config.rate_429:
                status = 429
            elif roll < config.rate_429 + config.rate_5xx:
                status = 503
        if status == 429:
            headers = {} if config.retry_after is None else {"Retry-After": f"{config.retry_after:g}"}
            return 429, _error_body(api, "rate_limit_error", "Rate limited."), headers
        if status >= 500:
            return status, _error_body(api, "api_error", "Overloaded."), {}
        malformed = forced is None and rng.random() < config.rate_malformed
        if malformed:
            text = rng.choice(["I would say A is better.", '{"reason": "missing the judgment"}', '{"score": '])
        else:
            text = json.dumps(judge(body, api, rng, config.position_bias, config.score_offset.get(api, 0)))
        # Usage like the real APIs': the system prompt is a cacheable prefix. Anthropic caches it
        # only when marked with cache_control and reports cache reads and writes apart from
        # `input_tokens`; OpenAI caches every repeated prefix and counts it inside prompt_tokens.
        prompt = _user_text(body, api)
        system = _system_text(body, api)
        prefix_tokens = len(system) // 4
        usage_in, usage_out = len(prompt) // 4 + 10, len(text) // 4 + 1
        cache_read = cache_write = 0
        if api == "openai" or _anthropic_cache_marked(body):
            if fake.prefix_seen(system):
                cache_read = prefix_tokens
            elif api == "anthropic":
                cache_write = prefix_tokens
            else:
                usage_in += prefix_tokens
        else:
            usage_in += prefix_tokens
        model = body.get("model", "fake")
        if api == "anthropic":
            return (
                200,
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": usage_in,
                        "output_tokens": usage_out,
                        "cache_read_input_tokens": cache_read,
                        "cache_creation_input_tokens": cache_write,
                    },
                },
                {},
            )
        return (
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": usage_in + cache_read,
                    "completion_tokens": usage_out,
                    "total_tokens": usage_in + cache_read + usage_out,
                    "prompt_tokens_details": {"cached_tokens": cache_read},
                },
            },
            {},
        )


def _error_body(api: str, kind: str, message: str) -> dict[str, Any]:
    if api == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """A running fake provider; both SDKs point at it through their usual env vars."""
    server = FakeProvider().start()
    for name in (
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CUSTOM_HEADERS",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield server
    finally:
        server.stop()


def subprocess_env(server: FakeProvider) -> dict[str, str]:
    """The current environment plus the fake provider's (for child processes)."""
    env = dict(os.environ)
    env.update(server.env())
    return env


def serve(argv: list[str]) -> None:
    """Run a fake provider in its own process (for benchmarks): prints its URL, serves
    until stdin closes. Usage: `python fake_provider.py LATENCY [CONFIG_JSON]`, where
    CONFIG_JSON holds more FakeConfig fields, e.g. '{"rate_429": 0.1, "retry_after": 1}'."""
    import sys

    fields = json.loads(argv[1]) if len(argv) > 1 else {}
    server = FakeProvider(FakeConfig(latency=float(argv[0]) if argv else 0.0, **fields)).start()
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    import sys

    serve(sys.argv[1:])
