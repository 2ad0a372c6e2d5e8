"""What judge calls cost in dollars: the maintained `genai-prices` table, or a price from ini.

Anthropic and OpenAI models are priced by `genai-prices` (Pydantic's table of published
prices, bundled in the package: no network at run time), from each call's usage: input,
output, prompt-cache reads and writes. An OpenAI-compatible server (vLLM, Ollama) has no
published price; `llm_gate_judge_price` gives one (it also overrides the table). A model
with neither is "price unknown": the run reports tokens only. The offline judge is free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

#: The ini key that prices a judge by hand, in dollars per million tokens.
PRICE_INI = "llm_gate_judge_price"
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")


class PriceError(ValueError):
    """A hand-written judge price that cannot be read."""


@dataclass(frozen=True)
class Usage:
    """Tokens of one judge call, as the provider reported them."""

    input_tokens: int = 0
    """Every input token, prompt-cache reads and writes included."""
    output_tokens: int = 0
    cache_read_tokens: int = 0
    """Input tokens served from the provider's prompt cache."""
    cache_write_tokens: int = 0
    """Input tokens written to the provider's prompt cache."""


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens; cache reads and writes default to the input price."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost(self, usage: Usage) -> float:
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        uncached = max(0, usage.input_tokens - read - write)
        read_price = self.input if self.cache_read is None else self.cache_read
        write_price = self.input if self.cache_write is None else self.cache_write
        dollars = (
            uncached * self.input + read * read_price + write * write_price + usage.output_tokens * self.output
        ) / 1_000_000
        return dollars

    def describe(self) -> str:
        parts = [f"{key}={getattr(self, key):g}" for key in _PRICE_KEYS if getattr(self, key) is not None]
        return " ".join(parts) + " $/Mtok"


def parse_price(text: str) -> Price:
    """Read `input=0.10 output=0.40 [cache_read=0.01] [cache_write=0.125]` ($ per million tokens)."""
    values: dict[str, float] = {}
    for item in text.split():
        key, sep, raw = item.partition("=")
        if not sep or key not in _PRICE_KEYS:
            msg = (
                f"'{PRICE_INI}' entries must look like KEY=DOLLARS_PER_MILLION_TOKENS with KEY one of "
                f"{', '.join(_PRICE_KEYS)} (got {item!r})."
            )
            raise PriceError(msg)
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value >= 0:
            msg = f"'{PRICE_INI}' {key} must be a non-negative number of dollars per million tokens (got {raw!r})."
            raise PriceError(msg)
        values[key] = value
    missing = [key for key in ("input", "output") if key not in values]
    if missing:
        msg = f"'{PRICE_INI}' needs {' and '.join(missing)} (got {text.strip()!r}), e.g. input=0.10 output=0.40."
        raise PriceError(msg)
    return Price(**values)


#: Requests up to this many input tokens are priced from per-token rates read off the table once
#: (checked to be linear up to here); larger ones, which may cross a long-context price tier,
#: are priced by genai-prices itself.
LINEAR_UP_TO = 32_000


class Pricer:
    """Prices the calls of one judge; `known` is False when no price is to be had."""

    def __init__(self, source: str, *, price: Price | None = None, table: tuple[str, str] | None = None) -> None:
        self.source = source
        """Where prices come from, shown in every report (e.g. `genai-prices 0.2.3`, `price unknown`)."""
        self._price = price
        self._table = table
        self.known = price is not None or table is not None
        self.free = source.startswith("offline")
        # genai-prices takes about 0.1 ms a call; judge calls are priced from its per-token rates.
        self._rates = _linear_rates(table) if table is not None else None

    def cost(self, usage: Usage) -> float | None:
        """Dollars for one call's usage; None when the price is unknown."""
        if self.free:
            return 0.0
        if self._price is not None:
            return self._price.cost(usage)
        if self._table is None:
            return None
        if self._rates is not None and usage.input_tokens <= LINEAR_UP_TO:
            return self._rates.cost(usage)
        return _table_cost(self._table, usage)

    def saved_by_cache(self, usage: Usage) -> float | None:
        """Dollars the provider's prompt cache saved on this call (reads priced as plain input)."""
        if not usage.cache_read_tokens:
            return 0.0
        actual = self.cost(usage)
        full = self.cost(replace(usage, cache_read_tokens=0))
        if actual is None or full is None:
            return None
        return max(0.0, full - actual)


def _table_cost(table: tuple[str, str], usage: Usage) -> float | None:
    from genai_prices import Usage as TableUsage
    from genai_prices import calc_price

    provider, model = table
    try:
        price = calc_price(
            TableUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            ),
            model_ref=model,
            provider_id=provider,
        )
    except (LookupError, ValueError):
        return None
    return float(price.total_price)


