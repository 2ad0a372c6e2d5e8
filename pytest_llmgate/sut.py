"""The system under test, called by the plugin: concurrently, bounded, timed, with progress.

A suite hands the plugin its SUT (`@pytest.mark.golden(..., sut=answer)`); when the first item
of the suite needs its output, the plugin submits the SUT calls of every item of the suite this
process will run, and each item waits only for its own case. Sync callables run on daemon
threads, async ones on one event loop in a daemon thread; both are bounded by one limit. A sync
call that hangs cannot be stopped from outside; being a daemon, its thread never holds the
process: when the tests end (or Ctrl-C ends them), the process exits and the thread with it.

Outputs can also come from a file (`--llm-gate-outputs`), which another engine wrote; this
module reads and writes that format too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SutError(Exception):
    """The system under test raised, timed out or returned something unusable for one case."""


class NullOutput(SutError):
    """An outputs file's line gives `null` as a case's output: that case fails, the others run."""


@dataclass
class SutCall:
    """What one SUT call gave: an output, or the error that took its place."""

    output: Any = None
    """The SUT's return value (None when it failed)."""
    seconds: float | None = None
    """Wall time of the call itself (queueing excluded); None for outputs read from a file."""
    error: BaseException | None = None
    """The SUT's own exception, traceback attached."""
    timed_out: bool = False
    """True when the call ran past the SUT timeout."""

    @property
    def failed(self) -> bool:
        return self.error is not None or self.timed_out


@dataclass
class _Pending:
    """A submitted call: its future, and when it started (the timeout runs from then)."""

    future: concurrent.futures.Future[SutCall]
    started: threading.Event = field(default_factory=threading.Event)
    start_time: float = 0.0


