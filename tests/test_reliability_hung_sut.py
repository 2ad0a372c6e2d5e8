"""A sync SUT that never returns never holds the process: with `--llm-gate-sut-timeout` the item
fails at the timeout, the reports are written and pytest exits when the tests end; without it,
one Ctrl-C ends the run. (The hung call's daemon thread ends with the process.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_llmgate.sut import SutRunner

TEST_FILE = """
import threading
from pathlib import Path

import pytest


def ask(case):
    if case.id == "q-1":
        Path("hung").write_text("yes")
        threading.Event().wait()  # never returns
    return {"answer": case.reference}


@pytest.mark.golden("datasets/qa.jsonl", sut=ask)
def test_qa(case, output):
    assert output["answer"] == case.reference
"""
GATE = ["-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress"]
#: Far above what the run needs: the assertion is that the process ended, not how fast.
OUTER_TIMEOUT = 120


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "datasets").mkdir()
    lines = [json.dumps({"id": f"q-{i}", "input": f"crate {i}?", "reference": f"Crate {i}."}) for i in range(4)]
    (tmp_path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "test_qa.py").write_text(TEST_FILE, encoding="utf-8")
    return tmp_path


def _start(project: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *GATE, *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    try:
        out, _ = process.communicate(timeout=OUTER_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        pytest.fail(f"pytest was still running {OUTER_TIMEOUT} s after it started:\n{out}")
    return out


def test_a_hung_sync_sut_with_a_timeout_lets_pytest_exit(project: Path) -> None:
    process = _start(project, "--llm-gate-sut-timeout", "1")
    out = _finish(process)
    assert "took longer than the SUT timeout (1 s) for case 'q-1'" in out, out
    assert "1 failed, 3 passed" in out, out
    assert process.returncode == 1, out
    assert (project / "reports/llm-gate.json").is_file()
    assert (project / "reports/llm-gate.html").is_file()


def test_one_ctrl_c_ends_a_run_hung_in_the_sut(project: Path) -> None:
    process = _start(project)
    deadline = time.monotonic() + OUTER_TIMEOUT
    while not (project / "hung").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the SUT was never called"
        time.sleep(0.05)
    time.sleep(0.3)  # the item is now waiting for the hung call
    process.send_signal(signal.SIGINT)
    out = _finish(process)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "Traceback" not in out.split("KeyboardInterrupt")[-1]


def test_the_runner_never_joins_a_hung_call() -> None:
    import threading

    release = threading.Event()
    runner = SutRunner(concurrency=2, timeout=0.2)
    runner.submit("hung", lambda case: release.wait(), None)
    runner.submit("queued", lambda case: case, "fine")
    [call] = runner.wait("hung")
    assert call.timed_out
    assert [c.output for c in runner.wait("queued")] == ["fine"]
    sut_threads = [t for t in threading.enumerate() if t.name.startswith("llmgate-sut")]
    assert sut_threads and all(t.daemon for t in sut_threads)
    runner.close()
    release.set()
