"""What the mutants' judge calls will cost at most, from the unmutated run's results.

A mutated case is judged again with every rubric the suite applied to it (a pairwise rubric in
both orders: a changed output is no longer a free tie with the baseline); unmutated cases are
served by the judge cache. Tokens per call are the mean of the unmutated run's calls that
reached the provider (or, when all were cache hits, of the calls of the runs that wrote the
baselines, their `judge_cost`); dollars per call are the mean list price the run recorded for its calls
at the judge's price table (`judge/pricing.py`: `genai-prices` or `llm_gate_judge_price`),
which is recorded for cache hits too.
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
    """Input plus output tokens; None when neither the unmutated run nor the baselines recorded any."""
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


def _calls(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for suite in (results.get("suites") or {}).values():
        for case in (suite.get("cases") or {}).values():
            for verdict in case.get("judge") or []:
                for sub in [verdict, *(verdict.get("jury") or [])]:
                    found += sub.get("calls") or []
    return found


def _mean_tokens(calls: list[dict[str, Any]]) -> float | None:
    """Mean input plus output tokens of the calls that reported them (cache hits report none)."""
    seen = [int(c.get("input_tokens") or 0) + int(c.get("output_tokens") or 0) for c in calls]
    seen = [tokens for tokens in seen if tokens > 0]
    return sum(seen) / len(seen) if seen else None


def _baseline_tokens(results: dict[str, Any]) -> float | None:
    """Mean tokens of a call in the runs that wrote the baselines (their `judge_cost`), when known."""
    calls = tokens = 0.0
    for baseline in (results.get("baselines") or {}).values():
        cost = (baseline or {}).get("judge_cost") or {}
        spent = float(cost.get("input_tokens") or 0) + float(cost.get("output_tokens") or 0)
        if spent > 0:
            calls += float(cost.get("calls") or 0)
            tokens += spent
    return tokens / calls if calls else None


def _mean_dollars(calls: list[dict[str, Any]]) -> float | None:
    """Mean list price of a call at the judge's price table (recorded for cache hits too)."""
    prices: list[float] = []
    for call in calls:
        if call.get("error"):
            continue
        if call.get("list_cost_usd") is None:
            return None
        prices.append(float(call["list_cost_usd"]))
    return sum(prices) / len(prices) if prices else None


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
    per_case = calls_per_case(results)
    calls = sum(per_case.get((p.suite, case_id), 0) for p in planted for case_id in p.cases)
    pricers = _pricers(results)
    if all(p.free for p in pricers):
        return Estimate(calls=calls, tokens=0, dollars=0.0, price="offline judge: free")
    recorded = _calls(results)
    tokens = _mean_tokens(recorded)
    if tokens is None:
        tokens = _baseline_tokens(results)
    price = ", ".join(sorted({p.source for p in pricers}))
    dollars = _mean_dollars(recorded) if all(p.known for p in pricers) else None
    return Estimate(
        calls=calls,
        tokens=None if tokens is None else round(calls * tokens),
        dollars=None if dollars is None else calls * dollars,
        price=price,
    )
