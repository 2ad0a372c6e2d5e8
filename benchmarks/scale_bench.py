"""Scale and fixed cost: whole-process wall time and peak memory of a gated session against a
plain parametrized pytest test of the same size; medians of interleaved repeats.

Each `pytest` run is its own child process; its peak RSS is the child's `ru_maxrss` (from
`os.wait4`, so one run's figure never mixes with another's). `--before PATH` adds a column for
another checkout of the package (e.g. `git worktree add /tmp/before main`), measured in the same
rounds, so before and after sit side by side under the same machine load.

    python benchmarks/scale_bench.py --cases 20 1000 10000 --repeats 3 [--before /tmp/before]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead_bench import make_project  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sample:
    """One pytest process."""

    wall: float
    """Whole-process wall time, seconds (interpreter start to exit)."""
    rss_mb: float
    """Peak resident set size of the process, MB."""


def run(root: Path, tree: Path, *args: str) -> Sample:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(tree))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} exited {proc.returncode} in {root}")
    return Sample(wall, usage.ru_maxrss / 1024)  # ru_maxrss is in KB on Linux


def median(samples: list[Sample]) -> Sample:
    return Sample(statistics.median(s.wall for s in samples), statistics.median(s.rss_mb for s in samples))


GATED = ("--llm-gate", "--llm-gate-no-progress", "test_gate.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[20, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare against")
    args = parser.parse_args()
    trees = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
    header = f"{'cases':>7} {'plain s':>8} {'plain MB':>9}"
    for name in trees:
        header += f" {name + ' s':>9} {name + ' MB':>10} {'x wall':>7} {'x MB':>6} {'ms/case':>8} {'KB/case':>8}"
    print(header, flush=True)
    for n in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, n)
            run(root, ROOT, "--llm-gate-update", "test_gate.py")
            plain: list[Sample] = []
            gated: dict[str, list[Sample]] = {name: [] for name in trees}
            for _ in range(args.repeats):  # interleaved, so a burst of load hits every column alike
                plain.append(run(root, ROOT, "test_plain.py"))
                for name, tree in trees.items():
                    gated[name].append(run(root, tree, *GATED))
        p = median(plain)
        line = f"{n:>7} {p.wall:>8.2f} {p.rss_mb:>9.0f}"
        for name in trees:
            g = median(gated[name])
            per_ms = (g.wall - p.wall) / n * 1000
            per_kb = (g.rss_mb - p.rss_mb) * 1024 / n
            line += (
                f" {g.wall:>9.2f} {g.rss_mb:>10.0f} {g.wall / p.wall:>7.2f} {g.rss_mb / p.rss_mb:>6.2f}"
                f" {per_ms:>8.3f} {per_kb:>8.1f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
