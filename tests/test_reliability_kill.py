"""kill -9 leaves nothing beside committed files: an atomic write killed halfway leaves no temp
file in the target's folder (Linux: an unnamed file; elsewhere a locked, named one that the next
write or gated session removes once its writer is gone), and a killed run leaves no spill file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pytest_llmgate._files import TEMP_SUFFIX, atomic_write_text, lock_for_writing, sweep_temp_files

ROOT = Path(__file__).parents[1]
OUTER_TIMEOUT = 120
WRITER = """
import os, sys, time
from pathlib import Path
if sys.argv[3] == "named":
    del os.O_TMPFILE  # the portable path: a named, locked temp file
from pytest_llmgate._files import atomic_write_chunks

def chunks():
    yield "x" * 1_000_000
    Path(sys.argv[2]).write_text("halfway")
    time.sleep(600)
    yield "never"

atomic_write_chunks(Path(sys.argv[1]), chunks())
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + OUTER_TIMEOUT
    while not path.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the process never got there"
        time.sleep(0.05)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
@pytest.mark.parametrize("kind", ["unnamed", "named"])
def test_a_write_killed_halfway_leaves_the_old_file_and_no_temp_file(tmp_path: Path, kind: str) -> None:
    if kind == "unnamed" and not hasattr(os, "O_TMPFILE"):
        pytest.skip("O_TMPFILE is Linux")
    folder = tmp_path / "baselines"
    target = atomic_write_text(folder / "test_big.json", '{"old": true}\n')
    marker = tmp_path / "halfway"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), str(marker), kind],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for(marker, writer)
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=OUTER_TIMEOUT)
    assert target.read_text(encoding="utf-8") == '{"old": true}\n'
    left = sorted(p.name for p in folder.iterdir())
    if kind == "unnamed":
        assert left == ["test_big.json"]
    else:  # the portable path leaves a locked file; its lock died with its writer
        assert len(left) == 2 and left[0].startswith(".test_big.json.") and left[0].endswith(TEMP_SUFFIX)
        atomic_write_text(target, '{"new": true}\n')  # the next write of that file removes it
        assert sorted(p.name for p in folder.iterdir()) == ["test_big.json"]


def test_a_live_writers_temp_file_is_never_swept(tmp_path: Path) -> None:
    fd, live = tempfile.mkstemp(prefix=".a.json.", suffix=TEMP_SUFFIX, dir=tmp_path)
    lock_for_writing(fd)
    dead = tmp_path / f".a.json.dead{TEMP_SUFFIX}"
    dead.write_text("half", encoding="utf-8")
    other = tmp_path / ".unrelated.tmp"
    other.write_text("not ours", encoding="utf-8")
    assert sweep_temp_files(tmp_path) == [dead]
    assert Path(live).exists() and other.exists()
    os.close(fd)
    assert sweep_temp_files(tmp_path) == [Path(live)]


PROJECT_TEST = """
import os
import time
from pathlib import Path

import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference * 1000})
    if case.id == "q-5":
        Path("halfway").write_text("yes")
        time.sleep(600)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
def test_a_killed_run_leaves_no_spill_file_and_the_next_start_sweeps_temp_files(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "datasets").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    lines = [json.dumps({"id": f"q-{i}", "input": f"q {i}", "reference": f"answer {i}"}) for i in range(8)]
    (project / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (project / "test_qa.py").write_text(PROJECT_TEST, encoding="utf-8")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress"],
        cwd=project,
        env=_env(TMPDIR=str(scratch)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for(project / "halfway", run)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=OUTER_TIMEOUT)
    assert [p.name for p in scratch.iterdir() if p.name.startswith("llm-gate-cases-")] == []

    # What an older plugin, or a system without O_TMPFILE, leaves: swept when the next gated run starts.
    leftovers = [
        project / "baselines/test_qa" / f".test_qa.json.x1{TEMP_SUFFIX}",
        project / "reports" / f".llm-gate.json.x2{TEMP_SUFFIX}",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half", encoding="utf-8")
    (project / "test_qa.py").write_text(PROJECT_TEST.replace('"q-5"', '"none"'), encoding="utf-8")
    again = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress"],
        cwd=project,
        env=_env(TMPDIR=str(scratch)),
        capture_output=True,
        text=True,
        timeout=OUTER_TIMEOUT,
        check=False,
    )
    assert again.returncode in (0, 1), again.stdout + again.stderr
    assert not any(path.exists() for path in leftovers)
    assert (project / "reports/llm-gate.json").is_file()
