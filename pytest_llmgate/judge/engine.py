"""The judge engine: an asyncio loop on a background thread that turns judge requests into
verdicts concurrently, with order swap, AIMD concurrency, retries, dedup, cache and budget.

Tests submit requests and go on (`submit` returns a future at once); the plugin waits for
all of them at session end (`wait`). Provider trouble never raises: it becomes a verdict
with `error` set, which is counted and shown and never scored.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import functools
import itertools
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2

from pytest_llmgate.gate.records import Against, JudgeCall, JudgeVerdict, RubricStats
from pytest_llmgate.judge.batch import BatchCollector, BatchOptions, BatchResult, make_batch_api
from pytest_llmgate.judge.cache import JudgeCache, cache_key
from pytest_llmgate.judge.pricing import Pricer, Usage
from pytest_llmgate.judge.prompts import Order, PromptData, RenderedPrompt, render
from pytest_llmgate.judge.providers import Provider, ProviderError, make_provider
from pytest_llmgate.judge.rubrics import Rubric
from pytest_llmgate.judge.schemas import SCHEMAS

NOT_IN_CACHE = "not in cache (replay-only mode)"
#: What a batch answer costs against the same call online: both batch APIs bill half.
BATCH_PRICE_FACTOR = 0.5
BUDGET_EXHAUSTED = "token budget exhausted"
BUDGET_USD_EXHAUSTED = "dollar budget exhausted"
DEADLINE_REACHED = "judge deadline reached"


@dataclass(frozen=True)
class JudgeRequest:
    """One thing to judge: a candidate output of one case, under one rubric."""

    rubric: str
    suite: str
    case_id: str
    metric: str
    """Metric the verdict fills, e.g. `judge:correctness`."""
    input: str
    candidate: str
    reference: str | None = None
    other: str | None = None
    """The output compared against in a pairwise judgment vs the baseline."""
    against: Against | None = None
    """Pairwise: compare with the reference or with `other` (the baseline's output).
    None means `baseline` when `other` is given, else `reference`."""
    context: tuple[str, ...] | None = None
    """Retrieved context chunks shown to the judge as their own data blocks."""
    conversation: tuple[tuple[str, str], ...] | None = None
    """The conversation so far as (role, content) turns; shown instead of `input`."""


class UnknownRubricError(KeyError):
    """A request names a rubric that was not loaded."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class _Outcome:
    """What one judge call (one order) came to."""

    answer: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = 0.0
    """Dollars spent on this call in this run (None when the price is unknown)."""
    list_cost_usd: float | None = 0.0
    """Dollars the answer costs without our cache (a cache hit: priced from its stored usage)."""
    cache_savings_usd: float | None = 0.0
    cached: bool = False
    batched: bool = False


#: Batch mode: which request the running task judges (each submit runs in its own task).
_REQUEST_TOKEN: contextvars.ContextVar[int] = contextvars.ContextVar("llmgate_request_token", default=-1)


class _AimdLimiter:
    """A concurrency limit that halves on a 429 without Retry-After and grows back by one per
    `recover_after` successes, never above `maximum`; a 429 with Retry-After pauses issuing.

    Only one decrease per congestion window: a 429 from a request that started before the
    last decrease does not halve again (as TCP does per round trip). A 429 that says how long
    to wait closes the issue gate until then (requests in flight go on) and keeps the limit:
    the provider named the cost, so halving on top of it would pay twice.
    """

    def __init__(self, maximum: int, recover_after: int) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.min_limit = maximum
        self.in_flight = 0
        self.max_in_flight = 0
        self.halvings = 0
        """How many times the limit was halved."""
        self.paused_seconds = 0.0
        """Wall time the issue gate was closed by Retry-After (overlapping pauses counted once)."""
        self.slot_seconds_lost = 0.0
        """Integral over time of (maximum - limit): capacity lost to halving until recovered."""
        self._recover_after = recover_after
        self._successes = 0
        self._epoch = 0
        self._resume_at = 0.0
        self._limit_since = 0.0
        self._cond = asyncio.Condition()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def acquire(self) -> int:
        while True:
            async with self._cond:
                try:
                    await self._cond.wait_for(lambda: self.in_flight < self.limit)
                except asyncio.CancelledError:
                    # Releases wake only as many waiters as there are free slots: a waiter
                    # cancelled after its wake-up passes it on, so no free slot goes unused.
                    self._cond.notify(max(0, self.limit - self.in_flight))
                    raise
                wait = self._resume_at - self._now()
                if wait <= 0:
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                    return self._epoch
            await asyncio.sleep(wait)

    def _set_limit(self, limit: int) -> None:
        now = self._now()
        if self._limit_since:
            self.slot_seconds_lost += (self.maximum - self.limit) * (now - self._limit_since)
        self._limit_since = now
        self.limit = limit

    def _pause(self, seconds: float) -> None:
        now = self._now()
        until = now + seconds
        if until > self._resume_at:
            self.paused_seconds += until - max(now, self._resume_at)
            self._resume_at = until

    async def release(
        self, epoch: int, outcome: Literal["ok", "rate_limited", "other"], retry_after: float | None = None
    ) -> None:
        async with self._cond:
            self.in_flight -= 1
            if outcome == "rate_limited" and retry_after is not None:
                self._pause(retry_after)
            elif outcome == "rate_limited" and epoch == self._epoch:
                self._set_limit(max(1, self.limit // 2))
                self.min_limit = min(self.min_limit, self.limit)
                self.halvings += 1
                self._epoch += 1
                self._successes = 0
            elif outcome == "ok" and self.limit < self.maximum:
                self._successes += 1
                if self._successes >= self._recover_after:
                    self._set_limit(self.limit + 1)
                    self._successes = 0
            # Wake only as many waiters as there are free slots: with a thousand calls queued,
            # waking all of them on every release costs more CPU than the calls themselves.
            self._cond.notify(max(0, self.limit - self.in_flight))

    def finish(self) -> None:
        """Close the lost-capacity integral at the end of the run."""
        self._set_limit(self.limit)


class Spending:
    """Tokens and dollars spent by provider calls, shared by the engines of one process (the
    judges of a jury), so that one budget covers them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tokens = 0
        """Tokens spent so far by every engine sharing this ledger."""
        self.usd = 0.0
        """Dollars spent so far (calls whose price is unknown add none)."""

    def add(self, tokens: int, usd: float | None) -> None:
        with self._lock:
            self.tokens += tokens
            if usd is not None:
                self.usd += usd


@dataclass
class _Tally:
    stats: RubricStats
    first_position: int = 0
    answered_pairwise_calls: int = 0


def _unpaid(outcome: _Outcome) -> _Outcome:
    """The outcome of a call answered by another identical call: the same answer, nothing spent."""
    return dataclasses.replace(
        outcome,
        attempts=0,
        input_tokens=0,
        output_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        cost_usd=0.0,
        cache_savings_usd=0.0,
    )


class JudgeEngine:
    """Runs judge requests on a background event loop; see the module docstring."""

    def __init__(
        self,
        *,
        provider: str,
        rubrics: dict[str, Rubric],
        cache_dir: Path | None,
        concurrency: int = 16,
        max_retries: int = 4,
        timeout: float = 60.0,
        budget_tokens: int | None = None,
        replay_only: bool = False,
        pricer: Pricer | None = None,
        budget_usd: float | None = None,
        malformed_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        # One slot back per success: after a halving the limit is whole again within about
        # one window (as TCP's slow start), instead of collapsing under steady 429s.
        recover_after: int = 1,
        deadline: float | None = None,
        batch: BatchOptions | None = None,
        spending: Spending | None = None,
    ) -> None:
        if concurrency < 1:
            msg = f"'concurrency' must be a positive integer (got {concurrency})."
            raise ValueError(msg)
        if not timeout > 0:
            msg = f"'timeout' must be a positive number of seconds (got {timeout})."
            raise ValueError(msg)
        if max_retries < 0:
            msg = f"'max_retries' must be a non-negative integer (got {max_retries})."
            raise ValueError(msg)
        if deadline is not None and deadline < 0:
            msg = f"'deadline' must be a non-negative number of seconds (got {deadline})."
            raise ValueError(msg)
        if budget_tokens is not None and budget_tokens < 0:
            msg = f"'budget_tokens' must be a non-negative integer (got {budget_tokens})."
            raise ValueError(msg)
        if budget_usd is not None and budget_usd < 0:
            msg = f"'budget_usd' must be a non-negative number (got {budget_usd})."
            raise ValueError(msg)
        self._provider: Provider = make_provider(provider, timeout)
        self.provider_name: str = self._provider.name
        self.identity: str = self._provider.identity
        """`provider:model` without a server URL: the baseline fingerprint and the cache key's judge."""
        from pytest_llmgate.judge.pricing import pricer_for

        self.pricer: Pricer = pricer or pricer_for(self._provider.kind, self._provider.model)
        if budget_usd is not None and not self.pricer.known:
            msg = f"'budget_usd' needs a price for the judge {self.identity}: {self.pricer.source}."
            raise ValueError(msg)
        self.budget_usd = budget_usd
        self._rubrics = dict(rubrics)
        self._cache = JudgeCache(Path(cache_dir)) if cache_dir is not None and self._provider.remote else None
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.budget_tokens = budget_tokens
        self.replay_only = replay_only and self._provider.remote
        self.malformed_retries = malformed_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._recover_after = recover_after
        self.deadline = deadline
        """Seconds after `start()` at which no more provider calls are issued; None for none."""
        self._deadline_at: float | None = None

        self.spending = spending if spending is not None else Spending()
        """What the budgets are checked against: this engine's spending, or the jury's when shared."""
        self.tokens_used = 0
        """Tokens spent by provider requests in this run (cache hits cost none)."""
        self.cost_used = 0.0
        """Dollars spent by provider requests in this run (0 while the price is unknown)."""
        self.budget_exhausted = False
        """True once a call was refused because the token budget was reached."""
        self.budget_usd_exhausted = False
        """True once a call was refused because the dollar budget was reached."""
        self.deduplicated = 0
        """Calls answered by an identical call already in flight."""
        self.missing: list[tuple[str, str, str]] = []
        """Replay-only misses: (suite, case_id, rubric)."""
        self.deadline_reached = False
        """True once a call was not made, or cut off, because the deadline passed."""
        self.unjudged_calls = 0
        """Calls not made or cut off by the deadline (each makes its verdict a judge error)."""
        self.backoff_seconds = 0.0
        """Time retrying calls spent waiting before their next attempt (summed over calls)."""

        self._tallies: dict[str, _Tally] = {}
        self._stats_lock = threading.Lock()
        self._futures: list[concurrent.futures.Future[JudgeVerdict]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._limiter: _AimdLimiter | None = None
        self._inflight: dict[str, asyncio.Task[_Outcome]] = {}
        self._closed = False
        self._random = random.Random()

        # Batch mode (judge/batch.py): cache misses wait for a batch instead of going online.
        self._batch: BatchCollector | None = None
        self._batch_notes: list[str] = []
        self._fallbacks: dict[str, asyncio.Task[_Outcome]] = {}
        self._batch_run: concurrent.futures.Future[None] | None = None
        self._tokens = itertools.count()
        self.reasked_online = 0
        """Batch mode: calls whose batch result was unusable and that were asked online."""
        self.claims_online = 0
        """Batch mode: verdicts of claims-mode rubrics, judged online (see `_judge_claims`)."""
        if batch is not None and not self.replay_only:
            api = make_batch_api(provider, timeout) if self._provider.remote else None
            if api is not None:
                self._batch = BatchCollector(api, self.provider_name, batch, self._cache)
            elif self._provider.remote:
                self._batch_notes.append(f"batch: {self.provider_name} has no batch API; its calls were made online.")
            else:
                self._batch_notes.append("batch: the offline judge makes no API calls; there is nothing to batch.")

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread and its event loop (idempotent)."""
        if self._thread is not None:
            return
        if self._closed:
            raise RuntimeError("the judge engine is closed; create a new one.")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="llmgate-judge", daemon=True)
        self._thread.start()
        ready.wait()
        asyncio.run_coroutine_threadsafe(self._setup(), loop).result()

    async def _setup(self) -> None:
        self._limiter = _AimdLimiter(self.concurrency, self._recover_after)
        if self.deadline is not None:
            self._deadline_at = asyncio.get_running_loop().time() + self.deadline

    def close(self) -> None:
        """Cancel what is still pending, close the provider client, stop the thread."""
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            if not thread.is_alive():
                loop.close()
        if self._cache is not None:
            self._cache.close()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # closing a client must not fail the run
            await self._provider.aclose()
            if self._batch is not None:
                await self._batch.api.aclose()

    def __enter__(self) -> JudgeEngine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------

    @property
    def limiter(self) -> _AimdLimiter | None:
        """The concurrency limiter (for observing the current and lowest limit)."""
        return self._limiter

    def submit(self, request: JudgeRequest) -> concurrent.futures.Future[JudgeVerdict]:
        """Queue a request; returns at once. Raises UnknownRubricError for an unknown rubric."""
        if request.rubric not in self._rubrics:
            known = ", ".join(sorted(self._rubrics)) or "none"
            msg = f"unknown rubric {request.rubric!r} (known: {known}); add rubrics/{request.rubric}.yaml."
            raise UnknownRubricError(msg)
        self.start()
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._judge_safely(request), self._loop)
        self._futures.append(future)
        return future

    @property
    def batching(self) -> bool:
        """True when cache misses go through a batch API (verdicts arrive in `wait`)."""
        return self._batch is not None

    def notes(self) -> list[str]:
        """Batch mode: what happened, one line each, for the terminal summary."""
        notes = list(self._batch_notes)
        if self._batch is not None:
            notes += self._batch.notes
            if self.claims_online:
                notes.append(
                    f"batch: {self.claims_online} claims-mode verdict(s) were judged online: their claims must "
                    "be extracted before they can be verified, two dependent steps a single batch cannot hold."
                )
            if self.reasked_online:
                notes.append(
                    f"batch: {self.reasked_online} call(s) came back malformed or failed from the batch "
                    "and were asked online."
                )
        return notes

    def wait(self, *, progress: bool = True) -> None:
        """Block until every submitted request has a verdict; a rich progress bar on stderr.

        In batch mode the parked calls are first sent as batches and collected. The answers
        are on disk in the cache when this returns."""
        try:
            self._wait(progress)
        finally:
            if self._cache is not None:
                self._cache.flush()

    def send_batches(self) -> None:
        """Batch mode: send the parked calls as batches now and return; `wait` collects them.
        A jury calls this on every judge first, so their batches run side by side."""
        if self._batch is not None and self._loop is not None and self._batch_run is None:
            batch_run = self._batch.run(len(self._futures), self._remaining)
            self._batch_run = asyncio.run_coroutine_threadsafe(batch_run, self._loop)

    def _wait(self, progress: bool) -> None:
        if self._batch is not None and self._loop is not None:
            self.send_batches()
            run, self._batch_run = self._batch_run, None
            assert run is not None
            self._batch.show(run, progress=progress)
            try:
                run.result()
            except concurrent.futures.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken batch must not lose the verdicts: they go online
                self._batch_notes.append(f"batch: failed ({type(exc).__name__}: {exc}); its calls were asked online.")
        futures = list(self._futures)
        pending = [f for f in futures if not f.done()]
        if not pending:
            return
        if not progress:
            concurrent.futures.wait(pending)
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        columns = (
            TextColumn("[bold]Judging[/bold] ({task.fields[provider]})"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(
                "judge", total=len(futures), provider=self.provider_name, completed=len(futures) - len(pending)
            )
            while pending:
                _, not_done = concurrent.futures.wait(pending, timeout=0.1)
                pending = list(not_done)
                bar.update(task, completed=len(futures) - len(pending))

    def rate_limit_timing(self) -> dict[str, float]:
        """Where retrying time went (for benchmarks): backoff sleeps, Retry-After pauses of
        the issue gate, capacity lost to halving (slot-seconds), halvings, the lowest limit."""
        limiter = self._limiter
        if limiter is None or self._loop is None:
            return {"backoff_seconds": self.backoff_seconds}

        async def close() -> None:
            limiter.finish()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result()
        return {
            "backoff_seconds": round(self.backoff_seconds, 3),
            "paused_seconds": round(limiter.paused_seconds, 3),
            "slot_seconds_lost": round(limiter.slot_seconds_lost, 3),
            "halvings": limiter.halvings,
            "min_limit": limiter.min_limit,
        }

    def stats(self) -> dict[str, RubricStats]:
        """Per-rubric volume, errors, tokens and position bias of the verdicts so far."""
        with self._stats_lock:
            result: dict[str, RubricStats] = {}
            for name, tally in sorted(self._tallies.items()):
                stats = tally.stats.model_copy()
                if tally.answered_pairwise_calls:
                    stats.first_position_rate = tally.first_position / tally.answered_pairwise_calls
                result[name] = stats
            return result

    # -- judging ---------------------------------------------------------------------

    async def _judge_safely(self, request: JudgeRequest) -> JudgeVerdict:
        rubric = self._rubrics[request.rubric]
        token = next(self._tokens)
        _REQUEST_TOKEN.set(token)
        try:
            verdict = await self._judge(rubric, request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still yield a counted error verdict
            verdict = self._error_verdict(rubric, request, f"internal judge error: {type(exc).__name__}: {exc}")
        finally:
            if self._batch is not None:
                self._batch.arrive(token)
        self._record(verdict, request)
        return verdict

    def _error_verdict(self, rubric: Rubric, request: JudgeRequest, error: str) -> JudgeVerdict:
        return JudgeVerdict(
            rubric=rubric.name,
            rubric_version=rubric.version,
            kind=rubric.kind,
            metric=request.metric,
            against=request.against,
            error=error,
            provider=self.provider_name,
            output_hash=_sha256(request.candidate),
            context=list(request.context) if request.context is not None else None,
            context_hash=_context_hash(request.context),
        )

    def _plan(self, rubric: Rubric, request: JudgeRequest) -> tuple[Against | None, list[tuple[Order, PromptData]]]:
        """What the candidate is compared with, and the data of each call in each order."""
        if rubric.kind == "pairwise":
            against: Against = request.against or ("baseline" if request.other is not None else "reference")
            other = request.other if against == "baseline" else (request.other or request.reference)
            if other is None:
                msg = (
                    f"pairwise rubric {rubric.name!r} needs something to compare with "
                    f"(against={against!r} but it is missing)"
                )
                raise _PlanError(msg)
            reference = request.reference if against == "baseline" else None
            forward = PromptData(
                input=request.input,
                reference=reference,
                context=request.context,
                conversation=request.conversation,
                response_a=request.candidate,
                response_b=other,
            )
            plans: list[tuple[Order, PromptData]] = [("forward", forward)]
            if rubric.both_orders:
                swapped = dataclasses.replace(forward, response_a=other, response_b=request.candidate)
                plans.append(("swapped", swapped))
            return against, plans
        data = PromptData(
            input=request.input,
            candidate=request.candidate,
            reference=request.reference,
            context=request.context,
            conversation=request.conversation,
        )
        plans = [("forward", data)]
        if rubric.both_orders and request.reference is not None:
            plans.append(("swapped", data))
        return ("reference" if request.reference is not None else None), plans

    async def _judge(self, rubric: Rubric, request: JudgeRequest) -> JudgeVerdict:
        if "context" in rubric.needs and not request.context:
            msg = f"rubric {rubric.name!r} needs retrieved context; pass context= to llm_gate.judge()"
            return self._error_verdict(rubric, request, msg)
        if rubric.mode == "claims":
            return await self._judge_claims(rubric, request)
        try:
            against, plans = self._plan(rubric, request)
            prompts = [render(rubric, data, order) for order, data in plans]
        except _PlanError as exc:
            return self._error_verdict(rubric, request, str(exc))
        except jinja2.TemplateError as exc:
            return self._error_verdict(rubric, request, f"rubric {rubric.name!r} template failed: {exc}")
        if self._batch is not None:
            outcomes = await self._batched(rubric, prompts)
        else:
            outcomes = list(await asyncio.gather(*(self._call(rubric, prompt) for prompt in prompts)))
        calls = [_to_call(rubric, prompt.order, outcome) for prompt, outcome in zip(prompts, outcomes, strict=True)]
        for outcome in outcomes:
            if outcome.error == NOT_IN_CACHE:
                self.missing.append((request.suite, request.case_id, rubric.name))
                break
        return _resolve(rubric, request, against, calls, self.provider_name)

    async def _judge_claims(self, rubric: Rubric, request: JudgeRequest) -> JudgeVerdict:
        """Claims mode: one extraction call, then the claims verified in batches."""
        from pytest_llmgate.judge import claims as claims_mode

        data = PromptData(
            input=request.input, candidate=request.candidate, context=request.context, conversation=request.conversation
        )
        extraction = claims_mode.render_extraction(rubric, data)
        outcome = await self._call(rubric, extraction)
        if self._batch is not None and not outcome.cached:
            self.claims_online += 1
        calls = [_to_call(rubric, "forward", outcome)]
        verdict = JudgeVerdict(
            rubric=rubric.name,
            rubric_version=rubric.version,
            kind=rubric.kind,
            metric=request.metric,
            calls=calls,
            provider=self.provider_name,
            output_hash=_sha256(request.candidate),
            context=list(request.context or ()),
            context_hash=_context_hash(request.context),
        )
        if outcome.answer is None:
            self._note_missing(request, rubric, [outcome])
            verdict.error = outcome.error
            return verdict
        found = claims_mode.extracted_claims(outcome.answer)
        prompts = [claims_mode.render_verification(rubric, data, batch) for batch in claims_mode.batches(found)]
        outcomes = await asyncio.gather(*(self._call(rubric, prompt) for prompt in prompts))
        verdict.calls = calls + [_to_call(rubric, "forward", o) for o in outcomes]
        errors = [o.error for o in outcomes if o.answer is None]
        if errors:
            self._note_missing(request, rubric, list(outcomes))
            verdict.error = "; ".join(e or "no answer" for e in errors)
            return verdict
        checked = []
        for prompt, answered in zip(prompts, outcomes, strict=True):
            assert answered.answer is not None and prompt.data.claims is not None
            checked += claims_mode.claim_verdicts(list(prompt.data.claims), answered.answer)
        verdict.claims = checked
        verdict.value, verdict.label = claims_mode.score(checked)
        return verdict

    def _note_missing(self, request: JudgeRequest, rubric: Rubric, outcomes: list[_Outcome]) -> None:
        if any(outcome.error == NOT_IN_CACHE for outcome in outcomes):
            self.missing.append((request.suite, request.case_id, rubric.name))

    def _key(self, rubric: Rubric, prompt: RenderedPrompt) -> str:
        return cache_key(
            provider=self.identity,
            model=self._provider.model,
            system=prompt.system,
            user=prompt.user,
            schema=_schema_json(prompt.schema or rubric.kind),
            parameters=self._provider.parameters,
            rubric_version=rubric.version,
        )

    async def _call(self, rubric: Rubric, prompt: RenderedPrompt) -> _Outcome:
        """One call, deduplicated against identical calls in flight."""
        key = self._key(rubric, prompt)
        leader = self._inflight.get(key)
        if leader is not None:
            self.deduplicated += 1
            return _unpaid(await asyncio.shield(leader))
        task = asyncio.get_running_loop().create_task(self._fetch(key, rubric, prompt))
        self._inflight[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, key: str, rubric: Rubric, prompt: RenderedPrompt) -> _Outcome:
        """Cache, then the provider with bounded retries; errors are returned, not raised."""
        try:
            if self._cache is not None:
                hit = self._cache.lookup(key)  # microseconds: no thread hop (see judge/cache.py)
                if hit is not None:
                    stored = Usage(hit.input_tokens, hit.output_tokens, hit.cache_read_tokens, hit.cache_write_tokens)
                    return _Outcome(answer=hit.answer, cached=True, list_cost_usd=self.pricer.cost(stored))
            if self.replay_only:
                return _Outcome(error=NOT_IN_CACHE)
            outcome = await self._ask_with_retries(rubric, prompt)
            outcome.list_cost_usd = outcome.cost_usd
            self._store(key, outcome)
            return outcome
        finally:
            self._inflight.pop(key, None)

    async def _batched(self, rubric: Rubric, prompts: list[RenderedPrompt]) -> list[_Outcome]:
        """Batch mode: the cache answers what it can; the rest waits for the batch (deduplicated
        by cache key); an unusable batch result is asked online under the online rules."""
        assert self._batch is not None
        outcomes: list[_Outcome | None] = [None] * len(prompts)
        parked = {}
        for index, prompt in enumerate(prompts):
            key = self._key(rubric, prompt)
            hit = self._cache.lookup(key) if self._cache is not None else None
            if hit is not None:
                stored = Usage(hit.input_tokens, hit.output_tokens, hit.cache_read_tokens, hit.cache_write_tokens)
                outcomes[index] = _Outcome(answer=hit.answer, cached=True, list_cost_usd=self.pricer.cost(stored))
            else:
                parked[index] = self._batch.park(key, rubric, prompt)
        self._batch.arrive(_REQUEST_TOKEN.get())
        for index, entry in parked.items():
            result = await asyncio.shield(entry.future)
            first = not entry.claimed
            entry.claimed = True
            if result.deadline:
                outcome = _Outcome()
                if first:
                    self._past_deadline(outcome, result.error or "while waiting for the batch")
                else:
                    outcome.error = f"{DEADLINE_REACHED} {result.error}; this call was left unjudged."
            elif result.answer is not None:
                outcome = _Outcome(answer=result.answer, attempts=int(first), batched=first)
            else:
                task = self._fallbacks.get(entry.key)
                if task is None:
                    follow_up = self._online_after_batch(entry.key, rubric, entry.prompt, result)
                    task = asyncio.get_running_loop().create_task(follow_up)
                    self._fallbacks[entry.key] = task
                online = await asyncio.shield(task)
                outcome = dataclasses.replace(online, attempts=online.attempts + 1, batched=True)
                if not first:
                    outcome = dataclasses.replace(_unpaid(outcome), batched=False)
            if first:
                usage = Usage(
                    result.input_tokens, result.output_tokens, result.cache_read_tokens, result.cache_write_tokens
                )
                self._spend(outcome, usage, price_factor=BATCH_PRICE_FACTOR)
                outcome.list_cost_usd = outcome.cost_usd
            outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    async def _online_after_batch(
        self, key: str, rubric: Rubric, prompt: RenderedPrompt, result: BatchResult
    ) -> _Outcome:
        """The online follow-up of a batch result without a usable answer (see README: batch mode)."""
        self.reasked_online += 1
        if result.malformed and self.malformed_retries < 1:
            return _Outcome(error=f"malformed judge output after 1 attempts ({result.error})")
        outcome = await self._ask_with_retries(rubric, prompt, malformed=int(result.malformed))
        outcome.list_cost_usd = outcome.cost_usd
        self._store(key, outcome)
        return outcome

    def _store(self, key: str, outcome: _Outcome) -> None:
        """Cache an answered call with its usage (errors are never cached)."""
        if outcome.answer is not None and self._cache is not None:
            self._cache.put(
                key,
                outcome.answer,
                outcome.input_tokens,
                outcome.output_tokens,
                outcome.cache_read_tokens,
                outcome.cache_write_tokens,
            )

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a Retry-After is honoured (waited at least),
        up to `backoff_max`."""
        if retry_after is not None:
            return min(self.backoff_max, retry_after * self._random.uniform(1.0, 1.1))
        delay = min(self.backoff_max, self.backoff_base * 2.0**retry)
        return delay * self._random.uniform(0.5, 1.0)

    def _remaining(self) -> float | None:
        """Seconds left before the deadline (None without one)."""
        if self._deadline_at is None:
            return None
        return self._deadline_at - asyncio.get_running_loop().time()

    def _past_deadline(self, outcome: _Outcome, when: str, cause: ProviderError | None = None) -> _Outcome:
        self.deadline_reached = True
        self.unjudged_calls += 1
        outcome.error = (
            f"{f'{cause}; ' if cause else ''}{DEADLINE_REACHED} {when}; "
            "this call was left unjudged. Raise --llm-gate-judge-deadline to judge every case."
        )
        return outcome

    async def _ask_with_retries(self, rubric: Rubric, prompt: RenderedPrompt, *, malformed: int = 0) -> _Outcome:
        """`malformed`: answers already found malformed (a batch result); the next ask is a re-ask."""
        assert self._limiter is not None
        outcome = _Outcome()
        retries = 0
        asked = prompt if not malformed else dataclasses.replace(prompt, user=prompt.user + _REASK_NOTE)
        while True:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                return self._past_deadline(outcome, "before this call was made")
            try:
                epoch = await asyncio.wait_for(self._limiter.acquire(), remaining)
            except TimeoutError:
                return self._past_deadline(outcome, "while this call waited for a free slot")
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                # A slot freed by a call the deadline cut off: too late to use it.
                await self._limiter.release(epoch, "other")
                return self._past_deadline(outcome, "while this call waited for a free slot")
            # Checked while holding a slot, so calls queued behind the limit see the
            # tokens spent by the calls ahead of them.
            if self.budget_tokens is not None and self.spending.tokens >= self.budget_tokens:
                await self._limiter.release(epoch, "other")
                self.budget_exhausted = True
                outcome.error = (
                    f"{BUDGET_EXHAUSTED} ({self.spending.tokens} of {self.budget_tokens} tokens used); "
                    "this judge call was not made. Raise the budget to judge every case."
                )
                return outcome
            if self.budget_usd is not None and self.spending.usd >= self.budget_usd:
                await self._limiter.release(epoch, "other")
                self.budget_usd_exhausted = True
                outcome.error = (
                    f"{BUDGET_USD_EXHAUSTED} (${self.spending.usd:.4f} of ${self.budget_usd:g} spent); "
                    "this judge call was not made. Raise the budget to judge every case."
                )
                return outcome
            status: Literal["ok", "rate_limited", "other"] = "other"
            retry_after: float | None = None
            problem: ProviderError | None = None
            outcome.attempts += 1
            # The SDK enforces `timeout` per request; this bound also covers a reply that
            # trickles in, and the run's deadline cuts a call in flight.
            bound = self.timeout * 1.5 + 1.0
            remaining = self._remaining()
            cut_by_deadline = remaining is not None and remaining < bound
            if remaining is not None and cut_by_deadline:
                bound = remaining
            try:
                # asyncio.timeout, not wait_for: no extra task per call (Python 3.11's wait_for makes one).
                async with asyncio.timeout(bound):
                    answer = await self._provider.ask(rubric, asked, self.timeout)
                status = "ok"
            except TimeoutError:
                if not cut_by_deadline:
                    problem = ProviderError("judge request timed out", retryable=True)
            except ProviderError as exc:
                status = "rate_limited" if exc.rate_limited else "other"
                if exc.rate_limited and exc.retry_after is not None:
                    retry_after = min(self.backoff_max, exc.retry_after)
                problem = exc
            finally:
                await self._limiter.release(epoch, status, retry_after)
            if status != "ok" and problem is None:
                return self._past_deadline(outcome, "while this call was in flight")
            if status == "ok":
                self._spend(
                    outcome,
                    Usage(
                        answer.input_tokens, answer.output_tokens, answer.cache_read_tokens, answer.cache_write_tokens
                    ),
                )
                outcome.answer = answer.answer
                return outcome
            assert problem is not None
            self._spend(
                outcome,
                Usage(
                    problem.input_tokens, problem.output_tokens, problem.cache_read_tokens, problem.cache_write_tokens
                ),
            )
            if problem.malformed:
                malformed += 1
                if malformed > self.malformed_retries:
                    outcome.error = f"malformed judge output after {malformed} attempts ({problem})"
                    return outcome
                asked = dataclasses.replace(prompt, user=prompt.user + _REASK_NOTE)
                continue
            if problem.retryable:
                if retries >= self.max_retries:
                    outcome.error = f"{problem}; gave up after {outcome.attempts} attempts"
                    return outcome
                if problem.rate_limited and problem.retry_after is not None:
                    # The issue gate is closed until Retry-After; the retry waits there, in line.
                    delay = 0.0
                else:
                    delay = self._backoff(retries, problem.retry_after)
                remaining = self._remaining()
                if remaining is not None and delay >= remaining:
                    return self._past_deadline(outcome, "before the retry was due", problem)
                self.backoff_seconds += delay
                await asyncio.sleep(delay)
                retries += 1
                continue
            outcome.error = str(problem)
            return outcome

    def _spend(self, outcome: _Outcome, usage: Usage, *, price_factor: float = 1.0) -> None:
        """`price_factor`: batch answers are billed at half the online price (both batch APIs)."""
        outcome.input_tokens += usage.input_tokens
        outcome.output_tokens += usage.output_tokens
        outcome.cache_read_tokens += usage.cache_read_tokens
        outcome.cache_write_tokens += usage.cache_write_tokens
        tokens = usage.input_tokens + usage.output_tokens
        self.tokens_used += tokens
        if not tokens:
            return
        cost = self.pricer.cost(usage)
        saved = self.pricer.saved_by_cache(usage)
        if price_factor != 1.0:
            cost = None if cost is None else cost * price_factor
            saved = None if saved is None else saved * price_factor
        outcome.cost_usd = None if cost is None or outcome.cost_usd is None else outcome.cost_usd + cost
        outcome.cache_savings_usd = (
            None if saved is None or outcome.cache_savings_usd is None else outcome.cache_savings_usd + saved
        )
        if cost is not None:
            self.cost_used += cost
        self.spending.add(tokens, cost)

    def _record(self, verdict: JudgeVerdict, request: JudgeRequest) -> None:
        with self._stats_lock:
            tally = self._tallies.setdefault(verdict.rubric, _Tally(RubricStats(rubric=verdict.rubric)))
            stats = tally.stats
            stats.verdicts += 1
            stats.errors += verdict.error is not None
            for call in verdict.calls:
                stats.calls += call.attempts
                stats.cache_hits += call.cached
                stats.batched += call.batch
                stats.input_tokens += call.input_tokens
                stats.output_tokens += call.output_tokens
                stats.cache_read_tokens += call.cache_read_tokens
                stats.cache_write_tokens += call.cache_write_tokens
                stats.cost_usd = _add(stats.cost_usd, call.cost_usd)
                stats.list_cost_usd = _add(stats.list_cost_usd, call.list_cost_usd)
                stats.cache_savings_usd = _add(stats.cache_savings_usd, call.cache_savings_usd)
                if verdict.kind == "pairwise" and call.preference is not None:
                    tally.answered_pairwise_calls += 1
                    tally.first_position += call.preference == "A"
            stats.no_claims += verdict.label == "no claims" and verdict.error is None
            if verdict.consistent is not None:
                stats.swapped_pairs += 1
                stats.consistent_pairs += verdict.consistent


_REASK_NOTE = (
    "\n\nYour previous reply could not be used: it did not match the required JSON schema "
    "or range. Reply again with only the JSON object."
)


def _add(total: float | None, value: float | None) -> float | None:
    """A running dollar sum that becomes unknown once any part is."""
    return None if total is None or value is None else total + value


@functools.cache
def _schema_json(kind: str) -> dict[str, Any]:
    return SCHEMAS[kind].model_json_schema()


class _PlanError(Exception):
    pass


def _sha256(text: str) -> str:
    import hashlib

    from pytest_llmgate._files import utf8

    return hashlib.sha256(utf8(text)).hexdigest()


def _context_hash(context: tuple[str, ...] | None) -> str | None:
    """sha256 over the chunks, each length-prefixed (so chunk boundaries count)."""
    if context is None:
        return None
    return _sha256("".join(f"{len(chunk)}:{chunk}" for chunk in context))


def _to_call(rubric: Rubric, order: Order, outcome: _Outcome) -> JudgeCall:
    call = JudgeCall(
        order=order,
        cached=outcome.cached,
        attempts=outcome.attempts,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cache_read_tokens=outcome.cache_read_tokens,
        cache_write_tokens=outcome.cache_write_tokens,
        cost_usd=outcome.cost_usd,
        list_cost_usd=outcome.list_cost_usd,
        cache_savings_usd=outcome.cache_savings_usd,
        error=outcome.error,
        batch=outcome.batched,
    )
    if outcome.answer is not None:
        call.reason = str(outcome.answer.get("reason", ""))
        if rubric.mode == "claims":
            return call
        if rubric.kind == "pointwise":
            call.score = float(outcome.answer["score"])
        elif rubric.kind == "pass_fail":
            call.score = 1.0 if outcome.answer["verdict"] == "pass" else 0.0
        else:
            call.preference = outcome.answer["preference"]
    return call


def _candidate_outcome(call: JudgeCall) -> str:
    """Pairwise call outcome from the candidate's point of view (it is A when forward)."""
    if call.preference == "tie":
        return "tie"
    candidate_position = "A" if call.order == "forward" else "B"
    return "win" if call.preference == candidate_position else "loss"


_PAIRWISE_VALUE = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def _resolve(
    rubric: Rubric, request: JudgeRequest, against: Against | None, calls: list[JudgeCall], provider: str
) -> JudgeVerdict:
    """Combine the calls of one request into a verdict (see README: order swap)."""
    verdict = JudgeVerdict(
        rubric=rubric.name,
        rubric_version=rubric.version,
        kind=rubric.kind,
        metric=request.metric,
        against=against,
        calls=calls,
        provider=provider,
        output_hash=_sha256(request.candidate),
        context=list(request.context) if request.context is not None else None,
        context_hash=_context_hash(request.context),
    )
    errors = [f"{call.order}: {call.error}" if len(calls) > 1 else call.error for call in calls if call.error]
    if errors:
        verdict.error = "; ".join(e for e in errors if e)
        return verdict
    swapped = len(calls) == 2
    if rubric.kind == "pairwise":
        outcomes = [_candidate_outcome(call) for call in calls]
        verdict.first_position_preferred = sum(call.preference == "A" for call in calls)
        if swapped:
            verdict.consistent = outcomes[0] == outcomes[1]
            label = outcomes[0] if verdict.consistent else "tie"
        else:
            label = outcomes[0]
        verdict.label = label
        verdict.value = _PAIRWISE_VALUE[label]
    elif rubric.kind == "pass_fail":
        passes = [call.score == 1.0 for call in calls]
        # A pass must survive both orders: a disagreement is recorded as a fail.
        passed = all(passes)
        verdict.consistent = (passes[0] == passes[1]) if swapped else None
        verdict.label = "pass" if passed else "fail"
        verdict.value = 1.0 if passed else 0.0
    else:
        scores = [call.score for call in calls if call.score is not None]
        mean = sum(scores) / len(scores)
        # Both orders agree when their scores are within one scale point; the mean is kept.
        verdict.consistent = (abs(scores[0] - scores[1]) <= 1) if swapped else None
        verdict.value = (mean - rubric.scale_min) / (rubric.scale_max - rubric.scale_min)
        verdict.label = f"{mean:g}/{rubric.scale_max}"
    return verdict
