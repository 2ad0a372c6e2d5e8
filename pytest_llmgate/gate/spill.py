"""Finished cases' outputs and details, streamed to a file while the session runs.

A case's output, its details (retrieval ranks, trajectories, ...) and its runs' outputs are
read again only by the files written at the end (results, report, baselines, outputs file),
while the gate needs the case's values alone. So as each case finishes, those fields go to one
JSON line of a spill file and leave the in-memory record; the end-of-session writers read
each case back, one at a time, through `SpilledCases`. The file is a scratch file in the
system's temporary folder (`$TMPDIR`), named `llm-gate-cases-*.jsonl`, one per process (xdist
workers have their own), created on the first finished case and removed when the session ends:
the project gets no file it did not ask for, even from an interrupted run. On POSIX its name is
removed as soon as it is made (the process reads and writes it through its open handle), so even
a killed run (kill -9) leaves no file behind; elsewhere the next gated session removes a killed
run's spill file (`sweep_killed_runs`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from pytest_llmgate._files import abandoned, lock_for_writing, sweep_temp_files
from pytest_llmgate.gate.design import output_digest
from pytest_llmgate.gate.records import CaseResult, SuiteResult

SPILL_PREFIX = "llm-gate-cases-"
#: A spill file unlocked and unchanged this long is a killed run's.
SPILL_IDLE_SECONDS = 600.0


def sweep_killed_runs(baselines: Path, *folders: Path, spill_folder: Path | None = None) -> None:
    """At a gated session's start: remove what killed runs left, the temp files of atomic writes in
    the baselines tree and the other folders this session writes, and abandoned spill files.
    Never raises."""
    sweep_temp_files(baselines, recursive=True)
    for folder in folders:
        sweep_temp_files(folder)
    spills = Path(spill_folder or tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for path in spills.glob(f"{SPILL_PREFIX}*.jsonl"):
            with contextlib.suppress(OSError):
                # Unlocked and idle: a killed run's (an older plugin's live spill keeps being written).
                if time.time() - path.stat().st_mtime > SPILL_IDLE_SECONDS and abandoned(path):
                    path.unlink()


class CaseSpill:
    """The spill file of one process and where each case's line starts."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        """Where the file is made; None: the system's temporary folder."""
        self.path: Path | None = None
        """The JSONL file (made on the first case, removed by `close`)."""
        self._handle: IO[bytes] | None = None
        self._where: dict[tuple[str, str], int] = {}
        self.failed: str | None = None
        """Why the file could not be written (records then stay whole in memory)."""

    def put(self, suite: str, record: CaseResult) -> None:
        """Move a finished case's output, details and runs' outputs to the file."""
        if self.failed is not None:
            return
        runs = [{"output": run.output, "details": run.details} for run in record.repeats]
        line = {"output": record.output, "details": record.details, "runs": runs}
        # ASCII keeps lone surrogates exact; NaN is allowed so a bad value fails where it always
        # has (writing the results file), not in the middle of the run.
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode("ascii")
        try:
            if self._handle is None:
                fd, name = tempfile.mkstemp(prefix=SPILL_PREFIX, suffix=".jsonl", dir=self.folder)
                self.path = Path(name)
                self._handle = os.fdopen(fd, "w+b")
                if os.name == "posix":
                    os.unlink(name)  # open handles outlive the name: nothing for a kill to leave
                else:
                    lock_for_writing(fd)
                atexit.register(self.close)  # a session that ends without `close` leaves no file
            self._handle.seek(0, os.SEEK_END)
            offset = self._handle.tell()
            self._handle.write(data)
            self._handle.flush()  # on disk as the case finishes, not when a buffer fills
        except OSError as exc:
            where = self.path or self.folder or Path(tempfile.gettempdir())
            self.failed = f"could not write the spill file in {where} ({exc}); the run's outputs stayed in memory"
            return
        self._where[(suite, record.case_id)] = offset
        record.output_digest = None if record.output is None else output_digest(record.output)
        record.output = None
        record.details = {}
        for run in record.repeats:
            run.output = None
            run.details = {}

    def restore(self, suite: str, record: CaseResult) -> CaseResult:
        """A copy of `record` with what `put` moved out read back (the record itself if nothing was)."""
        offset = self._where.get((suite, record.case_id))
        if offset is None or self._handle is None:
            return record
        self._handle.seek(offset)
        line = json.loads(self._handle.readline())
        runs = [
            run.model_copy(update={"output": back["output"], "details": back["details"]})
            for run, back in zip(record.repeats, line["runs"], strict=True)
        ]
        return record.model_copy(
            update={"output": line["output"], "details": line["details"], "repeats": runs, "output_digest": None}
        )

    def whole(self, suites: Mapping[str, SuiteResult]) -> dict[str, SuiteResult]:
        """The suites with cases that read back their spilled fields when accessed (one at a time)."""
        return {name: self.whole_suite(name, suite) for name, suite in suites.items()}

    def whole_suite(self, name: str, suite: SuiteResult) -> SuiteResult:
        return suite.model_copy(update={"cases": SpilledCases(self, name, suite.cases)})

    def close(self) -> None:
        """Close and remove the file (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._where.clear()


class SpilledCases(Mapping[str, CaseResult]):
    """A suite's cases by id, each read back whole (`CaseSpill.restore`) when accessed."""

    __slots__ = ("_cases", "_spill", "_suite")

    def __init__(self, spill: CaseSpill, suite: str, cases: Mapping[str, CaseResult]):
        self._spill = spill
        self._suite = suite
        self._cases = cases

    def __getitem__(self, case_id: str) -> CaseResult:
        return self._spill.restore(self._suite, self._cases[case_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._cases)

    def __len__(self) -> int:
        return len(self._cases)