class _DaemonPool:
    """Up to `size` daemon threads running queued calls in order.

    Not a `ThreadPoolExecutor`: the interpreter joins its threads at exit, so one sync SUT call
    that never returns would keep pytest alive after the last test (and after Ctrl-C).
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], Callable[[], None]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, run: Callable[[], None], cancel: Callable[[], None]) -> None:
        """Queue `run`; `cancel` is called instead if the pool shuts down before it starts."""
        with self._lock:
            if self._closed:
                cancel()
                return
            self._queue.put((run, cancel))
            if len(self._threads) < self._size:  # one thread per call, up to the limit
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job[0]()

    def shutdown(self) -> None:
        """Cancel the calls not started; running ones finish on their own (nobody waits for them)."""
        with self._lock:
            self._closed = True
            cancelled = []
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    cancelled.append(job[1])
            for _ in self._threads:
                self._queue.put(None)
        for cancel in cancelled:
            cancel()


def is_async(fn: Any) -> bool:
    """True for `async def` functions, partials of them and objects with an `async def __call__`."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class SutRunner:
    """Runs SUT calls concurrently: at most `concurrency` of them in flight in this process."""

    def __init__(self, *, concurrency: int, timeout: float | None) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self._calls: dict[Hashable, list[_Pending]] = {}
        self._pool: _DaemonPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        """Async calls in flight (owned by the loop's thread)."""
        self._total = 0
        """Calls submitted so far (the progress bar's total)."""
        self._finished = 0
        """Calls settled so far."""
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    # -- submitting -------------------------------------------------------------------------
    def submitted(self, key: Hashable) -> bool:
        return key in self._calls

    def submit(self, key: Hashable, fn: Callable[[Any], Any], case: Any, runs: int = 1) -> None:
        """Start `runs` calls of `fn(case)` for `key` (once per key; later submits are ignored)."""
        self.submit_many([(key, fn, case)], runs)

    def submit_many(self, calls: Iterable[tuple[Hashable, Callable[[Any], Any], Any]], runs: int = 1) -> None:
        """`submit` for many (key, fn, case) at once: async calls reach the event loop in one
        hand-over rather than one wake-up of its thread per call."""
        kinds: dict[int, bool] = {}
        spawn: list[tuple[_Pending, Callable[[Any], Any], Any]] = []
        for key, fn, case in calls:
            if key in self._calls:
                continue
            asynchronous = kinds.get(id(fn))
            if asynchronous is None:
                asynchronous = kinds[id(fn)] = is_async(fn)
            self._total += runs
            pendings = []
            for _ in range(runs):
                if asynchronous:
                    pending = _Pending(future=concurrent.futures.Future())
                    spawn.append((pending, fn, case))
                else:
                    pending = self._start_sync(fn, case)
                pendings.append(pending)
            self._calls[key] = pendings
        if spawn:
            self._event_loop().call_soon_threadsafe(self._spawn, spawn)

    def _start_sync(self, fn: Callable[[Any], Any], case: Any) -> _Pending:
        if self._pool is None:
            self._pool = _DaemonPool(self.concurrency, "llmgate-sut")
        holder: list[_Pending] = []

        def call() -> SutCall:
            __tracebackhide__ = True
            pending = holder[0]
            pending.start_time = time.perf_counter()
            pending.started.set()
            try:
                output = fn(case)
                if inspect.isawaitable(output):
                    if inspect.iscoroutine(output):
                        output.close()
                    msg = f"the SUT {_name(fn)} returned an awaitable; declare it `async def` so the plugin awaits it."
                    raise TypeError(msg)
            except Exception as exc:
                return SutCall(seconds=time.perf_counter() - pending.start_time, error=exc)
            return SutCall(output=output, seconds=time.perf_counter() - pending.start_time)

        future: concurrent.futures.Future[SutCall] = concurrent.futures.Future()
        pending = _Pending(future=future)
        holder.append(pending)

        def settle() -> None:
            try:
                outcome = call()
            except BaseException as exc:
                outcome = SutCall(error=exc if isinstance(exc, Exception) else SutError("the SUT call was interrupted"))
            self._settle(future, outcome)

        def cancel() -> None:
            self._settle(future, SutCall(error=SutError("the SUT call was cancelled before it started")))

        self._pool.submit(settle, cancel)
        return pending

    def _spawn(self, calls: list[tuple[_Pending, Callable[[Any], Any], Any]]) -> None:
        """In the loop: one task per call, in submission order (the semaphore keeps that order)."""
        for pending, fn, case in calls:
            task = asyncio.ensure_future(self._settle_async(pending, fn, case))
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)

    async def _call_async(self, pending: _Pending, fn: Callable[[Any], Any], case: Any) -> SutCall:
        assert self._semaphore is not None
        async with self._semaphore:
            pending.start_time = time.perf_counter()
            pending.started.set()
            task = asyncio.ensure_future(fn(case))
            # asyncio.wait, not wait_for: a TimeoutError the SUT raises itself stays its own error.
            done, _ = await asyncio.wait({task}, timeout=self.timeout)
            seconds = time.perf_counter() - pending.start_time
            if not done:
                task.cancel()
                return SutCall(seconds=seconds, timed_out=True)
            error = task.exception()
            if error is not None:
                return SutCall(seconds=seconds, error=error)
            return SutCall(output=task.result(), seconds=seconds)

    async def _settle_async(self, pending: _Pending, fn: Callable[[Any], Any], case: Any) -> None:
        # The outcome is handed over here, in the loop, rather than by a done-callback.
        try:
            outcome = await self._call_async(pending, fn, case)
        except BaseException as exc:  # cancelled at shutdown, or the runner's own bug
            outcome = SutCall(error=exc if isinstance(exc, Exception) else SutError("the SUT call was cancelled"))
        self._settle(pending.future, outcome)

    def _settle(self, future: concurrent.futures.Future[SutCall], outcome: SutCall) -> None:
        with self._count_lock:
            self._finished += 1
        if not future.done():
            future.set_result(outcome)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="llmgate-sut-loop", daemon=True)
                thread.start()
                ready.wait()

                async def make_semaphore() -> asyncio.Semaphore:
                    return asyncio.Semaphore(self.concurrency)

                self._semaphore = asyncio.run_coroutine_threadsafe(make_semaphore(), loop).result()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    # -- waiting ----------------------------------------------------------------------------
    def wait(
        self,
        key: Hashable,
        *,
        progress: bool = False,
        suspend: Callable[[], AbstractContextManager[Any]] | None = None,
        idle: Callable[[Callable[[], bool]], None] | None = None,
    ) -> list[SutCall]:
        """The calls of `key`, waiting for them (timeouts applied); a transient bar while waiting.

        `idle(done)`, when given, is called first if the calls are not all in: work for the
        waiting thread, which returns once `done()` (or earlier)."""
        pendings = self._calls[key]
        if idle is not None and not all(p.future.done() for p in pendings):
            idle(lambda: all(p.future.done() for p in pendings))
        if progress and not all(p.future.done() for p in pendings):
            # Inside a test pytest captures fd 2: only with capture suspended does it show a terminal.
            with (suspend or nullcontext)():
                if sys.stderr.isatty():
                    self._wait_with_bar(pendings)
        return [self._result(p) for p in pendings]

    def _result(self, pending: _Pending) -> SutCall:
        if self.timeout is None:
            return pending.future.result()
        while not pending.started.wait(0.05):
            if pending.future.done():  # cancelled before it started
                return pending.future.result()
        remaining = self.timeout - (time.perf_counter() - pending.start_time)
        try:
            return pending.future.result(timeout=max(remaining, 0.0))
        except concurrent.futures.TimeoutError:
            # A sync SUT cannot be stopped from outside: its thread finishes on its own.
            return SutCall(seconds=self.timeout, timed_out=True)

    def _wait_with_bar(self, pendings: list[_Pending]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("[bold]Calling the SUT[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("sut", total=self._total, completed=self._finished)
            mine = [p.future for p in pendings]
            while True:
                _, not_done = concurrent.futures.wait(mine, timeout=0.1)
                bar.update(task, total=self._total, completed=self._finished)
                if not not_done or self._all_timed_out(pendings):
                    return

    def _all_timed_out(self, pendings: list[_Pending]) -> bool:
        if self.timeout is None:
            return False
        now = time.perf_counter()
        return all(p.future.done() or (p.started.is_set() and now - p.start_time > self.timeout) for p in pendings)

    def forget(self, key: Hashable) -> None:
        """Drop a key's calls once its item has them (keeps memory flat over long runs)."""
        self._calls.pop(key, None)

    def close(self) -> None:
        """Stop the pool and the loop; calls still running (timed out) are not waited for."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._loop is not None:
            loop, thread = self._loop, self._loop_thread
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=5)
            if not loop.is_running():
                loop.close()
            self._loop = None


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def failure_message(call: SutCall, case_id: str, timeout: float | None, run: int | None = None) -> str:
    """What a failed SUT call says on its item (the SUT's own traceback is chained to it)."""
    which = f"case '{case_id}'" + (f" (run {run + 1})" if run is not None else "")
    if isinstance(call.error, NullOutput):
        return str(call.error)
    if call.timed_out:
        return (
            f"the system under test took longer than the SUT timeout ({timeout:g} s) for {which}. "
            f"Raise --llm-gate-sut-timeout or make the SUT faster."
        )
    assert call.error is not None
    return f"the system under test raised for {which}: {type(call.error).__name__}: {call.error}"


def check_output(value: Any, case_id: str) -> None:
    """An output the plugin records must be JSON: reports, baselines and outputs files hold it."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = (
            f"the system under test returned a value that is not JSON-serialisable for case '{case_id}' ({exc}); "
            f"return e.g. result.model_dump()."
        )
        raise SutError(msg) from None


# -- the items this process will run ---------------------------------------------------------
def process_items(session: Any, seen: set[int] | None = None) -> list[Any]:
    """The items this process still has to run: all of them, or on an xdist worker those queued
    to it; with `seen`, only the queued items not returned before (their indices are added)."""
    interactor = _xdist_interactor(session.config)
    if interactor is None:
        return list(session.items)
    with interactor.torun.lock() as queue:
        indices = [i for i in queue if isinstance(i, int)]
    if seen is not None:
        indices = [i for i in indices if i not in seen]
        seen.update(indices)
    return [session.items[i] for i in indices if i < len(session.items)]


def _xdist_interactor(config: Any) -> Any:
    if not hasattr(config, "workerinput"):
        return None
    found = _INTERACTORS.get(config)
    if found is None:
        for plugin in config.pluginmanager.get_plugins():
            if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "torun"):
                found = _INTERACTORS[config] = plugin
                break
    return found


#: xdist's worker interactor per config, found once (a scan of every plugin per item otherwise).
_INTERACTORS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


# -- outputs files ----------------------------------------------------------------------------
class OutputsFileError(Exception):
    """An outputs file that cannot be used, with its path and line."""


@dataclass
class OutputsFile:
    """Outputs by case, read from `--llm-gate-outputs FILE.jsonl`: one line per case."""

    path: Path
    by_suite: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    """(suite, case id) -> outputs, for lines that name their suite."""
    by_id: dict[str, list[Any]] = field(default_factory=dict)
    """case id -> outputs, for lines without a suite (they apply to any suite with that id)."""
    lines: dict[tuple[str | None, str], int] = field(default_factory=dict)
    """(suite or None, case id) -> the line that gives its outputs."""

    def get(self, suite: str, case_id: str) -> list[Any] | None:
        found = self.by_suite.get((suite, case_id))
        return found if found is not None else self.by_id.get(case_id)

    def calls(self, suite: str, case_id: str) -> list[SutCall]:
        """The case's outputs as calls; a `null` output is a failed call that names its line."""
        key = (suite, case_id) if (suite, case_id) in self.by_suite else (None, case_id)
        where = f"{self.path}:{self.lines.get(key, '?')}"
        calls = []
        for value in self.get(suite, case_id) or []:
            if value is None:
                msg = (
                    f"--llm-gate-outputs {where}: the output of case '{case_id}' is null (the run that wrote "
                    "the file produced none); the case counts as failed. Write its output, or deselect it."
                )
                calls.append(SutCall(error=NullOutput(msg)))
            else:
                calls.append(SutCall(output=value))
        return calls


def outputs_file_notes(
    outputs: OutputsFile | None, dataset_ids: dict[str, list[str]], suites: list[tuple[str, bool]]
) -> list[str]:
    """What the summary says of an outputs file, after collection: lines that name no case of the
    collected suites (not used), and suites the file cannot feed because their test body calls the
    SUT itself. `suites`: (suite, takes the `output` argument) of each collected golden item."""
    if outputs is None:
        return []
    notes = []
    known = {(suite, case_id) for suite, ids in dataset_ids.items() for case_id in ids}
    known_ids = {case_id for _, case_id in known}
    unknown = sorted(
        (line, case_id if suite is None else f"{case_id}' of '{suite}")
        for (suite, case_id), line in outputs.lines.items()
        if ((suite, case_id) not in known if suite is not None else case_id not in known_ids)
    )
    if unknown:
        shown = ", ".join(f"line {line} ('{name}')" for line, name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        notes.append(
            f"--llm-gate-outputs {outputs.path}: {len(unknown)} line(s) name no case of the collected suites "
            f"and were not used: {shown}{more}. Check the ids (and 'suite'), or remove the lines."
        )
    for suite in sorted({suite for suite, takes_output in suites if not takes_output}):
        notes.append(
            f"--llm-gate-outputs {outputs.path}: {suite} calls its SUT in the test body, so the file cannot "
            "feed it: its cases called the SUT live. To replay saved outputs, give its golden marker sut= "
            "and take the `output` argument."
        )
    return notes


def load_outputs(path: Path) -> OutputsFile:
    """Read an outputs file: one JSON object a line, `id` plus `output` (one run) or `outputs` (a list,
    one per run); an optional `suite` names the test. One line per case: a second line for the
    same case (a file concatenated twice, a retried batch) is an error naming both lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{path}: no such outputs file; write one with --llm-gate-save-outputs or fix the path."
        raise OutputsFileError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read the outputs file ({exc})."
        raise OutputsFileError(msg) from None
    result = OutputsFile(path=path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            msg = f"{where}: not valid JSON ({exc})."
            raise OutputsFileError(msg) from None
        if not isinstance(row, dict):
            msg = f"{where}: each line must be a JSON object with 'id' and 'output' (got {type(row).__name__})."
            raise OutputsFileError(msg)
        unknown = sorted(set(row) - {"id", "suite", "output", "outputs"})
        if unknown:
            msg = f"{where}: unknown field(s) {unknown}; use id, suite, output or outputs."
            raise OutputsFileError(msg)
        case_id = row.get("id")
        if not isinstance(case_id, str) or not case_id:
            msg = f"{where}: field 'id' must be a non-empty string (got {case_id!r})."
            raise OutputsFileError(msg)
        suite = row.get("suite")
        if suite is not None and not isinstance(suite, str):
            msg = f"{where}: field 'suite' must be a string (got {suite!r})."
            raise OutputsFileError(msg)
        if ("output" in row) == ("outputs" in row):
            msg = f"{where}: give exactly one of 'output' (one run) or 'outputs' (a list, one per run)."
            raise OutputsFileError(msg)
        if "outputs" in row:
            outputs = row["outputs"]
            if not isinstance(outputs, list) or not outputs:
                msg = f"{where}: field 'outputs' must be a non-empty list (got {outputs!r})."
                raise OutputsFileError(msg)
        else:
            outputs = [row["output"]]
        first = result.lines.setdefault((suite, case_id), number)
        if first != number:
            which = f"case '{case_id}'" + (f" of {suite}" if suite is not None else "")
            msg = (
                f"{where}: {which} already has a line ({path}:{first}); give one line per case, "
                "with its runs as one 'outputs' list."
            )
            raise OutputsFileError(msg)
        if suite is None:
            result.by_id[case_id] = outputs
        else:
            result.by_suite[(suite, case_id)] = outputs
    return result


def outputs_lines(suites: Any) -> str:
    """The outputs-file text of a run's results (suites by name, cases by id; one run or a list)."""
    lines = []
    for name, suite in sorted(suites.items()):
        for case_id, case in sorted(suite.cases.items()):
            row: dict[str, Any] = {"suite": name, "id": case_id}
            if case.repeats:
                if any(run.output is None for run in case.repeats):
                    continue
                row["outputs"] = [run.output for run in case.repeats]
            elif case.output is not None:
                row["output"] = case.output
            else:
                continue
            lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    return "".join(line + "\n" for line in lines)


def iter_calls(outputs: list[Any]) -> Iterator[SutCall]:
    """Outputs read from a file, as calls that took no time here."""
    for output in outputs:
        yield SutCall(output=output)
