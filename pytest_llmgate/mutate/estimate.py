"""What the mutants' judge calls will cost at most, from the unmutated run's results.

A mutated case is judged again with every rubric the suite applied to it (a pairwise rubric in
both orders: a changed output is no longer a free tie with the baseline); unmutated cases are
served by the judge cache. Tokens per call are the unmutated run's mean; dollars come from the
price table of the judge (`judge/pricing.py`), as the run itself prices its calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_llmgate.mutate.plant import Planted


@dataclass
class Estimate:
    """The most the mutants can spend on judge calls."""

    calls: int
    tokens: int | None
    """Input plus output tokens; None when no call of the unmutated run reported its tokens."""
    dollars: float | None
    """None when the judge's price is unknown (or the tokens are)."""
    price: str
    """Where the price comes from (e.g. `genai-prices 0.0.30`, `offline judge: free`)."""


def calls_per_case(results: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Judge calls one changed output of each case costs: one per pointwise rubric, two per pairwise, per juror."""
    counts: dict[tuple[str, str], int] = {}
    for name, suite in (results.get("suites") or {}).items():
        for case_id, case in (suite.get("cases") or {}).items():
            total = 0
            for verdict in case.get("judge") or []:
                jurors = len(verdict.get("jury") or []) or 1
                total += jurors * (2 if verdict.get("kind") == "pairwise" else 1)
            counts[(name, case_id)] = total
    return counts


def _mean_usage(results: dict[str, Any]) -> tuple[float, float, float, float] | None:
    seen = []
    for suite in (results.get("suites") or {}).values():
        for case in (suite.get("cases") or {}).values():
            for verdict in case.get("judge") or []:
                for sub in [verdict, *(verdict.get("jury") or [])]:
                    for call in sub.get("calls") or []:
                        if int(call.get("input_tokens") or 0) > 0:
                            seen.append(
                                (
                                    int(call.get("input_tokens") or 0),
                                    int(call.get("output_tokens") or 0),
                                    int(call.get("cache_read_tokens") or 0),
                                    int(call.get("cache_write_tokens") or 0),
                                )
                            )
    if not seen:
        return None
    n = len(seen)
    inputs, outputs, reads, writes = (sum(values) / n for values in zip(*seen, strict=True))
    return inputs, outputs, reads, writes


def _pricers(results: dict[str, Any]) -> list[Any]:
    from pytest_llmgate.judge.pricing import PriceError, parse_price, pricer_for

    settings = results.get("settings") or {}
    override = None
    if settings.get("judge_price"):
        try:
            override = parse_price(str(settings["judge_price"]))
        except PriceError:
            override = None
    specs = [str(s) for s in settings.get("judges") or [settings.get("judge") or "offline"]]
    pricers = []
    for spec in specs:
        kind, _, model = spec.partition(":")
        pricers.append(pricer_for(kind, model.split("@", 1)[0], override))
    return pricers


def estimate(results: dict[str, Any], planted: list[Planted]) -> Estimate:
    """The calls, tokens and dollars the planted mutants can cost at most (cache hits make it less)."""
    from pytest_llmgate.judge.pricing import Usage

    per_case = calls_per_case(results)
    calls = sum(per_case.get((p.suite, case_id), 0) for p in planted for case_id in p.cases)
    pricers = _pricers(results)
    if all(p.source.startswith("offline") for p in pricers):
        return Estimate(calls=calls, tokens=0, dollars=0.0, price="offline judge: free")
    usage = _mean_usage(results)
    price = ", ".join(sorted({p.source for p in pricers}))
    if usage is None:
        return Estimate(calls=calls, tokens=None, dollars=None, price=price)
    tokens = round(calls * (usage[0] + usage[1]))
    one = Usage(
        input_tokens=round(usage[0]),
        output_tokens=round(usage[1]),
        cache_read_tokens=round(usage[2]),
        cache_write_tokens=round(usage[3]),
    )
    # a jury splits the calls between its judges; price each call at the dearest judge (an upper bound)
    costs = [p.cost(one) for p in pricers]
    if any(c is None for c in costs):
        return Estimate(calls=calls, tokens=tokens, dollars=None, price=price)
    return Estimate(calls=calls, tokens=tokens, dollars=calls * max(float(c) for c in costs), price=price)
