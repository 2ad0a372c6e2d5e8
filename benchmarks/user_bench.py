"""The README's own test shapes, timed as a user runs them: whole `pytest` processes, medians of
interleaved rounds, "before" and "now" side by side.

Each shape is a small project written the way the README writes it: an `async def` SUT calling
`openai.AsyncOpenAI(...).chat.completions.create(...)`, `@pytest.mark.golden(..., sut=ask)`,
programmatic checks in the body, and for `judged` an order-swapped pairwise judge against the
baseline's outputs (`llm_gate.judge("helpfulness", against="baseline")`, the project's own
`rubrics/helpfulness.yaml`). Every gated run is a plain `pytest --llm-gate` against a baseline
that one untimed `--llm-gate-update` run wrote for that checkout. The fake provider
(tests/fake_provider.py) runs in its own process per latency, so its CPU is never counted in the
pytest child; each pytest run is its own child process, and its CPU (user + sys) and peak RSS
come from `os.wait4`. Bytecode is cached (children write it under one PYTHONPYCACHEPREFIX, so
no checkout is written to), after one untimed warm-up run per command and checkout.

Shapes (`--shape`, all by default):
  sut     500 cases, SUT at 200 ms, --llm-gate-sut-concurrency 32: wall against N x latency / 32.
  scale   5,000 cases at 50 ms, concurrency 32: wall against its bound (7.8 s).
  judged  `sut` plus pairwise judging vs the baseline (2 calls a case, --llm-gate-concurrency 32).
  small   20 cases, a SUT that returns at once, against plain pytest running 20 parametrized tests.
  cpu     5,000 cases, a SUT that returns at once: CPU and peak RSS per case beyond plain pytest.
  xdist   one process, -n 2 and -n auto for a SUT-bound, a judge-bound and a CPU-bound suite.

    python benchmarks/user_bench.py --rounds 3 --before /path/to/other/checkout [--json out.json]
    python benchmarks/user_bench.py --shape sut cpu --rounds 1 --cases 50      # a smoke run
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead_bench import make_project  # noqa: E402
from scale_bench import PHASES_PLUGIN  # noqa: E402
from sut_bench import start_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SUT_CONCURRENCY = 32
JUDGE_CONCURRENCY = 32
JUDGE = "openai:gpt-bench-judge"

#: The README's SUT section, as a user writes it; FAKE_SUT_URL points the client at the fake model.
APP = """
import os

import openai
import pytest

from pytest_llmgate import checks

client = openai.AsyncOpenAI(base_url=os.environ["FAKE_SUT_URL"] + "/v1", api_key="x")
MODEL = "gpt-app"


async def ask(case):
    reply = await client.chat.completions.create(
        model=MODEL, max_tokens=512, messages=[{"role": "user", "content": case.input}]
    )
    return {"answer": reply.choices[0].message.content}


@pytest.mark.golden("cases.jsonl", sut=ask)
def test_support(case, output, llm_gate):
    JUDGE_LINE
    checks.no_banned_phrases(output["answer"], ["as an AI"])
    checks.length(output["answer"], max_words=120)
"""

#: The same test shape with a SUT that returns at once: what the plugin costs, not the SDK.
INSTANT = """
import pytest

from pytest_llmgate import checks


async def ask(case):
    return {"answer": case.reference}


@pytest.mark.golden("cases.jsonl", sut=ask)
def test_support(case, output, llm_gate):
    WORK_LINE
    checks.no_banned_phrases(output["answer"], ["as an AI"])
    checks.length(output["answer"], max_words=120)
