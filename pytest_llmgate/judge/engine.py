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
import dataclasses
import functools
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2

from pytest_llmgate.gate.records import Against, JudgeVerdict, RubricStats
from pytest_llmgate.judge.batch import BatchCollector, BatchOptions, BatchResult, Waiter, make_batch_api
from pytest_llmgate.judge.cache import JudgeCache, cache_key
from pytest_llmgate.judge.limits import AimdLimiter, Spending, waker
from pytest_llmgate.judge.pricing import Pricer, Usage
from pytest_llmgate.judge.prompts import Order, PromptData, RenderedPrompt, render
from pytest_llmgate.judge.providers import MAX_TOKENS, Provider, ProviderError, make_provider
from pytest_llmgate.judge.rubrics import Rubric
from pytest_llmgate.judge.schemas import SCHEMAS
from pytest_llmgate.judge.verdicts import Outcome, add_dollars, context_hash, resolve, sha256, to_call, unpaid

NOT_IN_CACHE = "not in cache (replay-only mode)"
#: What a batch answer costs against the same call online: both batch APIs bill half.
BATCH_PRICE_FACTOR = 0.5
BUDGET_EXHAUSTED = "token budget exhausted"
BUDGET_USD_EXHAUSTED = "dollar budget exhausted"
DEADLINE_REACHED = "judge deadline reached"
#: Tests import the limiter from here (its home is judge/limits.py).
_AimdLimiter = AimdLimiter


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
class _Tally:
    stats: RubricStats
    first_position: int = 0
    answered_pairwise_calls: int = 0


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
        self._budgeted = self._provider.remote and (budget_tokens is not None or budget_usd is not None)
        """Calls reserve their largest cost against the budgets before they are made."""
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
        self._limiter: AimdLimiter | None = None
        self._inflight: dict[str, asyncio.Task[Outcome]] = {}
        self._closed = False
        self._random = random.Random()

        # Batch mode (judge/batch.py): cache misses wait for a batch instead of going online.
        self._batch: BatchCollector | None = None
        self._batch_notes: list[str] = []
        self._batch_run: concurrent.futures.Future[None] | None = None
        self._finished = 0
        """Requests judged so far (on the loop): a round of batches goes out when every other one waits."""
        self.reasked_online = 0
        """Batch mode: calls whose batch result was unusable and that were asked online."""
        if batch is not None and not self.replay_only:
            api = make_batch_api(self._provider) if self._provider.remote else None
            if api is not None:
                remote: Any = self._provider  # a provider with a batch API is a RemoteProvider
                self._batch = BatchCollector(api, remote, batch, self._cache, left=self._remaining)
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
        self._limiter = AimdLimiter(self.concurrency, self._recover_after)
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

    def __enter__(self) -> JudgeEngine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------

    @property
    def limiter(self) -> AimdLimiter | None:
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
            if self._batch.rounds > 1:
                notes.append(
                    f"batch: sent in {self._batch.rounds} rounds: claims-mode verdicts extract their claims "
                    "in one round and verify them in the next."
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
            batch_run = self._batch.run(len(self._futures), lambda: self._finished)
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
        try:
            verdict = await self._judge(rubric, request, Waiter())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still yield a counted error verdict
            verdict = self._error_verdict(rubric, request, f"internal judge error: {type(exc).__name__}: {exc}")
        self._finished += 1
        if self._batch is not None:
            self._batch.check()
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
            output_hash=sha256(request.candidate),
            context=list(request.context) if request.context is not None else None,
            context_hash=context_hash(request.context),
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

    async def _judge(self, rubric: Rubric, request: JudgeRequest, waiter: Waiter) -> JudgeVerdict:
        """`waiter` stands for this request in batch mode (how many of its calls wait for a batch)."""
        if "context" in rubric.needs and not request.context:
            msg = f"rubric {rubric.name!r} needs retrieved context; pass context= to llm_gate.judge()"
            return self._error_verdict(rubric, request, msg)
        if rubric.mode == "claims":
            return await self._judge_claims(rubric, request, waiter)
        try:
            against, plans = self._plan(rubric, request)
            prompts = [render(rubric, data, order) for order, data in plans]
        except _PlanError as exc:
            return self._error_verdict(rubric, request, str(exc))
        except jinja2.TemplateError as exc:
            return self._error_verdict(rubric, request, f"rubric {rubric.name!r} template failed: {exc}")
        outcomes = await asyncio.gather(*(self._call(waiter, rubric, prompt) for prompt in prompts))
        calls = [to_call(rubric, prompt.order, outcome) for prompt, outcome in zip(prompts, outcomes, strict=True)]
        for outcome in outcomes:
            if outcome.error == NOT_IN_CACHE:
                self.missing.append((request.suite, request.case_id, rubric.name))
                break
        return resolve(rubric, request, against, calls, self.provider_name)

    async def _judge_claims(self, rubric: Rubric, request: JudgeRequest, waiter: Waiter) -> JudgeVerdict:
        """Claims mode: one extraction call, then the claims verified in groups (in batch mode,
        two rounds of batches: the verification calls exist only once the extraction is answered)."""
        from pytest_llmgate.judge import claims as claims_mode

        data = PromptData(
            input=request.input, candidate=request.candidate, context=request.context, conversation=request.conversation
        )
        extraction = claims_mode.render_extraction(rubric, data)
        outcome = await self._call(waiter, rubric, extraction)
        calls = [to_call(rubric, "forward", outcome)]
        verdict = JudgeVerdict(
            rubric=rubric.name,
            rubric_version=rubric.version,
            kind=rubric.kind,
            metric=request.metric,
            calls=calls,
            provider=self.provider_name,
            output_hash=sha256(request.candidate),
            context=list(request.context or ()),
            context_hash=context_hash(request.context),
        )
        if outcome.answer is None:
            self._note_missing(request, rubric, [outcome])
            verdict.error = outcome.error
            return verdict
        found = claims_mode.extracted_claims(outcome.answer)
        prompts = [claims_mode.render_verification(rubric, data, batch) for batch in claims_mode.batches(found)]
        outcomes = await asyncio.gather(*(self._call(waiter, rubric, prompt) for prompt in prompts))
        verdict.calls = calls + [to_call(rubric, "forward", o) for o in outcomes]
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

    def _note_missing(self, request: JudgeRequest, rubric: Rubric, outcomes: list[Outcome]) -> None:
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

    async def _call(self, waiter: Waiter, rubric: Rubric, prompt: RenderedPrompt) -> Outcome:
        """One call: by batch when batching, else online (the same request either way)."""
        key = self._key(rubric, prompt)
        if self._batch is not None:
            return await self._via_batch(waiter, key, rubric, prompt)
        return await self._online(key, rubric, prompt)

    async def _online(
        self, key: str, rubric: Rubric, prompt: RenderedPrompt, after: BatchResult | None = None
    ) -> Outcome:
        """One online call, deduplicated against identical calls in flight; `after`: the unusable
        batch result this call follows up."""
        leader = self._inflight.get(key)
        if leader is not None:
            self.deduplicated += 1
            return unpaid(await asyncio.shield(leader))
        task = asyncio.get_running_loop().create_task(self._fetch(key, rubric, prompt, after))
        self._inflight[key] = task
        return await asyncio.shield(task)

    def _lookup(self, key: str) -> Outcome | None:
        """A cached answer as an outcome (microseconds: no thread hop, see judge/cache.py)."""
        hit = self._cache.lookup(key) if self._cache is not None else None
        if hit is None:
            return None
        stored = Usage(hit.input_tokens, hit.output_tokens, hit.cache_read_tokens, hit.cache_write_tokens)
        return Outcome(answer=hit.answer, cached=True, list_cost_usd=self.pricer.cost(stored))

    async def _fetch(self, key: str, rubric: Rubric, prompt: RenderedPrompt, after: BatchResult | None) -> Outcome:
        """Cache, then the provider with bounded retries; errors are returned, not raised."""
        try:
            hit = self._lookup(key)
            if hit is not None:
                return hit
            if self.replay_only:
                return Outcome(error=NOT_IN_CACHE)
            malformed = 0
            if after is not None:
                # The online follow-up of a batch result without a usable answer (README: batch mode).
                # Calls whose batch was never created are told by the collector's own note.
                self.reasked_online += after.sent
                malformed = int(after.malformed)
                if after.malformed and self.malformed_retries < 1:
                    return Outcome(error=f"malformed judge output after 1 attempts ({after.error})")
            outcome = await self._ask_with_retries(rubric, prompt, malformed=malformed)
            outcome.list_cost_usd = outcome.cost_usd
            self._store(key, outcome)
            return outcome
        finally:
            self._inflight.pop(key, None)

    async def _via_batch(self, waiter: Waiter, key: str, rubric: Rubric, prompt: RenderedPrompt) -> Outcome:
        """Batch mode: the cache answers what it can; the rest waits for the batch (deduplicated
        by cache key); an unusable batch result is asked online under the online rules."""
        assert self._batch is not None
        hit = self._lookup(key)
        if hit is not None:
            return hit
        result, first = await self._batch.fetch(waiter, key, rubric, prompt)
        if result.deadline:
            outcome = Outcome()
            if first:
                self._past_deadline(outcome, result.error or "while waiting for the batch")
            else:
                outcome.error = f"{DEADLINE_REACHED} {result.error}; this call was left unjudged."
        elif result.answer is not None:
            outcome = Outcome(answer=result.answer, attempts=int(first), batched=first)
        else:
            online = await self._online(key, rubric, prompt, after=result)
            if not first:
                return dataclasses.replace(unpaid(online), batched=False)
            # A call whose batch was never created is counted once: its online attempts.
            outcome = dataclasses.replace(online, attempts=online.attempts + result.sent, batched=result.sent)
        if first:
            usage = Usage(
                result.input_tokens, result.output_tokens, result.cache_read_tokens, result.cache_write_tokens
            )
            self._spend(outcome, usage, price_factor=BATCH_PRICE_FACTOR)
            outcome.list_cost_usd = outcome.cost_usd
        return outcome

    def _store(self, key: str, outcome: Outcome) -> None:
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

    def _past_deadline(self, outcome: Outcome, when: str, cause: ProviderError | None = None) -> Outcome:
        self.deadline_reached = True
        self.unjudged_calls += 1
        outcome.error = (
            f"{f'{cause}; ' if cause else ''}{DEADLINE_REACHED} {when}; "
            "this call was left unjudged. Raise --llm-gate-judge-deadline to judge every case."
        )
        return outcome

    async def _ask_with_retries(self, rubric: Rubric, prompt: RenderedPrompt, *, malformed: int = 0) -> Outcome:
        """`malformed`: answers already found malformed (a batch result); the next ask is a re-ask."""
        assert self._limiter is not None
        outcome = Outcome()
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
            # Reserved while holding a slot, so calls queued behind the limit see the
            # spending of the calls ahead of them.
            reserved = (0, 0.0)
            if self._budgeted:
                got = await self._reserve(asked)
                if isinstance(got, str):
                    await self._limiter.release(epoch, "other")
                    if got == "deadline":
                        return self._past_deadline(outcome, "while this call waited for the budget")
                    return self._refuse(outcome, got)
                reserved = got
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
                if status == "ok":
                    self._spend(
                        outcome,
                        Usage(
                            answer.input_tokens,
                            answer.output_tokens,
                            answer.cache_read_tokens,
                            answer.cache_write_tokens,
                        ),
                    )
                elif problem is not None:
                    self._spend(
                        outcome,
                        Usage(
                            problem.input_tokens,
                            problem.output_tokens,
                            problem.cache_read_tokens,
                            problem.cache_write_tokens,
                        ),
                    )
                if self._budgeted:
                    self.spending.release(*reserved)
            if status != "ok" and problem is None:
                return self._past_deadline(outcome, "while this call was in flight")
            if status == "ok":
                outcome.answer = answer.answer
                return outcome
            assert problem is not None
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

    def _estimate(self, prompt: RenderedPrompt) -> tuple[int, float]:
        """A call's largest cost: its prompt at about four characters a token (plus a margin
        for the request's framing) and the largest reply, with no prompt-cache discount."""
        prompt_tokens = (len(prompt.system) + len(prompt.user)) // 4 + 64
        if self.budget_usd is None:
            return prompt_tokens + MAX_TOKENS, 0.0
        usd = self.pricer.cost(Usage(prompt_tokens, MAX_TOKENS)) or 0.0
        return prompt_tokens + MAX_TOKENS, usd

    async def _reserve(self, prompt: RenderedPrompt) -> tuple[int, float] | str:
        """Reserve the call's largest cost against the budgets, waiting while calls in flight may
        use up what is left; returns the reservation, or `tokens`/`usd`/`deadline`."""
        tokens, usd = self._estimate(prompt)
        loop = asyncio.get_running_loop()
        while True:
            event = asyncio.Event()
            got = self.spending.reserve(tokens, usd, self.budget_tokens, self.budget_usd, waker(loop, event))
            if got == "ok":
                return tokens, usd
            if got != "wait":
                return got
            remaining = self._remaining()
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                return "deadline"

    def _refuse(self, outcome: Outcome, budget: str) -> Outcome:
        """A call not made because a budget is spent."""
        if budget == "tokens":
            self.budget_exhausted = True
            outcome.error = (
                f"{BUDGET_EXHAUSTED} ({self.spending.tokens} of {self.budget_tokens} tokens used); "
                "this judge call was not made. Raise the budget to judge every case."
            )
        else:
            self.budget_usd_exhausted = True
            outcome.error = (
                f"{BUDGET_USD_EXHAUSTED} (${self.spending.usd:.4f} of ${self.budget_usd:g} spent); "
                "this judge call was not made. Raise the budget to judge every case."
            )
        return outcome

    def _spend(self, outcome: Outcome, usage: Usage, *, price_factor: float = 1.0) -> None:
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
                stats.cost_usd = add_dollars(stats.cost_usd, call.cost_usd)
                stats.list_cost_usd = add_dollars(stats.list_cost_usd, call.list_cost_usd)
                stats.cache_savings_usd = add_dollars(stats.cache_savings_usd, call.cache_savings_usd)
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


@functools.cache
def _schema_json(kind: str) -> dict[str, Any]:
    return SCHEMAS[kind].model_json_schema()


class _PlanError(Exception):
    pass
