"""Time order-swapped pairwise judging against the fake provider.

    python benchmarks/judge_bench.py --cases 500 --latency 0.2 --concurrency 32

Each case is two calls (both orders), the cache is off, and the real SDK client talks to
the fake provider on 127.0.0.1. Prints the wall time next to the ideal bound
(calls x latency / concurrency) and their ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    raise SystemExit(main())
