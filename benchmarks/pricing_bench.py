"""What pricing costs per judge call: the genai-prices table (as used for Anthropic and OpenAI
judges), an ini price, and the prompt-cache savings, in microseconds; medians of repeats.

    python benchmarks/pricing_bench.py --calls 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from pytest_llmgate.judge.pricing import Usage, parse_price, pricer_for


def per_call(function: Callable[[Usage], object], calls: int, repeats: int) -> float:
    """Median over repeats of the mean time of one call, in microseconds."""
    usages = [
        Usage(input_tokens=1200 + i % 300, output_tokens=60 + i % 40, cache_read_tokens=900) for i in range(calls)
    ]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for usage in usages:
            function(usage)
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()
    table = pricer_for("anthropic", "claude-sonnet-4-5")
    first = (time.perf_counter() - start) * 1e3
    ini = pricer_for("openai-compatible", "llama3", parse_price("input=0.10 output=0.40 cache_read=0.01"))
    rows = [
        ("genai-prices table: cost", per_call(table.cost, args.calls, args.repeats)),
        (
            "genai-prices table: cost + cache savings",
            per_call(lambda u: (table.cost(u), table.saved_by_cache(u)), args.calls, args.repeats),
        ),
        (
            "ini price: cost + cache savings",
            per_call(lambda u: (ini.cost(u), ini.saved_by_cache(u)), args.calls, args.repeats),
        ),
    ]
    print(f"first lookup (imports and loads the table): {first:.0f} ms")
    print(f"{'per judge call':45} {'median µs':>10}")
    for name, value in rows:
        print(f"{name:45} {value:10.1f}")


if __name__ == "__main__":
    main()
