"""Plugin overhead per case: a trivial golden suite of N cases, run plain (evals skipped),
gated (--llm-gate, retrieval metrics, no judge), side by side; median of repeats.

    python benchmarks/overhead_bench.py --cases 100 1000 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = """
import pytest

@pytest.mark.golden("cases.jsonl")
def test_case(case, llm_gate):
    llm_gate.output({"answer": case.reference})
    llm_gate.retrieval([case.relevant_ids[0], "x", "y"], k=(1, 5))
    assert case.input
"""

BASELINE_TEST = """
import json, pytest

CASES = [json.loads(line) for line in open("cases.jsonl", encoding="utf-8")]

@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case):
    assert case["input"]
"""


def make_project(root: Path, n: int) -> None:
    lines = [
        json.dumps({"id": f"c-{i}", "input": f"q{i}", "reference": f"a{i}", "relevant_ids": [f"d{i}"]})
        for i in range(n)
    ]
    (root / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "test_gate.py").write_text(TEST, encoding="utf-8")
    (root / "test_plain.py").write_text(BASELINE_TEST, encoding="utf-8")


def timed(root: Path, *args: str) -> float:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'cases':>7} {'plain param (s)':>16} {'gated (s)':>10} {'gated-plain per case (ms)':>26} {'ratio':>6}")
    for n in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, n)
            timed(root, "--llm-gate-update", "test_gate.py")
            plain = statistics.median(timed(root, "test_plain.py") for _ in range(args.repeats))
            gated = statistics.median(
                timed(root, "--llm-gate", "--llm-gate-no-progress", "test_gate.py") for _ in range(args.repeats)
            )
        per_case = (gated - plain) / n * 1000
        print(f"{n:>7} {plain:>16.2f} {gated:>10.2f} {per_case:>26.3f} {gated / plain:>6.2f}")


if __name__ == "__main__":
    main()
