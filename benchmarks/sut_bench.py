"""The system under test at speed: whole `pytest` process wall time, medians of interleaved rounds.

500 cases, the SUT an HTTP call to the fake model (tests/fake_provider.py) at 200 ms latency:
the old in-body style (SUT called in the test body, one item after another) against the
plugin's concurrent path (`sut=` on the marker, --llm-gate-sut-concurrency 32), with the ideal
bound 500 x 0.2 s / 32; then SUT calls and order-swapped pairwise judging (1,000 judge calls at
--llm-gate-concurrency 32) together, against the sum of both bounds. "fixed" is the same
concurrent session against a 0 ms model: the plugin's and pytest's own cost for 500 cases.

    python benchmarks/sut_bench.py --cases 500 --rounds 3
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

ROOT = Path(__file__).resolve().parent.parent

TEST = """
import json, os, urllib.request
import pytest

URL = os.environ["FAKE_SUT_URL"]
STYLE = os.environ["BENCH_STYLE"]


def ask(case):
    body = json.dumps({"input": case.input, "reference": case.reference}).encode()
    request = urllib.request.Request(URL + "/sut", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


if STYLE == "inbody":

    @pytest.mark.golden("cases.jsonl")
    def test_case(case, llm_gate):
        output = ask(case)
        llm_gate.output(output)
        assert output["answer"]

else:

    @pytest.mark.golden("cases.jsonl", sut=ask)
    def test_case(case, output, llm_gate):
        if STYLE == "judged":
            llm_gate.judge("preference")
        assert output["answer"]
"""

RUBRIC = """name: preference
version: "1"
kind: pairwise
criteria: |
  Prefer the answer that gives the customer the correct, complete information.
"""


def start_server(latency: float, config: str = "{}") -> tuple[subprocess.Popen[str], str]:
    """The fake provider in its own process; `config` holds more FakeConfig fields as JSON."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_provider.py"), str(latency), config],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def make_project(root: Path, n: int) -> None:
    lines = [json.dumps({"id": f"c-{i}", "input": f"question {i}", "reference": f"answer {i}"}) for i in range(n)]
    (root / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "rubrics").mkdir()
    (root / "rubrics" / "preference.yaml").write_text(RUBRIC, encoding="utf-8")
    (root / "test_bench.py").write_text(TEST, encoding="utf-8")


def timed(root: Path, url: str, style: str) -> float:
    env = dict(
        os.environ,
        PYTHONDONTWRITEBYTECODE="1",
        FAKE_SUT_URL=url,
        BENCH_STYLE=style,
        OPENAI_BASE_URL=url + "/v1",
        OPENAI_API_KEY="sk-bench-dummy",
    )
    flags = ["--llm-gate-update", "--llm-gate-no-progress", "--llm-gate-no-cache"]
    flags += ["--llm-gate-sut-concurrency", "32", "--llm-gate-concurrency", "32"]
    if style == "judged":
        flags += ["--llm-gate-judge", "openai:gpt-bench"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flags],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{style}: pytest exited {done.returncode}\n{done.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    slow, slow_url = start_server(0.2)
    fast, fast_url = start_server(0.0)
    runs: dict[str, list[float]] = {"inbody": [], "sut": [], "fixed": [], "judged": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, args.cases)
            for _ in range(args.rounds):  # interleaved, so drift hits every variant alike
                runs["inbody"].append(timed(root, slow_url, "inbody"))
                runs["sut"].append(timed(root, slow_url, "sut"))
                runs["fixed"].append(timed(root, fast_url, "sut"))
                runs["judged"].append(timed(root, slow_url, "judged"))
    finally:
        for process in (slow, fast):
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)
    n = args.cases
    sut_bound = n * 0.2 / 32
    judge_bound = 2 * n * 0.2 / 32
    median = {name: statistics.median(values) for name, values in runs.items()}
    print(f"{n} cases, SUT and judge at 200 ms, concurrency 32, median of {args.rounds} rounds (whole pytest process)")
    print(f"{'how':<48} {'wall (s)':>9} {'bound (s)':>10} {'ratio':>6}")
    rows = [
        ("in-body style, serial (SUT in the test body)", median["inbody"], sut_bound),
        ("sut= concurrent path", median["sut"], sut_bound),
        ("sut= concurrent path, 0 ms model (fixed cost)", median["fixed"], 0.0),
        ("sut= + pairwise judge, both orders", median["judged"], sut_bound + judge_bound),
    ]
    for label, wall, bound in rows:
        ratio = f"{wall / bound:.2f}" if bound else "–"
        print(f"{label:<48} {wall:>9.2f} {bound:>10.2f} {ratio:>6}")
    print(f"concurrent path vs bound + fixed cost: {median['sut'] / (sut_bound + median['fixed']):.2f}x")
    print(f"speed-up of the concurrent path over the in-body style: {median['inbody'] / median['sut']:.1f}x")


if __name__ == "__main__":
    main()