"""

#: The fake provider playing the model the baseline was accepted with: its answers differ.
PREVIOUS_MODEL = json.dumps({"score_offset": {"openai": 1}})
JUDGE_LINE = 'llm_gate.judge("helpfulness", against="baseline")'
#: Pure-Python work in the body of the CPU-bound xdist suite, about 20 ms on a 2020s core.
WORK_LINE = "assert sum(i * i for i in range(200_000)) > 0"


@dataclass(frozen=True)
class Sample:
    """One pytest process."""

    wall: float
    """Whole-process wall time, seconds (spawn to reaped)."""
    cpu: float
    """User + system CPU seconds of the process (from `os.wait4`)."""
    rss_mb: float
    """Peak resident set size, MB (`ru_maxrss`; with xdist, the largest process of the tree)."""
    phases: dict[str, float] = field(default_factory=dict)
    """Start + collection, tests, end of session (s), when the phase plugin ran (not with xdist)."""


@dataclass
class Variant:
    """One command measured every round."""

    label: str
    """Row label in the table."""
    tree: Path | None
    """Checkout first on the child's PYTHONPATH (None: this checkout, for plain pytest)."""
    project: Path
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    fresh_cache: bool = False
    """Delete the judge cache before each run: a changed app meets a cold cache."""
    samples: list[Sample] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(s, name) for s in self.samples)


def disabled_plugins() -> list[str]:
    """`-p no:...` for what would change a user's run here: the cache, random order, deepeval."""
    names = {entry.name for entry in importlib.metadata.entry_points(group="pytest11")}
    flags = ["-p", "no:cacheprovider"]
    for plugin in ("randomly", "deepeval"):
        if plugin in names:
            flags += ["-p", f"no:{plugin}"]
    return flags


class Bench:
    """The trees, the fake providers (one process per latency and config) and the child runner."""

    def __init__(self, work: Path, before: Path | None) -> None:
        self.work = work
        self.trees = {"now": ROOT} if before is None else {"before": before.resolve(), "now": ROOT}
        self.pycache = work / "pycache"
        self.servers: dict[tuple[float, str], tuple[subprocess.Popen[str], str]] = {}
        self.flags = disabled_plugins()
        self.measured: list[Variant] = []

    def url(self, latency: float, config: str = "{}") -> str:
        """A fake provider's URL: one process per latency and FakeConfig (JSON), started on first use."""
        key = (latency, config)
        if key not in self.servers:
            self.servers[key] = start_server(latency, config)
        return self.servers[key][1]

    def close(self) -> None:
        for process, _ in self.servers.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)

    def run(self, variant: Variant, *extra: str) -> Sample:
        """One child `pytest` process; raises with its output when it does not exit 0."""
        root = variant.project
        if variant.fresh_cache:
            for stale in (root / ".llmgate").glob("judge-cache.sqlite*"):
                stale.unlink()
        phases = root / ".phases.json"
        phases.unlink(missing_ok=True)
        xdist = any(arg == "-n" for arg in variant.args)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "LLM_GATE_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        tree = variant.tree or ROOT
        env.update(
            PYTHONPYCACHEPREFIX=str(self.pycache),
            PYTHONPATH=os.pathsep.join([str(tree), str(root / ".bench")]),
            LLMGATE_BENCH_PHASES=str(phases),
            OPENAI_API_KEY="sk-bench-dummy",
            **variant.env,
        )
        phase_flags = [] if xdist else ["-p", "llmgate_bench_phases"]
        command = [sys.executable, "-m", "pytest", "-q", *self.flags, *phase_flags, *variant.args, *extra]
        log = root / ".bench" / "last.log"
        start = time.perf_counter()
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            tail = log.read_text(encoding="utf-8")[-3000:]
            raise SystemExit(f"{variant.label}: {shlex.join(command[2:])} exited {code} in {root}\n{tail}")
        marks: dict[str, float] = {}
        if phases.is_file():
            raw = json.loads(phases.read_text(encoding="utf-8"))
            first = raw.get("first_test", raw["sessionfinish"])
            marks = {
                "collect": raw["collected"] - start,
                "tests": raw["sessionfinish"] - first,
                "end": raw["exit"] - raw["sessionfinish"],
            }
        return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, marks)

    def measure(self, variants: list[Variant], rounds: int) -> None:
        """A warm-up run of each command, then `rounds` interleaved rounds."""
        self.measured += variants
        for variant in variants:
            self.run(variant)
        for _ in range(rounds):  # interleaved, so a burst of load hits every column alike
            for variant in variants:
                variant.samples.append(self.run(variant))

    def project(self, name: str, column: str, n: int, test: str, *, judged: bool = False) -> Path:
        """A project folder: `n` cases, `test_app.py` holding `test`, a plain parametrized test."""
        root = self.work / name / column
        root.mkdir(parents=True)
        make_project(root, n)
        (root / "test_gate.py").unlink()  # overhead_bench's own gated test; ours is test_app.py
        (root / "test_app.py").write_text(test, encoding="utf-8")
        (root / ".bench").mkdir()
        (root / ".bench" / "llmgate_bench_phases.py").write_text(PHASES_PLUGIN, encoding="utf-8")
        if judged:
            (root / "rubrics").mkdir()
            shutil.copy(ROOT / "rubrics" / "helpfulness.yaml", root / "rubrics" / "helpfulness.yaml")
        return root

    def gated(
        self,
        name: str,
        n: int,
        test: str,
        args: list[str],
        env: dict[str, str],
        *,
        judged: bool = False,
        update_env: dict[str, str] | None = None,
        label: str = "",
    ) -> list[Variant]:
        """One gated variant per checkout, each against its own baseline from an untimed update."""
        variants = []
        for column, tree in self.trees.items():
            root = self.project(name, column, n, test, judged=judged)
            variant = Variant(f"{label or name} ({column})", tree, root, ["--llm-gate", *args, "test_app.py"], env)
            variant.fresh_cache = judged
            self.run(
                Variant(variant.label, tree, root, variant.args, {**env, **(update_env or {})}), "--llm-gate-update"
            )
            variants.append(variant)
        return variants

    def plain(self, name: str, n: int) -> Variant:
        root = self.project(name, "plain", n, "")
        return Variant(f"{name} plain pytest", None, root, ["test_plain.py"])


