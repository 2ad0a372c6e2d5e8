"""A fake LLM provider on 127.0.0.1 that the real `anthropic` and `openai` SDKs talk to.

It speaks enough of Anthropic's `POST /v1/messages` and OpenAI's `POST /v1/chat/completions`
for the SDKs' structured-output parse calls, and of both batch APIs (Anthropic Message
Batches: create, retrieve, results; OpenAI: file upload, batch create and retrieve, file
content) for batch mode, and plays a model behind a system under test at
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
    batch_polls: int = 1
    """Batch API: how many retrievals of a batch report it in progress before it has ended."""
    batch_hold: bool = False
    """Batch API: while True, every batch stays in progress (to interrupt a wait)."""
    batch_rate_malformed: float = 0.0
    """Batch API: probability that a request's answer inside a batch is malformed."""
    batch_rate_errored: float = 0.0
    """Batch API: probability that a request inside a batch ends as an error (HTTP 500 inside)."""
    batch_expire: bool = False
    """Batch API: batches end with every request expired (the 24-hour window ran out)."""
    batch_create_status: int = 200
    """Batch API: the status of every batch creation (e.g. 500 to refuse them all)."""
    batch_status_status: int = 200
    """Batch API: the status of every status check of a batch (e.g. 503: it keeps failing)."""
    batch_unreadable_lines: int = 0
    """Batch API: how many result lines (the first ones) are cut short and cannot be read."""


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    start: float
    end: float
    status: int
    body: bytes = b""
    """The request body as sent (to compare what the online and batch paths send)."""


