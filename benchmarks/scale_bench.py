"""Scale and fixed cost: per-phase wall time and peak memory of a gated session against a plain
parametrized pytest test of the same size; medians of interleaved repeats.

Each `pytest` run is its own child process; its peak RSS is the child's `ru_maxrss` (from
`os.wait4`, so one run's figure never mixes with another's). A tiny plugin loaded with `-p` in
the child stamps `time.perf_counter()` (CLOCK_MONOTONIC, the same clock in parent and child) at
`pytest_collection_finish`, the first `pytest_runtest_protocol`, the start of
`pytest_sessionfinish` and at exit, so each run splits into start + collection, the tests, and
the end of the session (gate, results, reports). `--before PATH` adds a column for another
checkout of the package (e.g. `git worktree add /tmp/before main`), measured in the same rounds,
so before and after sit side by side under the same machine load. `--trace N` runs one gated
session of N cases under tracemalloc and ranks what holds memory when the tests are done and
what the end of the session allocates at its peak.

    python benchmarks/scale_bench.py --cases 1000 10000 100000 --repeats 3 [--before /tmp/before]
    python benchmarks/scale_bench.py --trace 10000
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead_bench import make_project  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

#: The child's timing (and, with LLMGATE_BENCH_TRACE, tracemalloc) plugin, loaded with `-p`.
PHASES_PLUGIN = """
import atexit, json, os, time
import pytest

_marks = {}
_out = os.environ["LLMGATE_BENCH_PHASES"]
_trace = os.environ.get("LLMGATE_BENCH_TRACE")
if _trace:
    import tracemalloc
    tracemalloc.start(int(_trace))

def _top(snapshot, limit=12):
    stats = snapshot.statistics("traceback")[:limit]
    return [
        {"kb": round(s.size / 1024, 1), "count": s.count,
         "where": [f"{f.filename.rsplit('/site-packages/', 1)[-1]}:{f.lineno}" for f in s.traceback]}
        for s in stats
    ]

@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session):
    _marks["collected"] = time.perf_counter()

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    _marks.setdefault("first_test", time.perf_counter())

def _rss_mb():
    with open("/proc/self/status", encoding="ascii") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _marks["sessionfinish"] = time.perf_counter()
    _marks["held_mb"], _marks["hwm_mb"] = _rss_mb()
    if _trace:
        _marks["held_kb"] = round(tracemalloc.get_traced_memory()[0] / 1024)
        _marks["held"] = _top(tracemalloc.take_snapshot())
        tracemalloc.reset_peak()

def _write():
    _marks["exit"] = time.perf_counter()
    if _trace:
        _marks["end_peak_kb"] = round(tracemalloc.get_traced_memory()[1] / 1024)
    with open(_out, "w", encoding="utf-8") as handle:
        json.dump(_marks, handle)

atexit.register(_write)
"""


@dataclass(frozen=True)
class Sample:
    """One pytest process."""

    wall: float
    """Whole-process wall time, seconds (interpreter start to exit)."""
    rss_mb: float
    """Peak resident set size of the process, MB."""
    collect: float
    """Interpreter start to the end of collection, seconds."""
    tests: float
    """First test to the start of `pytest_sessionfinish`, seconds."""
    end: float
    """Start of `pytest_sessionfinish` to exit (gate, results, reports, junit), seconds."""
    held_mb: float
    """Resident set size when the tests are done (start of `pytest_sessionfinish`), MB."""


def run(root: Path, tree: Path, *args: str, trace: int | None = None) -> tuple[Sample, dict[str, object]]:
    phases = root / ".phases.json"
    env = dict(
        os.environ,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join([str(tree), str(root / ".bench")]),
        LLMGATE_BENCH_PHASES=str(phases),
    )
    if trace is not None:
        env["LLMGATE_BENCH_TRACE"] = str(trace)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "llmgate_bench_phases", *args],
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
    marks = json.loads(phases.read_text(encoding="utf-8"))
    first = marks.get("first_test", marks["sessionfinish"])
    sample = Sample(
        wall=wall,
        rss_mb=usage.ru_maxrss / 1024,  # ru_maxrss is in KB on Linux
        collect=marks["collected"] - start,
        tests=marks["sessionfinish"] - first,
        end=marks["exit"] - marks["sessionfinish"],
        held_mb=marks["held_mb"],
    )
    return sample, marks


def median(samples: list[Sample]) -> Sample:
    return Sample(
        *(
            statistics.median(getattr(s, f) for s in samples)
            for f in ("wall", "rss_mb", "collect", "tests", "end", "held_mb")
        )
    )


GATED = ("--llm-gate", "--llm-gate-no-progress", "test_gate.py")


def project(root: Path, n: int) -> None:
    make_project(root, n)
    (root / ".bench").mkdir()
    (root / ".bench" / "llmgate_bench_phases.py").write_text(PHASES_PLUGIN, encoding="utf-8")
    run(root, ROOT, "--llm-gate-update", "test_gate.py")


def trace(n: int, depth: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project(root, n)
        _, marks = run(root, ROOT, *GATED, trace=depth)
    print(
        f"{n} cases under tracemalloc: {marks['held_kb']} KB held when the tests are done, "
        f"{marks['end_peak_kb']} KB peak during the end of the session"
    )
    print("largest holders when the tests are done (KB, blocks, traceback):")
    for entry in marks["held"]:  # type: ignore[union-attr]
        print(f"  {entry['kb']:>9} {entry['count']:>8}  " + " <- ".join(reversed(entry["where"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare against")
    parser.add_argument("--trace", type=int, default=None, metavar="N", help="rank memory holders at N cases")
    parser.add_argument("--depth", type=int, default=4, help="traceback frames per holder with --trace")
    args = parser.parse_args()
    if args.trace is not None:
        trace(args.trace, args.depth)
        return
    trees = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
    print(
        "per run: wall s = start+collection / tests / end of session; MB = peak RSS (RSS when the tests are done); "
        "x = gated / plain; KB/case = (gated - plain) peak RSS per case"
    )
    header = f"{'cases':>7} {'plain s':>22} {'MB':>10}"
    for name in trees:
        header += f" {name + ' s':>22} {'MB':>10} {'x wall':>6} {'x MB':>5} {'KB/case':>7}"
    print(header, flush=True)
    for n in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            project(root, n)
            plain: list[Sample] = []
            gated: dict[str, list[Sample]] = {name: [] for name in trees}
            for _ in range(args.repeats):  # interleaved, so a burst of load hits every column alike
                plain.append(run(root, ROOT, "test_plain.py")[0])
                for name, tree in trees.items():
                    gated[name].append(run(root, tree, *GATED)[0])
        p = median(plain)

        def phases(s: Sample) -> str:
            return f"{s.wall:.2f} = {s.collect:.2f}/{s.tests:.2f}/{s.end:.2f}"

        def mb(s: Sample) -> str:
            return f"{s.rss_mb:.0f} ({s.held_mb:.0f})"

        line = f"{n:>7} {phases(p):>22} {mb(p):>10}"
        for name in trees:
            g = median(gated[name])
            per_kb = (g.rss_mb - p.rss_mb) * 1024 / n
            line += f" {phases(g):>22} {mb(g):>10} {g.wall / p.wall:>6.2f} {g.rss_mb / p.rss_mb:>5.2f} {per_kb:>7.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