def app(judged: bool) -> str:
    return APP.replace("JUDGE_LINE", JUDGE_LINE if judged else "pass")


def instant(work: bool = False) -> str:
    return INSTANT.replace("WORK_LINE", WORK_LINE if work else "pass")


SUT_ARGS = ["--llm-gate-sut-concurrency", str(SUT_CONCURRENCY)]
JUDGE_ARGS = ["--llm-gate-judge", JUDGE, "--llm-gate-concurrency", str(JUDGE_CONCURRENCY)]


def judged_env(bench: Bench, sut_latency: float, judge_latency: float) -> tuple[dict[str, str], dict[str, str]]:
    """Env of the timed runs and of the update. The baseline's outputs come from another model
    (a fake provider whose answers score one point higher), so every output differs from the
    baseline's and each case costs two judge calls; identical outputs would be ties without one."""
    env = {"FAKE_SUT_URL": bench.url(sut_latency), "OPENAI_BASE_URL": bench.url(judge_latency) + "/v1"}
    return env, {"FAKE_SUT_URL": bench.url(0.0, PREVIOUS_MODEL)}


@dataclass
class Table:
    """A markdown table: per row, before / now figures and a reference (bound or plain)."""

    title: str
    reference: str
    unit: str
    rows: list[tuple[str, dict[str, float], float | dict[str, float] | None]] = field(default_factory=list)
    """Label, figure per column, reference: one for every column, one per column, or none."""
    notes: list[str] = field(default_factory=list)

    def lines(self, columns: list[str]) -> Iterator[str]:
        yield f"### {self.title}"
        yield ""
        head = ["", *columns]
        if "before" in columns:
            head.append("now / before")
        head.append(self.reference)
        head += [f"{c} / {self.reference}" for c in columns]
        yield "| " + " | ".join(head) + " |"
        yield "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"
        for label, values, ref in self.rows:
            cells = [label, *(f"{values[c]:.3f}{self.unit}" for c in columns)]
            if "before" in columns:
                cells.append(f"{values['now'] / values['before']:.2f}x" if values["before"] else "–")
            refs: dict[str, float] = ref if isinstance(ref, dict) else dict.fromkeys(columns, ref or 0.0)
            shown = [refs[c] for c in columns] if isinstance(ref, dict) else [ref]
            cells.append(" / ".join(f"{r:.3f}{self.unit}" for r in shown if r is not None))
            cells += ["" if not refs[c] else f"{values[c] / refs[c]:.2f}x" for c in columns]
            yield "| " + " | ".join(cells) + " |"
        for note in self.notes:
            yield ""
            yield note
        yield ""


