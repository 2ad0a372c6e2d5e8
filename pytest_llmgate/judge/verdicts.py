"""From calls to a verdict: what one judge call came to (`Outcome`), the call as recorded
(`to_call`), and the calls of one request combined into its verdict (`resolve`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pytest_llmgate.gate.records import Against, JudgeCall, JudgeVerdict

if TYPE_CHECKING:
    from pytest_llmgate.judge.prompts import Order
    from pytest_llmgate.judge.rubrics import Rubric


class Judged(Protocol):
    """What a verdict records of its request (an `engine.JudgeRequest`)."""

    @property
    def metric(self) -> str: ...
    @property
    def candidate(self) -> str: ...
    @property
    def context(self) -> tuple[str, ...] | None: ...


@dataclass
class Outcome:
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


def unpaid(outcome: Outcome) -> Outcome:
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


def add_dollars(total: float | None, value: float | None) -> float | None:
    """A running dollar sum that becomes unknown once any part is."""
    return None if total is None or value is None else total + value


def sha256(text: str) -> str:
    import hashlib

    from pytest_llmgate._files import utf8

    return hashlib.sha256(utf8(text)).hexdigest()


def context_hash(context: tuple[str, ...] | None) -> str | None:
    """sha256 over the chunks, each length-prefixed (so chunk boundaries count)."""
    if context is None:
        return None
    return sha256("".join(f"{len(chunk)}:{chunk}" for chunk in context))


def to_call(rubric: Rubric, order: Order, outcome: Outcome) -> JudgeCall:
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


def candidate_outcome(call: JudgeCall) -> str:
    """Pairwise call outcome from the candidate's point of view (it is A when forward)."""
    if call.preference == "tie":
        return "tie"
    candidate_position = "A" if call.order == "forward" else "B"
    return "win" if call.preference == candidate_position else "loss"


_PAIRWISE_VALUE = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def resolve(
    rubric: Rubric, request: Judged, against: Against | None, calls: list[JudgeCall], provider: str
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
        output_hash=sha256(request.candidate),
        context=list(request.context) if request.context is not None else None,
        context_hash=context_hash(request.context),
    )
    errors = [f"{call.order}: {call.error}" if len(calls) > 1 else call.error for call in calls if call.error]
    if errors:
        verdict.error = "; ".join(e for e in errors if e)
        return verdict
    swapped = len(calls) == 2
    if rubric.kind == "pairwise":
        outcomes = [candidate_outcome(call) for call in calls]
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
