"""Batch mode: the session's judge calls through the Anthropic Message Batches API or the
OpenAI Batch API (about half the price, a separate rate-limit pool).

A batch API is a second transport for the calls the provider builds: a batch line carries the
body of `provider.request` (with the cache key as `custom_id`), and its reply is read by the
same `provider.parse` as an online reply. The engine parks every call the cache cannot answer
here instead of sending it online. `BatchCollector.run` sends a round of batches once every
unfinished request waits for one (claims mode takes two rounds: extraction, then
verification), in as few batches as each API's size limits allow, polls them, writes every
answer into the judge cache and hands each parked call its result. Calls whose result is
malformed, failed or unreadable are then asked online by the engine, under the online rules.

Resumable: each batch id is written to `.llmgate/batches.json` (atomically, under a file
lock) as soon as it is created and removed once its results are read and cached, so a rerun
after an interrupted wait collects the same batch instead of paying for it again.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmgate._files import utf8

# The providers' batch APIs live in batch_api.py; re-exported here, where the engine and the tests import them.
from pytest_llmgate.judge.batch_api import (
    AnthropicBatches,  # noqa: F401  (re-exported)
    BatchApi,
    BatchError,
    BatchOutput,  # noqa: F401  (re-exported)
    BatchReply,
    BatchStatus,  # noqa: F401  (re-exported)
    OpenAIBatches,  # noqa: F401  (re-exported)
    _jsonl,  # noqa: F401  (re-exported)
    anthropic_line,  # noqa: F401  (re-exported)
    make_batch_api,  # noqa: F401  (re-exported)
    openai_line,  # noqa: F401  (re-exported)
)
from pytest_llmgate.judge.providers import ProviderError

if TYPE_CHECKING:
    from pytest_llmgate.judge.cache import JudgeCache
    from pytest_llmgate.judge.prompts import RenderedPrompt
    from pytest_llmgate.judge.providers import RemoteProvider
    from pytest_llmgate.judge.rubrics import Rubric

STATE_FILE = "batches.json"
STATE_FORMAT = 1
DEFAULT_POLL_INTERVAL = 30.0
#: Batches older than this are dropped from the state file: both APIs keep results ~29-30 days.
STATE_MAX_AGE_DAYS = 29


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
    sent: bool = False
    """The call was in a batch the provider accepted (it counts as one attempt); False when
    its batch was never created, so the online follow-up is the call's first attempt."""


def parse_reply(provider: RemoteProvider, rubric: Rubric, prompt: RenderedPrompt, line: BatchReply) -> BatchResult:
    """A batch line read by the provider's own `parse`, exactly as an online reply is."""
    if line.reply is None:
        return BatchResult(error=line.error or "no reply in the batch", sent=True)
    try:
        answer = provider.parse(rubric, prompt, line.reply)
    except ProviderError as exc:
        return BatchResult(
            error=str(exc),
            malformed=exc.malformed,
            input_tokens=exc.input_tokens,
            output_tokens=exc.output_tokens,
            cache_read_tokens=exc.cache_read_tokens,
            cache_write_tokens=exc.cache_write_tokens,
            sent=True,
        )
    return BatchResult(
        answer=answer.answer,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cache_read_tokens=answer.cache_read_tokens,
        cache_write_tokens=answer.cache_write_tokens,
        sent=True,
    )


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


class Waiter:
    """One judge request as the collector sees it: how many of its calls wait for a batch.

    A round of batches is sent once every unfinished request waits for one (claims mode needs
    two rounds: the verification calls exist only once the extraction is answered)."""

    __slots__ = ("blocked",)

    def __init__(self) -> None:
        self.blocked = 0