def by_column(variants: list[Variant], bench: Bench, name: str = "wall") -> dict[str, float]:
    return {column: v.median(name) for column, v in zip(bench.trees, variants, strict=True)}


def shape_sut(bench: Bench, n: int, rounds: int, latency: float = 0.2, name: str = "sut") -> Table:
    env = {"FAKE_SUT_URL": bench.url(latency)}
    variants = bench.gated(name, n, app(False), SUT_ARGS, env)
    bench.measure(variants, rounds)
    bound = n * latency / SUT_CONCURRENCY
    table = Table(
        f"{name}: {n} cases, async openai SUT at {latency * 1000:.0f} ms, sut concurrency {SUT_CONCURRENCY}",
        "bound",
        " s",
    )
    table.rows.append(("`pytest --llm-gate` wall", by_column(variants, bench), bound))
    table.notes.append(f"bound = N x latency / concurrency = {n} x {latency} s / {SUT_CONCURRENCY}.")
    return table


def shape_judged(bench: Bench, n: int, rounds: int, sut_latency: float = 0.2, name: str = "judged") -> Table:
    env, update = judged_env(bench, sut_latency, 0.2)
    variants = bench.gated(name, n, app(True), SUT_ARGS + JUDGE_ARGS, env, judged=True, update_env=update)
    bench.measure(variants, rounds)
    sut_bound = n * sut_latency / SUT_CONCURRENCY
    judge_bound = 2 * n * 0.2 / JUDGE_CONCURRENCY
    wall = by_column(variants, bench)
    table = Table(
        f"{name}: {n} cases, SUT at {sut_latency * 1000:.0f} ms + pairwise judge vs baseline at 200 ms "
        f"(2 calls a case), sut and judge concurrency 32",
        "bound",
        " s",
    )
    table.rows.append(("wall vs SUT bound + judge bound", wall, sut_bound + judge_bound))
    table.rows.append(("wall vs max(SUT bound, judge bound)", wall, max(sut_bound, judge_bound)))
    table.notes.append(
        f"SUT bound {sut_bound:.3f} s = N x latency / {SUT_CONCURRENCY}; judge bound {judge_bound:.3f} s = "
        f"2 N x 0.2 s / {JUDGE_CONCURRENCY} (every case is judged in both orders, two calls, against a "
        "baseline whose outputs differ). The sum is the README's convention: the two pools never share "
        "a slot, so a run can beat it by overlapping them; the max is the floor when they overlap fully. "
        "The judge cache is deleted before every run (a changed app meets a cold cache)."
    )
    return table


def shape_small(bench: Bench, n: int, rounds: int) -> Table:
    variants = bench.gated("small", n, instant(), SUT_ARGS, {})
    plain = bench.plain("small", n)
    bench.measure([plain, *variants], rounds)
    table = Table(f"small: {n} cases, SUT returning at once, against plain pytest", "plain", " s")
    table.rows.append(("`pytest --llm-gate` wall", by_column(variants, bench), plain.median("wall")))
    table.notes.append(f"plain = `pytest test_plain.py`, {n} parametrized trivial tests (target: gated <= 2x plain).")
    return table


