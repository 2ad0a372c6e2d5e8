"""Claim-level faithfulness against a single-call faithfulness judgment, side by side.

    python benchmarks/claims_bench.py --cases 200 --latency 0.2 --concurrency 32 --repeats 3

Both rubrics judge the same answers and context through the real SDK against the fake
provider (its own process, cache off). Claims mode makes one extraction call and then one
verification call per 16 claims, so each case waits for two round trips; across cases the
calls overlap. Prints the median wall time of each, the calls made and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_provider import DUMMY_ANTHROPIC_KEY, DUMMY_OPENAI_KEY  # noqa: E402

from pytest_llmgate.judge.engine import JudgeEngine, JudgeRequest  # noqa: E402
from pytest_llmgate.judge.rubrics import load_pack  # noqa: E402

CONTEXT = (
    "Refunds are issued to the original payment method within 5 business days.",
    "Orders ship from the Denver warehouse; standard shipping takes 3 to 7 days.",
)


def run_once(provider: str, rubric: str, cases: int, concurrency: int) -> tuple[float, int, int]:
    """(wall seconds, provider calls, judge errors) for one rubric over every case."""
    requests = [
        JudgeRequest(
            rubric=rubric,
            suite="bench",
            case_id=f"case-{i}",
            metric="judge:bench",
            input=f"How do refunds work for order {i}?",
            candidate=(
                f"Refunds for order {i} are issued to the original payment method. They take 5 business days. "
                "Orders ship from the Denver warehouse."
            ),
            context=CONTEXT,
        )
        for i in range(cases)
    ]
    engine = JudgeEngine(provider=provider, rubrics=load_pack(), cache_dir=None, concurrency=concurrency)
    engine.start()
    try:
        start = time.perf_counter()
        futures = [engine.submit(request) for request in requests]
        engine.wait(progress=False)
        wall = time.perf_counter() - start
        errors = sum(future.result().error is not None for future in futures)
        calls = sum(stat.calls for stat in engine.stats().values())
    finally:
        engine.close()
    return wall, calls, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="cases judged by each rubric (default: 200)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per provider call (default: 0.2)")
    parser.add_argument("--concurrency", type=int, default=32, help="engine concurrency (default: 32)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each rubric; the median is shown (default: 3)")
    parser.add_argument("--provider", choices=["openai", "anthropic"], default="openai", help="SDK (default: openai)")
    args = parser.parse_args(argv)

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
    provider = f"{args.provider}:bench-model"
    rows: dict[str, tuple[float, int, int]] = {}
    try:
        for rubric in ("llmgate:faithfulness", "llmgate:faithfulness-claims"):
            runs = [run_once(provider, rubric, args.cases, args.concurrency) for _ in range(args.repeats)]
            rows[rubric] = (statistics.median(r[0] for r in runs), runs[0][1], sum(r[2] for r in runs))
    finally:
        server.communicate(input="", timeout=30)
    print(f"provider      {provider} (fake provider process on 127.0.0.1), cache off")
    print(f"cases         {args.cases}   latency {args.latency * 1000:.0f} ms   concurrency {args.concurrency}")
    print(f"{'rubric':30} {'median wall':>12} {'calls':>7} {'ideal':>8} {'errors':>7}")
    for rubric, (wall, calls, errors) in rows.items():
        ideal = calls * args.latency / args.concurrency
        print(f"{rubric:30} {wall:>11.2f}s {calls:>7} {ideal:>7.2f}s {errors:>7}")
    single, claims = rows["llmgate:faithfulness"][0], rows["llmgate:faithfulness-claims"][0]
    print(f"claims / single wall time: {claims / single:.2f}x")
    return 0 if all(row[2] == 0 for row in rows.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
