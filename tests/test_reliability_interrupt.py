"""Ctrl-C (SIGINT to a pytest subprocess) while tests run and during the final wait for the
judge: pending calls are cancelled at once, nothing is gated or written, one line says so,
and a rerun pays only for the calls that did not finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_provider import FakeConfig, FakeProvider, subprocess_env

N_CASES = 30
TEST_FILE = """
import os
import time
from pathlib import Path

import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference})
    llm_gate.judge("correctness")
    time.sleep(float(os.environ.get("CASE_SECONDS", "0")))
    if case.id == "q-LAST":
        Path("last-case-ran").write_text("yes")
""".replace("LAST", str(N_CASES - 1))
CORRECTNESS = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: Same facts as the reference.
"""
GATE = [
    "-p",
    "no:cacheprovider",
    "--llm-gate",
    "--llm-gate-no-progress",
    "--llm-gate-judge",
    "openai:gpt-test",
    "--llm-gate-concurrency",
    "2",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "datasets").mkdir()
    lines = [
        json.dumps({"id": f"q-{i}", "input": f"crate {i}?", "reference": f"Crate {i} holds {i}."})
        for i in range(N_CASES)
    ]
    (tmp_path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    (tmp_path / "test_qa.py").write_text(TEST_FILE, encoding="utf-8")
    return tmp_path


def _start(project: Path, server: FakeProvider, case_seconds: float) -> subprocess.Popen[str]:
    env = subprocess_env(server)
    env["CASE_SECONDS"] = str(case_seconds)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *GATE],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(condition: object, process: subprocess.Popen[str]) -> None:
    """Poll until `condition()` holds (a synchronisation point, not a timed assertion)."""
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.02)


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    return output


def _one_answer_taken(server: FakeProvider) -> bool:
    """Two answers sent and a third request arrived: with two calls in flight at most, a slot
    was freed, so the client took in an answer (and put it in its cache) before it sent it.
    The server's own count alone says only that an answer left the server."""
    return server.count(200) >= 2 and server.request_count + server.in_flight >= 3


def _settled(server: FakeProvider) -> int:
    """The server's request count once nothing is in flight: it records a request when it
    answers, so a call the interrupted process sent in its last moments is counted late."""
    deadline = time.monotonic() + 60
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.request_count


def _check_interrupted(project: Path, server: FakeProvider, output: str) -> int:
    assert "LLM gate: interrupted: nothing gated, no file written;" in output
    assert "a rerun pays only for what is missing." in output
    assert "Traceback" not in output
    assert "LLM gate: PASS" not in output and "LLM gate: FAIL" not in output
    assert not (project / "reports").exists() and not (project / "baselines").exists()
    made = _settled(server)
    assert made < N_CASES, "pending judge calls must be cancelled, not paid for"
    return made


def _rerun_pays_only_for_the_rest(project: Path, server: FakeProvider, made: int) -> None:
    before = _settled(server)
    finished = _start(project, server, 0.0)
    output, _ = finished.communicate(timeout=300)
    assert finished.returncode == pytest.ExitCode.TESTS_FAILED, output  # no baseline yet
    results = json.loads((project / "reports/llm-gate.json").read_text(encoding="utf-8"))
    cached = results["judge_stats"]["correctness"]["cache_hits"]
    assert cached >= 1, "what finished before Ctrl-C is served from the cache"
    assert server.request_count - before == N_CASES - cached
    assert cached <= made


def test_ctrl_c_while_tests_run(project: Path, fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(latency=0.3))
    process = _start(project, fake_provider, case_seconds=0.1)
    _wait_for(lambda: _one_answer_taken(fake_provider), process)
    output = _interrupt(process)
    assert "KeyboardInterrupt" in output  # pytest's own one-line notice
    made = _check_interrupted(project, fake_provider, output)
    assert not (project / "last-case-ran").exists()
    _rerun_pays_only_for_the_rest(project, fake_provider, made)


def test_ctrl_c_during_the_final_wait(project: Path, fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(latency=0.3))
    process = _start(project, fake_provider, case_seconds=0.0)
    _wait_for(lambda: (project / "last-case-ran").exists() and _one_answer_taken(fake_provider), process)
    output = _interrupt(process)
    made = _check_interrupted(project, fake_provider, output)
    _rerun_pays_only_for_the_rest(project, fake_provider, made)
