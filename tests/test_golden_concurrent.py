"""Concurrent writers of one golden set lose nothing: two `llmgate review` servers approving at
once, and a review while `llmgate import` runs in a loop, each in its own process as users run
them. Every answered write is in the file afterwards; a write that cannot be made is refused."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_llmgate
from pytest_llmgate import localapp
from pytest_llmgate.datasets import load_cases
from pytest_llmgate.golden.lock import GoldenSetBusy, golden_lock, lock_path
from pytest_llmgate.golden.review import ReviewSession

PACKAGE_ROOT = str(Path(pytest_llmgate.__file__).resolve().parents[1])
CLI = "import sys; from pytest_llmgate.cli import main; sys.exit(main())"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _pending_set(path: Path, n: int) -> list[str]:
    ids = [f"trace-{i:03d}" for i in range(n)]
    lines = [json.dumps({"id": "a-1", "input": "Where is my order?", "reference": "In your account."})]
    lines += [
        json.dumps({"id": case_id, "input": f"pending question {case_id}", "metadata": {"review": "pending"}})
        for case_id in ids
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


class _ReviewServer:
    """`llmgate review` in its own process; the token is read from the page, as a browser does."""

    def __init__(self, golden: Path, reviewer: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLI, "review", str(golden), "--no-browser", "--reviewer", reviewer],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        self.port = int(found.group(1))
        status, page = self._call("GET", "/")
        token = re.search(r'name="llmgate-token" content="([^"]+)"', page)
        assert status == 200 and token, page[:200]
        self.token = token.group(1)

    def _call(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Host": f"127.0.0.1:{self.port}", "Origin": f"http://127.0.0.1:{self.port}"}
        if getattr(self, "token", None):
            headers[localapp.TOKEN_HEADER] = self.token
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        status, text = response.status, response.read().decode("utf-8")
        connection.close()
        return status, text

    def approve(self, case_id: str, reference: str) -> int:
        return self._call("POST", "/api/approve", {"id": case_id, "reference": reference})[0]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def servers() -> Iterator[list[_ReviewServer]]:
    started: list[_ReviewServer] = []
    yield started
    for server in started:
        server.stop()


def _approve_all(server: _ReviewServer, ids: list[str], statuses: dict[str, int]) -> None:
    for case_id in ids:
        statuses[case_id] = server.approve(case_id, f"reference of {case_id}")


def _approved(golden: Path) -> dict[str, str | None]:
    return {
        case.id: case.reference
        for case in load_cases(golden, include_inactive=True)
        if case.metadata.get("review") == "approved"
    }


def test_two_review_servers_approving_at_once_lose_no_approval(tmp_path: Path, servers: list[_ReviewServer]) -> None:
    golden = tmp_path / "support.jsonl"
    ids = _pending_set(golden, 80)
    servers.extend([_ReviewServer(golden, "ana"), _ReviewServer(golden, "bo")])
    statuses: dict[str, int] = {}
    threads = [
        threading.Thread(target=_approve_all, args=(server, ids[index::2], statuses))
        for index, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == ids and set(statuses.values()) == {200}
    approved = _approved(golden)
    assert approved == {case_id: f"reference of {case_id}" for case_id in ids}
    reviewers = {c.id: c.metadata["reviewed_by"] for c in load_cases(golden) if c.id != "a-1"}
    assert {reviewers[i] for i in ids[0::2]} == {"ana"} and {reviewers[i] for i in ids[1::2]} == {"bo"}
    assert golden.read_text(encoding="utf-8").splitlines()[0].startswith('{"id": "a-1"')  # its bytes kept
    # Approving a case the other reviewer approved is refused, not answered 200 and dropped.
    status, text = servers[1]._call("POST", "/api/approve", {"id": ids[0], "reference": "again"})
    assert status == 400 and "not pending review" in text
    assert _approved(golden)[ids[0]] == f"reference of {ids[0]}"


IMPORT_LOOP = """
import json, sys
from click.testing import CliRunner
from pytest_llmgate.cli import main
rounds, target = int(sys.argv[1]), sys.argv[2]
for i in range(rounds):
    log = f"log-{i}.jsonl"
    with open(log, "w", encoding="utf-8") as handle:
        for j in range(3):
            handle.write(json.dumps({"input": f"imported question {i}-{j}", "output": "x"}) + "\\n")
    result = CliRunner().invoke(main, ["import", log, "--format", "jsonl", "--to", target])
    assert result.exit_code == 0, result.output
    print("imported", i, flush=True)
"""


def test_a_review_while_imports_run_loses_neither(tmp_path: Path, servers: list[_ReviewServer]) -> None:
    golden = tmp_path / "support.jsonl"
    ids = _pending_set(golden, 40)
    servers.append(_ReviewServer(golden, "ana"))
    rounds = 15
    importer = subprocess.Popen(
        [sys.executable, "-c", IMPORT_LOOP, str(rounds), str(golden)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    assert importer.stdout is not None
    assert importer.stdout.readline().startswith("imported 0")  # the loop is under way
    statuses: dict[str, int] = {}
    _approve_all(servers[0], ids, statuses)
    out, _ = importer.communicate(timeout=300)
    assert importer.returncode == 0, out
    assert set(statuses.values()) == {200}
    assert _approved(golden) == {case_id: f"reference of {case_id}" for case_id in ids}
    imported = {c.input for c in load_cases(golden, include_inactive=True) if str(c.input).startswith("imported")}
    assert imported == {f"imported question {i}-{j}" for i in range(rounds) for j in range(3)}


def test_a_writer_that_cannot_get_the_lock_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    golden = tmp_path / "support.jsonl"
    ids = _pending_set(golden, 2)
    before = golden.read_bytes()
    session = ReviewSession(golden, "ana")
    with golden_lock(golden):
        # Another writer holds the lock (here: this test); a second writer gives up after its timeout.
        with pytest.raises(GoldenSetBusy, match="nothing was written"), golden_lock(golden, timeout=0.2):
            pass
        import pytest_llmgate.golden.review as review

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(review, "golden_lock", lambda path: golden_lock(path, timeout=0.2))
            with pytest.raises(ValueError, match="nothing was written"):
                session.approve(ids[0], "a reference")
    assert golden.read_bytes() == before
    # The lock lives outside the golden set's folder (`git add datasets/` must not pick it up),
    # one per real path.
    assert lock_path(golden).parent != golden.parent
    assert lock_path(tmp_path / "." / "support.jsonl") == lock_path(golden)
    assert session.approve(ids[0], "a reference")["review"] == "approved"


def test_an_import_that_cannot_get_the_lock_says_so_and_appends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import pytest_llmgate.golden.commands as commands
    from pytest_llmgate.cli import main

    golden = tmp_path / "support.jsonl"
    _pending_set(golden, 1)
    before = golden.read_bytes()
    (tmp_path / "log.jsonl").write_text('{"input": "new question", "output": "x"}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(commands, "golden_lock", lambda path: golden_lock(path, timeout=0.2))
    with golden_lock(golden):
        result = CliRunner().invoke(main, ["import", "log.jsonl", "--format", "jsonl", "--to", "support.jsonl"])
    assert result.exit_code == 1 and "nothing was written, try again" in result.output
    assert golden.read_bytes() == before
