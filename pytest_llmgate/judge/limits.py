"""What bounds the judge's calls in flight: the AIMD concurrency limit (rate limits) and the
spending ledger with its reservations (budgets)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Literal


class AimdLimiter:
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
    judges of a jury), so that one budget covers them all.

    A call in flight holds a reservation of what it may cost at most (its prompt plus the
    largest reply). A call starts only while what is spent plus what is reserved is below the
    budget; else it waits for a call in flight to finish, or finds the budget spent. So the
    calls that finish past the budget cost less than the last one started: the overshoot is at
    most one call's cost, whatever the concurrency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tokens = 0
        """Tokens spent so far by every engine sharing this ledger."""
        self.usd = 0.0
        """Dollars spent so far (calls whose price is unknown add none)."""
        self.reserved_tokens = 0
        """Tokens the calls in flight may still spend at most."""
        self.reserved_usd = 0.0
        """Dollars the calls in flight may still spend at most."""
        self._waiters: list[Callable[[], None]] = []

    def add(self, tokens: int, usd: float | None) -> None:
        with self._lock:
            self.tokens += tokens
            if usd is not None:
                self.usd += usd

    def reserve(
        self, tokens: int, usd: float, budget_tokens: int | None, budget_usd: float | None, wake: Callable[[], None]
    ) -> Literal["ok", "wait", "tokens", "usd"]:
        """Reserve a call's largest cost: `ok`, `wait` (calls in flight may use up what is left:
        `wake` is called when one finishes), or which budget is spent."""
        with self._lock:
            if budget_tokens is not None and self.tokens >= budget_tokens:
                return "tokens"
            if budget_usd is not None and self.usd >= budget_usd:
                return "usd"
            if (budget_tokens is not None and self.tokens + self.reserved_tokens >= budget_tokens) or (
                budget_usd is not None and self.usd + self.reserved_usd >= budget_usd
            ):
                self._waiters.append(wake)
                return "wait"
            self.reserved_tokens += tokens
            self.reserved_usd += usd
            return "ok"

    def release(self, tokens: int, usd: float) -> None:
        """A call that reserved `tokens` and `usd` is over (what it spent is already added)."""
        with self._lock:
            self.reserved_tokens -= tokens
            self.reserved_usd -= usd
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()


def waker(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Callable[[], None]:
    """Set `event` on its loop from any thread (a jury's judges run on loops of their own)."""

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(event.set)

    return wake