def _linear_rates(table: tuple[str, str]) -> Price | None:
    """The table's per-token rates, or None when its prices are not linear up to `LINEAR_UP_TO`."""
    probe = 1000

    def per_million(usage: Usage) -> float | None:
        cost = _table_cost(table, usage)
        return None if cost is None else cost * 1_000_000 / probe

    rates = [
        per_million(Usage(input_tokens=probe)),
        per_million(Usage(output_tokens=probe)),
        per_million(Usage(input_tokens=probe, cache_read_tokens=probe)),
        per_million(Usage(input_tokens=probe, cache_write_tokens=probe)),
    ]
    if any(rate is None for rate in rates):
        return None
    price = Price(*(float(rate or 0.0) for rate in rates))
    check = Usage(input_tokens=LINEAR_UP_TO, output_tokens=probe, cache_read_tokens=probe, cache_write_tokens=probe)
    exact = _table_cost(table, check)
    if exact is None or not math.isclose(price.cost(check), exact, rel_tol=1e-9, abs_tol=1e-12):
        return None
    return price


def pricer_for(kind: str, model: str, override: Price | None = None) -> Pricer:
    """The pricer of a judge: offline is free, a hand-written price wins, else the table."""
    if kind == "offline":
        return Pricer("offline judge: free")
    if override is not None:
        return Pricer(f"{PRICE_INI} ({override.describe()})", price=override)
    if kind in ("anthropic", "openai"):
        try:
            from importlib.metadata import version

            from genai_prices import Usage as TableUsage
            from genai_prices import calc_price

            calc_price(TableUsage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=kind)
        except ImportError:
            return Pricer("price unknown (genai-prices is not installed)")
        except LookupError:
            return Pricer(f"price unknown ({kind}:{model} is not in genai-prices; set {PRICE_INI})")
        return Pricer(f"genai-prices {version('genai-prices')}", table=(kind, model))
    return Pricer(f"price unknown (set {PRICE_INI} for an OpenAI-compatible server)")


def describe_dollars(value: float | None) -> str:
    """`$0.0123`, with enough digits for the small sums one eval run costs."""
    if value is None:
        return "price unknown"
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:.2f}"
    return f"${value:.4g}"


def total(values: list[Any]) -> float | None:
    """Sum of costs; None when any is unknown (a partial sum would understate the cost)."""
    if any(value is None for value in values):
        return None
    return float(sum(values))


@dataclass(frozen=True)
class RunCost:
    """A run's judging cost, for the reports."""

    price_source: str | None
    spent_usd: float | None
    """Dollars spent in this run (cache hits cost nothing); None: price unknown."""
    list_usd: float | None
    """Dollars this run's verdicts of its cases cost without our cache (re-judged baseline
    outputs not included, as in the baselines); None: price unknown."""
    baseline_usd: float | None
    """The same, as recorded by the baselines compared with; None when they do not say."""
    tokens: int
    cache_read_tokens: int
    cache_savings_usd: float | None
    calls: int
    cache_hits: int

    @property
    def change(self) -> float | None:
        """Relative change of the list-price cost against the baselines'."""
        if self.list_usd is None or not self.baseline_usd:
            return None
        return self.list_usd / self.baseline_usd - 1.0


def run_cost(results: Any) -> RunCost | None:
    """The judging cost of a `RunResults`; None when it made no judge verdict."""
    stats = list(results.judge_stats.values())
    if not stats or not any(s.calls or s.cache_hits for s in stats):
        return None
    baseline_values, list_values = [], []
    for name, suite in results.suites.items():
        suite_cost = suite.judge_cost()
        if not suite_cost:
            continue
        list_values.append(suite_cost.get("usd"))
        base = results.baselines.get(name)
        baseline_values.append(base.judge_cost.get("usd") if base is not None else None)
    return RunCost(
        price_source=results.judge_price,
        spent_usd=total([s.cost_usd for s in stats]),
        list_usd=total(list_values),
        baseline_usd=total(baseline_values) if baseline_values else None,
        tokens=sum(s.input_tokens + s.output_tokens for s in stats),
        cache_read_tokens=sum(s.cache_read_tokens for s in stats),
        cache_savings_usd=total([s.cache_savings_usd for s in stats]),
        calls=sum(s.calls for s in stats),
        cache_hits=sum(s.cache_hits for s in stats),
    )


def cost_line(cost: RunCost) -> str:
    """One line for the terminal and the markdown summary."""
    source = cost.price_source or "price unknown"
    if source.startswith("offline"):
        return "judge cost: $0 (offline judge: free, no tokens)"
    if cost.spent_usd is None:
        return f"judge cost: {source}; {cost.tokens} tokens spent in {cost.calls} calls"
    parts = [f"judge cost: {describe_dollars(cost.spent_usd)} spent ({cost.tokens} tokens, {cost.calls} calls)"]
    if cost.cache_hits:
        parts.append(f"{describe_dollars(cost.list_usd)} without the judge cache ({cost.cache_hits} hits)")
    if cost.baseline_usd is not None:
        change = "" if cost.change is None else f", {cost.change:+.0%}"
        parts.append(f"baseline {describe_dollars(cost.baseline_usd)}{change}")
    if cost.cache_read_tokens:
        parts.append(
            f"prompt cache: {cost.cache_read_tokens} tokens read, saved {describe_dollars(cost.cache_savings_usd)}"
        )
    return "; ".join(parts) + f" (prices: {source})"