@dataclass
class FakeBatch:
    """One batch submitted through the Anthropic Message Batches or the OpenAI Batch API."""

    api: str
    """`anthropic` or `openai`."""
    id: str
    requests: list[tuple[str, dict[str, Any]]]
    """(custom_id, request body) in submission order."""
    created: float
    input_file_id: str | None = None
    polls: int = 0
    """Retrievals answered so far."""
    results: list[dict[str, Any]] | None = None
    """Per request, set when the batch ends: {custom_id, status, body} (body: reply or error)."""
    ended: float | None = None
    output_file_id: str | None = None
    """OpenAI: the file of successful results, once ended."""
    error_file_id: str | None = None
    """OpenAI: the file of failed requests, once ended."""


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
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.batches: dict[str, FakeBatch] = {}
        """Batches created through either batch API, by id."""
        self.files: dict[str, bytes] = {}
        """Files uploaded or produced through the OpenAI files API, by id."""
        self.batch_log: list[tuple[str, str]] = []
        """Batch API operations in order: (create | retrieve | results | upload | content, id)."""
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
        """Forget what was observed (and optionally change the behaviour); batches and files stay."""
        with self._lock:
            if config is not None:
                self.config = config
            self.batch_log = []
            self.requests = []
            self.bodies = []
            self.max_in_flight = 0
            self._seen_bodies = {}
            self._seen_prefixes = set()

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

    def respond(
        self, api: str, raw: bytes, *, batched: bool = False
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Status, body and headers of one messages / chat completions request; None when it
        hung until the server stopped.

        Inside a batch (`batched`) there is no latency, script, 429 or 5xx roll: a request
        errors with `batch_rate_errored` and is malformed with `batch_rate_malformed`.
        """
        config = self.config
        body = json.loads(raw)
        if not batched:
            with self._lock:
                self.bodies.append(body)
        rng = self._rng(raw)
        offset = config.score_offset.get(api, 0)
        if batched:
            if rng.random() < config.batch_rate_errored:
                return 500, _error_body(api, "api_error", "Internal error."), {}
            return 200, _reply(self, api, body, rng, config.batch_rate_malformed, config.position_bias, offset), {}
        if config.latency:
            time.sleep(config.latency)
        if api == "sut":
            wrong = rng.random() < float(body.get("flaky", 0.0))
            answer = "I am not sure, please ask support." if wrong else str(body.get("reference", ""))
            return 200, {"answer": answer}, {}
        forced = self._script_status()
        if forced == HANG or (forced is None and config.rate_hang and rng.random() < config.rate_hang):
            self.stopping.wait()
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
        rate_malformed = config.rate_malformed if forced is None else None
        return 200, _reply(self, api, body, rng, rate_malformed, config.position_bias, offset), {}

    # -- batch APIs ------------------------------------------------------------------

    def create_batch(
        self, api: str, requests: list[tuple[str, dict[str, Any]]], input_file_id: str | None
    ) -> FakeBatch:
        with self._lock:
            prefix = "msgbatch_" if api == "anthropic" else "batch_"
            batch = FakeBatch(api, f"{prefix}{len(self.batches) + 1:04d}", requests, time.time(), input_file_id)
            self.batches[batch.id] = batch
            self.batch_log.append(("create", batch.id))
        return batch

    def poll_batch(self, batch_id: str) -> FakeBatch | None:
        """A retrieval: counts as a poll; the batch ends after `batch_polls` polls unless held."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            self.batch_log.append(("retrieve", batch_id))
            batch.polls += 1
            ready = batch.results is None and batch.polls > self.config.batch_polls and not self.config.batch_hold
        if ready:
            self._finish_batch(batch)
        return batch

    def _finish_batch(self, batch: FakeBatch) -> None:
        results: list[dict[str, Any]] = []
        path = "anthropic" if batch.api == "anthropic" else "openai"
        for custom_id, body in batch.requests:
            if self.config.batch_expire:
                results.append({"custom_id": custom_id, "status": "expired", "body": None})
                continue
            answer = self.respond(path, json.dumps(body).encode("utf-8"), batched=True)
            assert answer is not None  # a request inside a batch never hangs
            status, payload, _ = answer
            results.append({"custom_id": custom_id, "status": status, "body": payload})
        with self._lock:
            batch.results = results
            batch.ended = time.time()
            if batch.api == "openai":
                ok = [r for r in results if r["status"] == 200]
                bad = [r for r in results if r["status"] != 200]
                output = _unreadable(_openai_lines(batch, ok), self.config.batch_unreadable_lines)
                batch.output_file_id = self._store_file(output) if ok else None
                batch.error_file_id = self._store_file(_openai_lines(batch, bad)) if bad else None

    def _store_file(self, data: bytes) -> str:
        file_id = f"file-{len(self.files) + 1:04d}"
        self.files[file_id] = data
        return file_id


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

    def _send(self, status: int, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> None:
        binary = isinstance(payload, bytes)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if binary else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._handle("POST")

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._handle("GET")

    def _handle(self, method: str) -> None:
        fake = self.fake
        start = time.monotonic()
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        decremented = False
        try:
            answer = self._route(method, self.path.split("?", 1)[0].rstrip("/"), raw)
            if answer is None:  # hung until the server stopped: never answered, not recorded
                self.close_connection = True
                return
            status, payload, headers = answer
            # Leave the in-flight count before answering, so the server never counts a
            # request the client already considers finished.
            with fake._lock:
                fake.in_flight -= 1
                decremented = True
                fake.requests.append(Seen(self.path, start, time.monotonic(), status, raw))
            self._send(status, payload, headers)
        finally:
            if not decremented:
                with fake._lock:
                    fake.in_flight -= 1

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any] | bytes, dict[str, str]] | None:
        fake = self.fake
        if method == "POST" and path.endswith("/v1/messages"):
            return fake.respond("anthropic", raw)
        if method == "POST" and path.endswith("/chat/completions"):
            return fake.respond("openai", raw)
        if method == "POST" and path == "/sut":
            return fake.respond("sut", raw)
        refused = fake.config.batch_create_status != 200
        if method == "POST" and path.endswith(("/v1/messages/batches", "/v1/batches")) and refused:
            api = "anthropic" if path.endswith("/v1/messages/batches") else "openai"
            return fake.config.batch_create_status, _error_body(api, "api_error", "Batch refused."), {}
        if method == "POST" and path.endswith("/v1/messages/batches"):
            requests = [(r["custom_id"], r["params"]) for r in json.loads(raw)["requests"]]
            return 200, _anthropic_batch(fake.create_batch("anthropic", requests, None), fake.url), {}
        match = re.fullmatch(r".*/v1/messages/batches/([\w-]+)(/results)?", path)
        if method == "GET" and match:
            if match.group(2):
                batch = fake.batches.get(match.group(1))
                if batch is None or batch.results is None:
                    return 404, _error_body("anthropic", "not_found_error", "No results yet."), {}
                with fake._lock:
                    fake.batch_log.append(("results", batch.id))
                return 200, _unreadable(_anthropic_results(batch), fake.config.batch_unreadable_lines), {}
            if fake.config.batch_status_status != 200:
                return fake.config.batch_status_status, _error_body("anthropic", "api_error", "Try later."), {}
            polled = fake.poll_batch(match.group(1))
            if polled is None:
                return 404, _error_body("anthropic", "not_found_error", "No such batch."), {}
            return 200, _anthropic_batch(polled, fake.url), {}
        if method == "POST" and path.endswith("/v1/files"):
            data = _multipart_file(self.headers.get("Content-Type", ""), raw)
            with fake._lock:
                file_id = fake._store_file(data)
                fake.batch_log.append(("upload", file_id))
            info = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time())}
            return 200, {**info, "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}, {}
        if method == "POST" and path.endswith("/v1/batches"):
            body = json.loads(raw)
            content = fake.files.get(body.get("input_file_id", ""))
            if content is None or body.get("endpoint") != "/v1/chat/completions":
                return 400, _error_body("openai", "invalid_request_error", "Bad input file or endpoint."), {}
            lines = [json.loads(line) for line in content.decode("utf-8").splitlines() if line.strip()]
            requests = [(line["custom_id"], line["body"]) for line in lines]
            return 200, _openai_batch(fake.create_batch("openai", requests, body["input_file_id"])), {}
        match = re.fullmatch(r".*/v1/batches/([\w-]+)", path)
        if method == "GET" and match:
            if fake.config.batch_status_status != 200:
                return fake.config.batch_status_status, _error_body("openai", "api_error", "Try later."), {}
            polled = fake.poll_batch(match.group(1))
            if polled is None:
                return 404, _error_body("openai", "not_found_error", "No such batch."), {}
            return 200, _openai_batch(polled), {}
        match = re.fullmatch(r".*/v1/files/([\w-]+)/content", path)
        if method == "GET" and match and match.group(1) in fake.files:
            with fake._lock:
                fake.batch_log.append(("content", match.group(1)))
            return 200, fake.files[match.group(1)], {}
        return 404, {"error": {"message": f"no route {method} {path}"}}, {}


def _reply(
    fake: FakeProvider,
    api: str,
    body: dict[str, Any],
    rng: random.Random,
    rate_malformed: float | None,
    position_bias: float,
    score_offset: int = 0,
) -> dict[str, Any]:
    """A message (Anthropic) or chat completion (OpenAI) answering a judge prompt (no malformed
    roll when `rate_malformed` is None)."""
    if rate_malformed is not None and rng.random() < rate_malformed:
        text = rng.choice(["I would say A is better.", '{"reason": "missing the judgment"}', '{"score": '])
    else:
        text = json.dumps(judge(body, api, rng, position_bias, score_offset))
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
        return {
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
        }
    return {
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
    }


def _iso(timestamp: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")


def _anthropic_batch(batch: FakeBatch, base_url: str) -> dict[str, Any]:
    counts = {"processing": len(batch.requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if batch.results is not None:
        counts["processing"] = 0
        counts["succeeded"] = sum(r["status"] == 200 for r in batch.results)
        counts["expired"] = sum(r["status"] == "expired" for r in batch.results)
        counts["errored"] = len(batch.results) - counts["succeeded"] - counts["expired"]
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if batch.results is not None else "in_progress",
        "request_counts": counts,
        "created_at": _iso(batch.created),
        "expires_at": _iso(batch.created + 86400),
        "ended_at": _iso(batch.ended) if batch.ended else None,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if batch.results is not None else None,
    }


def _anthropic_results(batch: FakeBatch) -> bytes:
    lines = []
    for result in batch.results or []:
        if result["status"] == 200:
            entry = {"type": "succeeded", "message": result["body"]}
        elif result["status"] == "expired":
            entry = {"type": "expired"}
        else:
            entry = {"type": "errored", "error": result["body"]}
        lines.append(json.dumps({"custom_id": result["custom_id"], "result": entry}))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _openai_batch(batch: FakeBatch) -> dict[str, Any]:
    done = batch.results is not None
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": ("expired" if any(r["status"] == "expired" for r in batch.results or []) else "completed")
        if done
        else "in_progress",
        "created_at": int(batch.created),
        "completed_at": int(batch.ended) if batch.ended else None,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "request_counts": {
            "total": len(batch.requests),
            "completed": sum(r["status"] == 200 for r in batch.results or []),
            "failed": sum(r["status"] != 200 for r in batch.results or []),
        },
    }


def _openai_lines(batch: FakeBatch, results: list[dict[str, Any]]) -> bytes:
    lines = []
    for i, r in enumerate(results):
        line: dict[str, Any] = {"id": f"batch_req_{i}", "custom_id": r["custom_id"]}
        if r["status"] == "expired":
            line.update(response=None, error={"code": "batch_expired", "message": "This request expired."})
        else:
            response = {"status_code": r["status"], "request_id": f"req_{i}", "body": r["body"]}
            line.update(response=response, error=None)
        lines.append(json.dumps(line))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _unreadable(data: bytes, count: int) -> bytes:
    """The JSONL `data` with its first `count` lines cut in half (no longer JSON)."""
    lines = data.decode("utf-8").splitlines()
    for i in range(min(count, len(lines))):
        lines[i] = lines[i][: len(lines[i]) // 2]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _multipart_file(content_type: str, raw: bytes) -> bytes:
    """The `file` part of a multipart/form-data body."""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode("ascii")
    for part in raw.split(b"--" + boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data[: -len(b"\r\n")] if data.endswith(b"\r\n") else data
    return b""


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
