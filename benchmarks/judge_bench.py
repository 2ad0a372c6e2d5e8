"""Time order-swapped pairwise judging against the fake provider.

    python benchmarks/judge_bench.py --cases 500 --latency 0.2 --concurrency 32

Each case is two calls (both orders), the cache is off, and the real SDK client talks to
the fake provider on 127.0.0.1. Prints the wall time next to the ideal bound
(calls x latency / concurrency) and their ratio.

    python benchmarks/judge_bench.py --faults --cases 750 --latency 0.05 --concurrency 16

With `--faults`, runs four scenarios in one process, interleaved `--repeats` times: no
faults, 10 % 429 with Retry-After, 10 % 429 without it, and 5 % 500 + 5 % malformed output; prints the median
wall time of each next to the no-fault median (ratio), and where the retrying time went:
backoff sleeps (summed over calls), Retry-After pauses of the issue gate (wall time),
capacity lost to halving the concurrency limit (slot-seconds), halvings, the lowest limit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import subprocess  # noqa: E402

from fake_provider import DUMMY_ANTHROPIC_KEY, DUMMY_OPENAI_KEY  # noqa: E402

from pytest_llmgate.judge.engine import JudgeEngine, JudgeRequest  # noqa: E402
from pytest_llmgate.judge.rubrics import Rubric  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500, help="pairwise cases (default: 500)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per provider call (default: 0.2)")
    parser.add_argument("--concurrency", type=int, default=32, help="engine concurrency (default: 32)")
    parser.add_argument(
        "--provider",
        choices=["openai", "anthropic"],
        default="openai",
        help="which SDK talks to the fake provider (default: openai)",
    )
    parser.add_argument("--faults", action="store_true", help="compare fault scenarios (default: off)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per fault scenario (default: 3)")
    parser.add_argument(
        "--retry-after", type=float, default=0.05, help="Retry-After of the fake's 429s, seconds (default: 0.05)"
    )
    args = parser.parse_args(argv)
    if args.faults:
        return run_faults(args)

    # The fake provider runs in its own process so that its threads do not compete with
    # the engine's event loop for the GIL.
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_provider.py"), str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    os.environ.update(
        {
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": DUMMY_ANTHROPIC_KEY,
            "OPENAI_BASE_URL": url + "/v1",
            "OPENAI_API_KEY": DUMMY_OPENAI_KEY,
        }
    )
    rubric = Rubric(name="helpfulness", version="1", kind="pairwise", criteria="Which answer helps more?")
    requests = [
        JudgeRequest(
            rubric="helpfulness",
            suite="bench",
            case_id=f"case-{i}",
            metric="judge:helpfulness",
            input=f"question {i}",
            candidate=f"refunds take five business days ({i})",
            other=f"contact sales for a discount ({i})",
            reference=f"refunds take 5 business days ({i})",
            against="baseline",
        )
        for i in range(args.cases)
    ]
    engine = JudgeEngine(
        provider=f"{args.provider}:bench-model",
        rubrics={"helpfulness": rubric},
        cache_dir=None,
        concurrency=args.concurrency,
    )
    engine.start()
    try:
        start = time.perf_counter()
        futures = [engine.submit(request) for request in requests]
        engine.wait(progress=False)
        wall = time.perf_counter() - start
        verdicts = [future.result() for future in futures]
        stats = engine.stats()["helpfulness"]
        max_in_flight = engine.limiter.max_in_flight if engine.limiter else 0
    finally:
        engine.close()
        server.communicate(input="", timeout=30)
    calls = stats.calls
    ideal = calls * args.latency / args.concurrency
    errors = sum(v.error is not None for v in verdicts)
    print(f"provider      {engine.provider_name} (fake provider process on 127.0.0.1)")
    print(f"cases         {args.cases} pairwise, both orders, cache off")
    print(f"calls         {calls}  (errors: {errors}; max in flight: {max_in_flight})")
    print(f"latency       {args.latency * 1000:.0f} ms   concurrency {args.concurrency}")
    print(f"wall time     {wall:.2f} s")
    print(f"ideal bound   {ideal:.2f} s  (calls x latency / concurrency)")
    print(f"ratio         {wall / ideal:.2f}x" if ideal > 0 else "ratio         n/a (zero latency)")
    return 0 if errors == 0 else 1


FAULT_SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    ("no faults", {}),
    ("10% 429 + Retry-After", {"rate_429": 0.10}),
    ("10% 429, no Retry-After", {"rate_429": 0.10, "retry_after": None}),
    ("5% 500 + 5% malformed", {"rate_5xx": 0.05, "rate_malformed": 0.05}),
]


def _fault_run(args: argparse.Namespace, faults: dict[str, Any]) -> dict[str, float]:
    """One engine run against a fresh fake provider process with `faults`."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_provider.py"), str(args.latency), json.dumps(faults)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    os.environ.update({"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": DUMMY_OPENAI_KEY})
    rubric = Rubric(name="helpfulness", version="1", kind="pairwise", criteria="Which answer helps more?")
    requests = [
        JudgeRequest(
            rubric="helpfulness",
            suite="bench",
            case_id=f"case-{i}",
            metric="judge:helpfulness",
            input=f"question {i}",
            candidate=f"refunds take five business days ({i})",
            other=f"contact sales for a discount ({i})",
            reference=f"refunds take 5 business days ({i})",
            against="baseline",
        )
        for i in range(args.cases)
    ]
    engine = JudgeEngine(
        provider="openai:bench-model", rubrics={"helpfulness": rubric}, cache_dir=None, concurrency=args.concurrency
    )
    engine.start()
    try:
        start = time.perf_counter()
        futures = [engine.submit(request) for request in requests]
        engine.wait(progress=False)
        wall = time.perf_counter() - start
        errors = sum(future.result().error is not None for future in futures)
        timing = engine.rate_limit_timing()
        calls = engine.stats()["helpfulness"].calls
    finally:
        engine.close()
        server.communicate(input="", timeout=30)
    return {"wall": wall, "calls": calls, "errors": errors, **timing}


