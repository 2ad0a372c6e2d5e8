"""The state of one gated process (controller or xdist worker), declared once for every job."""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pytest_llmgate.config import Settings
from pytest_llmgate.gate.records import (
    Baseline,
    CaseResult,
    JudgeVerdict,
    RubricStats,
    RunResults,
    SuiteResult,
)
from pytest_llmgate.gate.spill import CaseSpill
from pytest_llmgate.session.warmup import Warmup
from pytest_llmgate.sut import (
    OutputsFile,
    SutCall,
    SutRunner,
    load_outputs,
)

#: Every field name of a case record: the one fields-set all records share (see `case_record`).
CASE_FIELDS = set(CaseResult.model_fields)
#: The per-case SUT duration; recorded as a metric only when a suite's marker names it in `metrics=`.
SUT_SECONDS_METRIC = "sut_seconds"
INTERRUPTED_LINE = (
    "interrupted: nothing gated, no file written; {cancelled} pending judge call(s) cancelled, "
    "{finished} finished and cached: a rerun pays only for what is missing."
)


class SessionState:
    """Everything one process of a gated session records; the jobs (suites, cases, outputs,
    judging, finish) are layered over it, each in its own module."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.started = time.time()
        self.suites: dict[str, SuiteResult] = {}
        self.dataset_ids: dict[str, list[str]] = {}
        self.overrides: dict[str, dict[str, Any]] = {}
        self._baselines: dict[str, Baseline | None] = {}
        self.baseline_errors: dict[str, str] = {}
        self._newer: set[str] = set()
        self._engines: list[Any] = []
        self._requests: dict[tuple[str, str, str], Any] = {}
        """The judge request of each (suite, case id, metric), kept for re-judging the baseline."""
        self.rubrics: dict[str, Any] = {}
        self.judge_missing: list[str] = []
        """Replay mode: `suite::case_id (rubric)` of judge calls not in the cache."""
        self.budget_exhausted = False
        self.unjudged_by_deadline = 0
        """Judge calls the run's deadline left unmade or cut off (their verdicts are judge errors)."""
        self.budget_usd_exhausted = False
        self._pending: list[tuple[str, str, int | None, Future[JudgeVerdict]]] = []
        self.judge_stats: dict[str, RubricStats] = {}
        self.results: RunResults | None = None
        self.written: list[Path] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        """Lines for the terminal summary that are neither warnings nor verdicts (batch mode)."""
        self.judge_price: str | None = None
        """Where the judge's prices came from (set when the engine starts)."""
        self.rejudged: dict[str, dict[str, Any]] = {}
        """Per suite re-judged with `--llm-gate-rejudge-baseline`: `note`, `metrics` (names) and
        `values` (case id -> metric -> the baseline output's value under this run's judge, or None)."""
        # concurrent SUT calls, repeats, outputs from a file
        self.sut_specs: dict[str, Any] = {}
        """Per suite: the marker's `sut=` (a callable, or the name of a fixture returning one)."""
        self.outputs_file: OutputsFile | None = (
            load_outputs(settings.outputs_path) if settings.outputs_path is not None else None
        )
        self._sut_runner: SutRunner | None = None
        self._sut_fns: dict[str, Any] = {}
        self._sut_all_submitted: set[str] = set()
        self.warmup = Warmup()
        """The end of the session's imports, run while the tests wait (`session.warmup`)."""
        self._ahead_seen: dict[str, set[int]] = {}
        """On an xdist worker, per suite: the queued item indices already submitted ahead."""
        self._item_calls: dict[str, list[SutCall]] = {}
        self.problems: list[str] = []
        """Usage errors found at collection (golden sets, markers, baselines): exit 4 before any test."""
        self.errored: dict[str, str] = {}
        """`suite::case_id` of cases that errored outside their checks (setup or test body), to the error."""
        self.interrupted = False
        self.stopped: str | None = None
        """Why the session ended without a gate (interrupt, usage error): the one line to print."""
        # results streamed to disk
        self.spill = CaseSpill()
        """Finished cases' outputs and details, out of memory until the files at the end read them back."""

    # -- collection -------------------------------------------------------------------------
