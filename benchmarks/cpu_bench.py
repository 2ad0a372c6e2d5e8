"""CPU seconds per judge call: `pytest --llm-gate` end to end, the judge engine alone, and a bare
async SDK loop, side by side in one run against the fake provider.

    python benchmarks/cpu_bench.py --cases 500 --concurrency 32 --repeats 3 [--before /other/checkout]

Every measurement runs in its own child process (the fake provider in another), so each one's
CPU time is its own: `time.process_time()` around the calls for the engine and the bare loop,
`resource.getrusage(RUSAGE_CHILDREN)` for the whole pytest process (interpreter start, imports,
collection, the tests, judging, the gate and the reports). Each case is one order-swapped
pairwise judgment, two calls; the cache starts empty every time (so every call is made and
written to it). Prints medians and the ratios to the bare loop; then the demo's token counts
online vs batch, and what batch mode is billed at.

Children run with Python's default of caching bytecode (`PYTHONDONTWRITEBYTECODE` is removed
from their environment), after one warm-up round that is not counted: without cached bytecode
every process compiles the plugin's modules from source, and pytest re-runs its assertion
rewriting on them (as on every module of an installed pytest plugin), a fixed cost per process
of about 0.4 s here that says nothing about the cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_provider import DUMMY_ANTHROPIC_KEY, DUMMY_OPENAI_KEY  # noqa: E402

RUBRIC = {"name": "helpfulness", "version": "1", "kind": "pairwise", "criteria": "Which answer helps more?"}


def _case(i: int) -> dict[str, str]:
    return {
        "id": f"case-{i}",
        "input": f"How long do refunds take for order A{1000 + i}?",
        "candidate": f"Refunds take five business days after the return arrives (order A{1000 + i}).",
        "other": f"Please contact sales for a discount on your next order (order A{1000 + i}).",
        "reference": f"Refunds are processed within 5 business days of receiving the return (A{1000 + i}).",
    }


# -- children -------------------------------------------------------------------------------


def child_bare(cases: int, concurrency: int, provider: str) -> float:
    """The SDK alone: the same parse calls the engine makes, bounded by a semaphore."""
    from pytest_llmgate.judge.prompts import PromptData, render
    from pytest_llmgate.judge.rubrics import Rubric
    from pytest_llmgate.judge.schemas import PairwiseAnswer

    rubric = Rubric(**RUBRIC)
    prompts = []
    for i in range(cases):
        c = _case(i)
        prompts.append(
            render(rubric, PromptData(c["input"], None, c["reference"], c["candidate"], c["other"]), "forward")
        )
        prompts.append(
            render(rubric, PromptData(c["input"], None, c["reference"], c["other"], c["candidate"]), "swapped")
        )

    async def run() -> float:
        if provider == "anthropic":
            import anthropic

            client = anthropic.AsyncAnthropic(max_retries=0)

            async def call(prompt: object) -> None:
                await client.messages.parse(
                    model="bench-model",
                    max_tokens=1024,
                    system=prompt.system,  # type: ignore[attr-defined]
                    messages=[{"role": "user", "content": prompt.user}],  # type: ignore[attr-defined]
                    output_format=PairwiseAnswer,
                )
        else:
            import openai

            client = openai.AsyncOpenAI(max_retries=0)

            async def call(prompt: object) -> None:
                await client.chat.completions.parse(
                    model="bench-model",
                    max_completion_tokens=1024,
                    temperature=0.0,
                    messages=[
                        {"role": "system", "content": prompt.system},  # type: ignore[attr-defined]
                        {"role": "user", "content": prompt.user},  # type: ignore[attr-defined]
                    ],
                    response_format=PairwiseAnswer,
                )

        semaphore = asyncio.Semaphore(concurrency)

        async def bounded(prompt: object) -> None:
            async with semaphore:
                await call(prompt)

        start = time.process_time()
        await asyncio.gather(*(bounded(p) for p in prompts))
        spent = time.process_time() - start
        await client.close()
        return spent

    return asyncio.run(run())


def child_engine(cases: int, concurrency: int, provider: str) -> float:
    """The judge engine: requests in, verdicts out, with its cache in a fresh folder."""
    from pytest_llmgate.judge.engine import JudgeEngine, JudgeRequest
    from pytest_llmgate.judge.rubrics import Rubric

    requests = [
        JudgeRequest(
            rubric="helpfulness",
            suite="bench",
            case_id=c["id"],
            metric="judge:helpfulness",
            input=c["input"],
            candidate=c["candidate"],
            other=c["other"],
            reference=c["reference"],
            against="baseline",
        )
        for c in map(_case, range(cases))
    ]
    with tempfile.TemporaryDirectory() as cache_dir:
        engine = JudgeEngine(
            provider=f"{provider}:bench-model",
            rubrics={"helpfulness": Rubric(**RUBRIC)},
            cache_dir=Path(cache_dir),
            concurrency=concurrency,
        )
        engine.start()
        start = time.process_time()
        futures = [engine.submit(request) for request in requests]
        engine.wait(progress=False)
        spent = time.process_time() - start
        errors = sum(f.result().error is not None for f in futures)
        engine.close()
    if errors:
        raise SystemExit(f"{errors} judge errors")
    return spent


PROJECT_TEST = textwrap.dedent(
    """
    import pytest


    @pytest.mark.golden("datasets/bench.jsonl")
    def test_bench(case, llm_gate):
        llm_gate.output({"answer": case.metadata["candidate"]})
        llm_gate.judge("helpfulness", against="reference")
    """
)


def make_project(directory: Path, cases: int) -> None:
    (directory / "datasets").mkdir()
    (directory / "rubrics").mkdir()
    lines = []
    for i in range(cases):
        c = _case(i)
        lines.append(
            json.dumps(
                {
                    "id": c["id"],
                    "input": c["input"],
                    "reference": c["reference"],
                    "metadata": {"candidate": c["candidate"]},
                }
            )
        )
    (directory / "datasets/bench.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rubric = "name: helpfulness\nversion: '1'\nkind: pairwise\nboth_orders: true\ncriteria: Which answer helps more?\n"
    (directory / "rubrics/helpfulness.yaml").write_text(rubric, encoding="utf-8")
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (directory / "test_bench.py").write_text(PROJECT_TEST, encoding="utf-8")


def run_plugin(cases: int, concurrency: int, provider: str, env: dict[str, str]) -> float:
    """CPU seconds of one whole `pytest --llm-gate` process (user + system)."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        make_project(project, cases)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--llm-gate-update",
            "--llm-gate-no-progress",
            f"--llm-gate-judge={provider}:bench-model",
            f"--llm-gate-concurrency={concurrency}",
        ]
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"pytest failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        results = json.loads((project / "reports/llm-gate.json").read_text(encoding="utf-8"))
        stats = results["judge_stats"]["helpfulness"]
        if stats["calls"] != 2 * cases or stats["errors"]:
            raise SystemExit(f"unexpected judge stats: {stats}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_plain(cases: int, env: dict[str, str]) -> float:
    """CPU seconds of a pytest process running as many plain parametrized tests (no plugin work):
    pytest's own floor for this many items."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        test = (
            f"import pytest\n\n\n@pytest.mark.parametrize('i', range({cases}))\ndef test_plain(i):\n    assert i >= 0\n"
        )
        (project / "test_plain.py").write_text(test, encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"plain pytest failed:\n{done.stdout[-3000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_child(
    kind: str, cases: int, concurrency: int, provider: str, env: dict[str, str], tree: Path = ROOT
) -> tuple[float, float]:
    """(CPU seconds of the calls, CPU seconds of the whole child process); `tree`: the checkout
    whose copy of this benchmark (and package) runs."""
    script = tree / "benchmarks" / Path(__file__).name
    command = [sys.executable, str(script), "--child", kind, f"--cases={cases}", f"--concurrency={concurrency}"]
    command.append(f"--provider={provider}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    whole = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(done.stdout.strip().splitlines()[-1]), whole


# -- batch vs online tokens for the demo ----------------------------------------------------


def demo_tokens(env: dict[str, str]) -> tuple[int, int, int] | None:
    """Tokens of the demo judged by the fake provider online, then in batch mode (a fresh cache
    each time): (online tokens, batch tokens, batched calls); None if a run failed."""
    totals = []
    for extra in ([], ["--llm-gate-batch"]):
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                f"llm_gate_cache_dir={tmp}/cache",
                "-o",
                f"llm_gate_markdown={tmp}/summary.md",
                "-o",
                "llm_gate_batch_poll_interval=0.05",
                "--llm-gate-update",
                "--llm-gate-no-progress",
                "--llm-gate-judge=anthropic:bench-model",
                f"--llm-gate-baseline-dir={tmp}/baselines",
                f"--llm-gate-results={tmp}/results.json",
                f"--llm-gate-report={tmp}/report.html",
                *extra,
                "examples",
            ]
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            path = Path(tmp) / "results.json"
            if not path.exists():
                print(f"demo run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
                return None
            stats = json.loads(path.read_text(encoding="utf-8"))["judge_stats"]
            tokens = sum(s["input_tokens"] + s["output_tokens"] for s in stats.values())
            batched = sum(s.get("batched", 0) for s in stats.values())
            totals.append((tokens, batched))
    return totals[0][0], totals[1][0], totals[1][1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=500, help="pairwise cases, two calls each (default: 500)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (default: 32)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (default: 3)")
    parser.add_argument("--provider", choices=["openai", "anthropic"], default="openai", help="SDK (default: openai)")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo's batch vs online tokens")
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        help="another checkout whose engine and plugin run in the same rounds (e.g. `git worktree add /tmp/before main`)",
    )
    parser.add_argument("--child", choices=["bare", "engine"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spent = (child_bare if args.child == "bare" else child_engine)(args.cases, args.concurrency, args.provider)
        print(f"{spent:.6f}")
        return 0

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_provider.py"), "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    env = dict(os.environ)
    env.update(
        {
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": DUMMY_ANTHROPIC_KEY,
            "OPENAI_BASE_URL": url + "/v1",
            "OPENAI_API_KEY": DUMMY_OPENAI_KEY,
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    calls = 2 * args.cases
    measured: dict[str, list[float]] = {
        "bare": [],
        "bare_process": [],
        "engine": [],
        "plugin": [],
        "plain": [],
        "engine_before": [],
        "plugin_before": [],
    }
    before_env = None
    if args.before is not None:
        before_env = dict(
            env, PYTHONPATH=os.pathsep.join([str(args.before.resolve()), str(args.before.resolve() / "tests")])
        )
    try:
        for round_ in range(args.repeats + 1):  # interleaved, so drift in machine load hits all alike
            calls_only, whole = run_child("bare", args.cases, args.concurrency, args.provider, env)
            engine = run_child("engine", args.cases, args.concurrency, args.provider, env)[0]
            plugin = run_plugin(args.cases, args.concurrency, args.provider, env)
            plain = run_plain(args.cases, env)
            if before_env is not None:
                engine_before = run_child(
                    "engine", args.cases, args.concurrency, args.provider, before_env, args.before.resolve()
                )[0]
                plugin_before = run_plugin(args.cases, args.concurrency, args.provider, before_env)
            if round_ == 0:
                continue  # the warm-up round writes the bytecode caches
            if before_env is not None:
                measured["engine_before"].append(engine_before)
                measured["plugin_before"].append(plugin_before)
            for name, value in (
                ("bare", calls_only),
                ("bare_process", whole),
                ("engine", engine),
                ("plugin", plugin),
                ("plain", plain),
            ):
                measured[name].append(value)
        tokens = None if args.no_demo else demo_tokens(env)
    finally:
        server.communicate(input="", timeout=30)
    median = {name: statistics.median(values) / calls * 1000 for name, values in measured.items() if values}
    print(f"CPU per judge call, {args.provider} SDK, {calls} calls ({args.cases} order-swapped pairs), ", end="")
    print(f"concurrency {args.concurrency}, median of {args.repeats} after a warm-up round:")
    rows = [
        ("bare async SDK loop", "bare", "bare", "calls only"),
        ("judge engine", "engine", "bare", "calls only; cache on; vs the bare loop's calls"),
        ("bare loop, process", "bare_process", "bare_process", "whole process: start, import the SDK, calls"),
        ("pytest --llm-gate", "plugin", "bare", "whole process: start, collect, judge, gate, reports; vs calls only"),
        ("", "plugin", "bare_process", "the same, vs the bare loop's whole process"),
        ("plain pytest", "plain", "bare", f"{args.cases} plain parametrized tests, no plugin: pytest's own floor"),
    ]
    if args.before is not None:
        rows.insert(2, ("  before", "engine_before", "bare", f"the same, {args.before}"))
        rows.insert(6, ("  before", "plugin_before", "bare_process", f"the same, {args.before}"))
    for label, key, base, what in rows:
        ratio = median[key] / median[base]
        print(f"  {label:22} {median[key]:6.2f} ms  {ratio:5.2f}x   ({what})")
    if tokens is not None:
        online, batch, batched = tokens
        print("demo (91 cases, fake provider as anthropic:bench-model), tokens online vs batch:")
        print(f"  online {online} tokens; batch {batch} tokens in {batched} batched calls")
        print("  batch APIs bill these at 50% of the online price (Anthropic and OpenAI list prices)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