def run_faults(args: argparse.Namespace) -> int:
    scenarios = [(name, dict(faults)) for name, faults in FAULT_SCENARIOS]
    for _, faults in scenarios:
        if "rate_429" in faults and "retry_after" not in faults:
            faults["retry_after"] = args.retry_after
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in scenarios}
    for _ in range(args.repeats):  # interleaved, so machine noise falls on every scenario alike
        for name, faults in scenarios:
            runs[name].append(_fault_run(args, faults))
    base = statistics.median(r["wall"] for r in runs["no faults"])
    print(
        f"{args.cases} pairwise cases ({2 * args.cases} calls), latency {args.latency * 1000:.0f} ms, "
        f"concurrency {args.concurrency}, 429 Retry-After {args.retry_after:g} s, "
        f"median of {args.repeats} interleaved runs, openai SDK -> fake provider process"
    )
    header = (
        "scenario",
        "wall s",
        "ratio",
        "calls",
        "errors",
        "backoff s",
        "paused s",
        "slot-s lost",
        "halvings",
        "min",
    )
    print("  ".join(f"{h:>11}" if i else f"{h:<22}" for i, h in enumerate(header)))
    for name, _ in scenarios:
        rows = runs[name]

        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r.get(key, 0.0) for r in rows)

        wall = med("wall")
        cells = [
            f"{wall:.2f}",
            f"{wall / base:.2f}x",
            f"{med('calls'):.0f}",
            f"{med('errors'):.0f}",
            f"{med('backoff_seconds'):.1f}",
            f"{med('paused_seconds'):.2f}",
            f"{med('slot_seconds_lost'):.1f}",
            f"{med('halvings'):.0f}",
            f"{med('min_limit'):.0f}",
        ]
        print(f"{name:<22}  " + "  ".join(f"{c:>11}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
