"""`llmgate import` of one-megabyte hostile tokens: the scrubber's time per shape, and the whole import's.

    python benchmarks/scrub_bench.py --size 1000000 --repeats 3

Each shape is a long run that makes a backtracking pattern retry from every position (the
`1.1.1...` that took the old e-mail pattern 94 s on 300 KB, `a-a-...`, and one per rule family).
For each: the median time of `default_scrub` on the token, and of a whole `llmgate import` of a
log line holding it (parse, scrub, de-duplicate, write), with the ratio to a token a quarter the
size (about 4 when the cost is linear, 16 when it is quadratic).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from click.testing import CliRunner  # noqa: E402
from test_golden_scrub import ADVERSARIAL  # noqa: E402

from pytest_llmgate.cli import main  # noqa: E402
from pytest_llmgate.golden.scrub import default_scrub  # noqa: E402


def _median(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _import(token: str, folder: Path) -> None:
    log, target = folder / "log.jsonl", folder / "g.jsonl"
    log.write_text(json.dumps({"input": token, "output": "x"}) + "\n", encoding="utf-8")
    target.unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["import", str(log), "--format", "jsonl", "--to", str(target)])
    assert result.exit_code == 0, result.output


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="token length in characters")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'shape':22s} {'scrub':>9s} {'ratio':>6s} {'import':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        for name, unit in sorted(ADVERSARIAL.items()):
            token = unit * (args.size // len(unit))
            quarter = unit * (args.size // 4 // len(unit))
            scrub = _median(lambda t=token: default_scrub(t), args.repeats)
            ratio = scrub / max(_median(lambda t=quarter: default_scrub(t), args.repeats), 1e-6)
            whole = _median(lambda t=token: _import(t, folder), args.repeats)
            print(f"{name:22s} {scrub * 1000:7.1f}ms {ratio:6.1f} {whole * 1000:7.1f}ms")


if __name__ == "__main__":
    main_bench()