def shape_cpu(bench: Bench, n: int, rounds: int, base: int = 20) -> Table:
    big = bench.gated("cpu", n, instant(), SUT_ARGS, {}, label=f"cpu {n}")
    small = bench.gated(f"cpu-{base}", base, instant(), SUT_ARGS, {}, label=f"cpu {base}")
    plain_big, plain_small = bench.plain("cpu", n), bench.plain(f"cpu-{base}", base)
    bench.measure([plain_big, plain_small, *big, *small], rounds)
    cpu_beyond = {c: (v - plain_big.median("cpu")) / n * 1000 for c, v in by_column(big, bench, "cpu").items()}
    rss_big, rss_small = by_column(big, bench, "rss_mb"), by_column(small, bench, "rss_mb")
    rss_case = {c: (rss_big[c] - rss_small[c]) * 1024 / (n - base) for c in rss_big}
    plain_case = (plain_big.median("rss_mb") - plain_small.median("rss_mb")) * 1024 / (n - base)
    table = Table(f"cpu: {n} cases, SUT returning at once, against plain pytest", "plain", "")
    table.rows.append((f"whole-process CPU s, {n} cases", by_column(big, bench, "cpu"), plain_big.median("cpu")))
    table.rows.append(("CPU beyond plain pytest, ms per case", cpu_beyond, None))
    cpu_small = by_column(small, bench, "cpu")
    plain_marginal = plain_big.median("cpu") - plain_small.median("cpu")
    marginal = {
        c: (v - cpu_small[c] - plain_marginal) / (n - base) * 1000 for c, v in by_column(big, bench, "cpu").items()
    }
    table.rows.append((f"the same without the fixed cost: ({n} - {base}) cases, ms per case", marginal, None))
    table.rows.append((f"peak RSS MB, {n} cases", rss_big, plain_big.median("rss_mb")))
    table.rows.append((f"peak RSS MB, {base} cases", rss_small, plain_small.median("rss_mb")))
    table.rows.append((f"peak RSS KB per case, ({n} - {base}) cases", rss_case, plain_case))
    table.notes.append(
        "CPU = user + sys of the whole child from `os.wait4`; CPU beyond plain = (gated - plain) / N "
        "(target <= 1 ms); without the fixed cost, the growth from 20 to N cases is compared instead; RSS per case = (RSS(N) - RSS(20)) / (N - 20), its ratio to plain's is the "
        "last row (target <= 1.5x)."
    )
    return table


def shape_xdist(bench: Bench, sizes: dict[str, int], rounds: int) -> Table:
    sut_env = {"FAKE_SUT_URL": bench.url(0.2)}
    judge_env, judge_update = judged_env(bench, 0.0, 0.2)

    def sut_suite() -> list[Variant]:
        return bench.gated("xdist-sut", sizes["sut"], app(False), SUT_ARGS, sut_env, label="SUT-bound")

    def judge_suite() -> list[Variant]:
        args = SUT_ARGS + JUDGE_ARGS
        return bench.gated(
            "xdist-judge",
            sizes["judged"],
            app(True),
            args,
            judge_env,
            judged=True,
            update_env=judge_update,
            label="judge",
        )

    def cpu_suite() -> list[Variant]:
        return bench.gated("xdist-cpu", sizes["cpu-bound"], instant(True), SUT_ARGS, {}, label="CPU-bound")

    suites: list[tuple[str, str, int, Callable[[], list[Variant]]]] = [
        ("SUT-bound: `sut` shape, SUT at 200 ms", "sut", sizes["sut"], sut_suite),
        ("judge-bound: `judged` shape, SUT at 0 ms, judge at 200 ms", "judged", sizes["judged"], judge_suite),
        ("CPU-bound: ~20 ms of pure Python in each body", "cpu-bound", sizes["cpu-bound"], cpu_suite),
    ]
    modes: dict[str, list[str]] = {"one process": [], "-n 2": ["-n", "2"], "-n auto": ["-n", "auto"]}
    built: dict[tuple[str, str], list[Variant]] = {}
    for _, key, _, make in suites:
        serial = make()  # one project and baseline per suite and checkout, shared by the three modes
        for mode, extra in modes.items():
            built[(key, mode)] = [
                Variant(f"{v.label} {mode}", v.tree, v.project, [*extra, *v.args], v.env, v.fresh_cache) for v in serial
            ]
    bench.measure([v for variants in built.values() for v in variants], rounds)
    table = Table("xdist: one process against -n 2 and -n auto", "one process", " s")
    for title, key, n, _ in suites:
        one = by_column(built[(key, "one process")], bench)
        for mode in modes:
            table.rows.append((f"{title}, {n} cases, {mode}", by_column(built[(key, mode)], bench), one))
    table.notes.append(
        f"Wall medians; each checkout against its own one-process run (os.cpu_count() = {os.cpu_count()}). "
        "Concurrency flags are per process, as the plugin applies them."
    )
    return table


