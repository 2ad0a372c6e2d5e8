"""A second (third...) Ctrl-C while the session is already stopping does not print pytest's
traceback over the line that says what happened; the exit status stays 2 (interrupted)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from fake_provider import FakeConfig, FakeProvider
from test_reliability_interrupt import _one_answer_taken, _start, _wait_for
from test_reliability_interrupt import project as project  # noqa: F401  (the fixture)


def _keep_interrupting(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    for _ in range(40):  # more Ctrl-C while the session cancels its judge calls and ends
        time.sleep(0.02)
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    return output


@pytest.mark.parametrize("case_seconds", [0.1, 0.0], ids=["while-tests-run", "during-the-final-wait"])
def test_more_ctrl_c_while_stopping_print_no_traceback(
    project: Path,  # noqa: F811
    fake_provider: FakeProvider,
    case_seconds: float,
) -> None:
    fake_provider.reset(FakeConfig(latency=0.3))
    process = _start(project, fake_provider, case_seconds=case_seconds)
    if case_seconds:
        _wait_for(lambda: _one_answer_taken(fake_provider), process)
    else:
        _wait_for(lambda: (project / "last-case-ran").exists() and _one_answer_taken(fake_provider), process)
    output = _keep_interrupting(process)
    assert "Traceback" not in output, output
    # A Ctrl-C that lands after Python's shutdown has reset the handler kills the finished
    # process (-SIGINT): the output is complete by then.
    assert process.returncode in (pytest.ExitCode.INTERRUPTED, -signal.SIGINT), output
    assert "LLM gate: interrupted: nothing gated, no file written;" in output
    assert not (project / "reports").exists()