@dataclass
class _Parked:
    key: str
    rubric: Rubric
    prompt: RenderedPrompt
    future: asyncio.Future[BatchResult]
    claimed: bool = False
    """The first caller to read the result takes its tokens; followers share the answer."""
    waiters: list[Waiter] = field(default_factory=list)


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
    """Parks cache misses, then sends them as rounds of batches; see the module docstring."""

    def __init__(
        self,
        api: BatchApi,
        provider: RemoteProvider,
        options: BatchOptions,
        cache: JudgeCache | None = None,
        left: Callable[[], float | None] | None = None,
    ) -> None:
        self.api = api
        self.provider = provider
        self.provider_name = provider.name
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
        self.rounds = 0
        """Rounds of batches sent (claims mode takes two: extraction, then verification)."""
        self._parked: dict[str, _Parked] = {}
        self._queue: dict[str, _Parked] = {}
        """Parked calls not yet in a round."""
        self._blocked = 0
        """Requests whose calls all wait for a batch."""
        self._expected: int | None = None
        self._finished: Callable[[], int] = lambda: 0
        self._quiet: asyncio.Event | None = None
        self._broken: str | None = None
        """Why batches are no longer sent (every later call goes online), or None."""
        self._left: Callable[[], float | None] = left or (lambda: None)

    # -- called by the engine, on its loop ----------------------------------------------

    async def fetch(self, waiter: Waiter, key: str, rubric: Rubric, prompt: RenderedPrompt) -> tuple[BatchResult, bool]:
        """Park a call for the next round (one entry per cache key) and wait for its result;
        also says whether this caller is the first to read it (and so pays for it)."""
        entry = self._parked.get(key)
        if entry is None:
            future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
            entry = _Parked(key, rubric, prompt, future)
            self._parked[key] = entry
            if self._broken is not None:
                self._resolve(entry, BatchResult(error=self._broken))
            elif self._past_deadline():
                self._resolve(entry, BatchResult(error="before its batch was submitted", deadline=True))
            else:
                self._queue[key] = entry
        if not entry.future.done():
            if not waiter.blocked:
                self._blocked += 1
            waiter.blocked += 1
            entry.waiters.append(waiter)
            self.check()
        result = await asyncio.shield(entry.future)
        first = not entry.claimed
        entry.claimed = True
        return result, first

    def check(self) -> None:
        """Wake the round loop when every unfinished request waits for a batch (or all are done)."""
        if self._quiet is None or self._expected is None:
            return
        finished = self._finished()
        if finished >= self._expected or (self._queue and finished + self._blocked >= self._expected):
            self._quiet.set()

    def _resolve(self, entry: _Parked, result: BatchResult) -> None:
        if entry.future.done():
            return
        entry.future.set_result(result)
        for waiter in entry.waiters:
            waiter.blocked -= 1
            if not waiter.blocked:
                self._blocked -= 1
        entry.waiters.clear()

    # -- the batch run -------------------------------------------------------------------

    async def run(self, expected: int, finished: Callable[[], int]) -> None:
        """Send rounds of batches until all `expected` requests are finished (`finished()` counts
        them): a round goes out when every unfinished request waits for the batch. Past the
        judge deadline no batch is submitted and no more waiting is done (a batch stays recorded)."""
        self._expected, self._finished = expected, finished
        try:
            while True:
                self._quiet = asyncio.Event()
                self.check()
                left = self._left()
                try:
                    async with asyncio.timeout(left if left is not None and left > 0 else None):
                        await self._quiet.wait()
                except TimeoutError:
                    # Past the deadline while requests were still busy online: nothing queued is sent.
                    queued, self._queue = list(self._queue.values()), {}
                    self._fail(queued, "before its batch was submitted", deadline=True)
                    continue
                if self._finished() >= expected and not self._queue:
                    return
                pending, self._queue = self._queue, {}
                if not pending:
                    continue
                self.rounds += 1
                try:
                    await self._run(pending)
                except Exception as exc:  # noqa: BLE001 - a broken batch must not lose the verdicts: they go online
                    self._broken = f"batch not sent ({type(exc).__name__}: {exc})"
                    self.notes.append(f"batch: failed ({type(exc).__name__}: {exc}); its calls were asked online.")
                    self._fail(pending.values(), self._broken)
        finally:
            self._quiet = None
            for entry in list(self._parked.values()):
                self._resolve(entry, BatchResult(error="no result from the batch"))
            self._parked = {}
            self._queue = {}

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
        resumed = []
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
            resumed.append(record.id)
        self.resumed += resumed
        covered = {key for record in active for key in record.keys}
        new = [entry for key, entry in pending.items() if key not in covered]
        if resumed:
            self.notes.append(
                f"batch: collecting {len(resumed)} batch(es) submitted by an earlier run: {', '.join(resumed)}."
            )
        self.progress.phase = "submitting"
        if new and self._past_deadline():
            self._fail(new, "before its batch was submitted", deadline=True)
            new = []
        lines = [self.api.line(entry.key, self.provider.request(entry.rubric, entry.prompt)) for entry in new]
        max_requests = self.options.max_requests or self.api.max_requests
        max_bytes = self.options.max_bytes or self.api.max_bytes
        submitted = []
        for chunk in _chunks(lines, max_requests, max_bytes):
            keys = [line["custom_id"] for line in chunk]
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
            submitted.append(batch_id)
            active.append(record)
        self.submitted += submitted
        if submitted:
            count = sum(len(r.keys) for r in active if r.id in submitted)
            self.notes.append(
                f"batch: {count} judge call(s) sent as {len(submitted)} batch(es) through the "
                f"{self.api.title}: {', '.join(submitted)}."
            )
        self.progress.batches = [record.id for record in active]
        self.progress.total += sum(len(record.keys) for record in active)
        self.progress.phase = "waiting"
        await asyncio.gather(*(self._collect(record, pending) for record in active))

    async def _collect(self, record: BatchRecord, pending: dict[str, _Parked]) -> None:
        done = 0
        mine = [pending[k] for k in record.keys if k in pending]
        while True:
            # Checked on every turn, also after a failed status check: a status endpoint that
            # keeps failing must not hold the run past its deadline.
            if self._past_deadline():
                self.notes.append(
                    f"batch: the judge deadline passed while {record.id} was still running; it stays recorded "
                    f"in {self.state.path}: run again to collect it without paying again."
                )
                when = f"while its batch {record.id} was still running (run again to collect it)"
                self._fail(mine, when, deadline=True, sent=True)
                return
            left = self._left()
            try:
                # The SDK retries a status check itself: bounded by what is left of the deadline.
                async with asyncio.timeout(left):
                    status = await self.api.status(record.id)
            except TimeoutError:
                continue  # the deadline check above ends the wait
            except BatchError as exc:
                if not exc.retryable:
                    self.notes.append(f"batch: {exc}; its calls are asked online instead (the batch stays recorded).")
                    self._fail(mine, str(exc), sent=True)
                    return
            else:
                self.progress.done += status.done - done
                done = status.done
                if status.ended:
                    if status.state not in ("ended", "completed"):
                        self.notes.append(
                            f"batch: {record.id} ended as {status.state!r}; calls without a result are asked online."
                        )
                    break
            left = self._left()
            await asyncio.sleep(
                self.options.poll_interval if left is None else max(0.0, min(self.options.poll_interval, left))
            )
        try:
            output = await self.api.results(record.id)
        except BatchError as exc:
            self.notes.append(f"batch: {exc}; its calls are asked online instead (the batch stays recorded).")
            self._fail(mine, str(exc), sent=True)
            return
        if output.unreadable:
            self.notes.append(
                f"batch: {output.unreadable} line(s) of the results of {record.id} could not be read; "
                "only their calls are asked online."
            )
        results: dict[str, BatchResult] = {}
        for entry in mine:
            line = output.replies.get(entry.key)
            if line is None:
                results[entry.key] = BatchResult(error="no result for this call in the batch", sent=True)
            else:
                results[entry.key] = parse_reply(self.provider, entry.rubric, entry.prompt, line)
        if self.cache is not None:
            answered = [(key, r) for key, r in results.items() if r.answer is not None]
            await asyncio.to_thread(self._store, answered)
        for entry in mine:
            self._resolve(entry, results[entry.key])
        # Its results are read (and the answers cached): a rerun has nothing to collect from it.
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

    def _fail(self, entries: Iterable[_Parked], error: str, *, deadline: bool = False, sent: bool = False) -> None:
        for entry in entries:
            self._resolve(entry, BatchResult(error=error, deadline=deadline, sent=sent))

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