@contextmanager
def workspace(keep: Path | None) -> Iterator[Path]:
    """A temporary folder for the projects, or `keep` (created empty, left for inspection)."""
    if keep is not None:
        keep.mkdir(parents=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="user-bench-") as tmp:
        yield Path(tmp)


SHAPES = ("sut", "scale", "judged", "small", "cpu", "xdist")
DEFAULT_CASES = {"sut": 500, "scale": 5000, "judged": 500, "small": 20, "cpu": 5000, "cpu-bound": 200}


def cases(values: list[str]) -> dict[str, int]:
    """`--cases N` sets every shape's size; `--cases shape=N` one shape's."""
    sizes = dict(DEFAULT_CASES)
    for value in values:
        key, _, number = value.rpartition("=")
        if key and key not in sizes:
            msg = f"'--cases' names an unknown shape {key!r} (known: {', '.join(sizes)})."
            raise SystemExit(msg)
        for name in [key] if key else list(sizes):
            sizes[name] = int(number)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=[],
        help="N for every shape, or shape=N (sut, scale, judged, small, cpu, cpu-bound)",
    )
    parser.add_argument("--before", type=Path, default=None, help="another checkout, measured in the same rounds")
    parser.add_argument("--json", type=Path, default=None, help="write every run's raw figures here")
    parser.add_argument("--keep", type=Path, default=None, help="build the projects in this new folder and keep them")
    args = parser.parse_args()
    sizes = cases(args.cases)
    print("`python benchmarks/user_bench.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]) + "`")
    print()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    print(f"now: {ROOT}" + (f"; before: {args.before.resolve()}" if args.before else ""))
    print(f"medians of {args.rounds} interleaved rounds, after one warm-up run per command and checkout")
    print(flush=True)
    raw: dict[str, object] = {"argv": sys.argv[1:], "load_start": os.getloadavg(), "shapes": {}}
    with workspace(args.keep) as work:
        bench = Bench(work, args.before)
        columns = list(bench.trees)
        try:
            for shape in args.shape:
                first = len(bench.measured)
                if shape == "sut":
                    table = shape_sut(bench, sizes["sut"], args.rounds)
                elif shape == "scale":
                    table = shape_sut(bench, sizes["scale"], args.rounds, latency=0.05, name="scale")
                elif shape == "judged":
                    table = shape_judged(bench, sizes["judged"], args.rounds)
                elif shape == "small":
                    table = shape_small(bench, sizes["small"], args.rounds)
                elif shape == "cpu":
                    table = shape_cpu(bench, sizes["cpu"], args.rounds)
                else:
                    table = shape_xdist(bench, sizes, args.rounds)
                for line in table.lines(columns):
                    print(line)
                print(flush=True)
                shapes = raw["shapes"]
                assert isinstance(shapes, dict)
                shapes[shape] = {"title": table.title, "rows": table.rows, "runs": samples_json(bench.measured[first:])}
        finally:
            bench.close()
    raw["load_end"] = os.getloadavg()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json is not None:
        args.json.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def samples_json(variants: list[Variant]) -> dict[str, list[dict[str, object]]]:
    return {v.label: [asdict(s) for s in v.samples] for v in variants}


if __name__ == "__main__":
    main()
