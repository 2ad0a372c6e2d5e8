"""`llmgate validate`: collect the gated suites without running a test and check every input file.

The checks are those of `pytest --llm-gate` itself (`validate.py`, the plugin's collection);
this module only drives a collect-only session and adds each suite's baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


class _ValidateSession:
    """Plugin for `llmgate validate`: after collection, check each suite's baseline and say what was checked."""

    def __init__(self) -> None:
        self.summary: str | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: Any) -> None:
        """Runs before the plugin's own hook, which raises every problem at once (exit 4)."""
        from pytest_llmgate.gate.baseline import BaselineError, load_baseline
        from pytest_llmgate.plugin import run_key

        run = session.config.stash.get(run_key, None)
        if run is None:
            return
        baselines = 0
        for suite in sorted(run.suites):
            try:
                found = load_baseline(run.baseline_file(suite))
            except BaselineError as exc:
                if str(exc) not in run.problems:
                    run.problems.append(str(exc))
                continue
            baselines += found is not None
        if run.problems:
            return
        settings = run.settings
        labels = len(list(settings.labels_dir.glob("*.jsonl"))) if settings.labels_dir.is_dir() else 0
        rubrics = len(_rubric_names(settings.rubrics_dir))
        cases = sum(len(ids) for ids in run.dataset_ids.values())
        self.summary = (
            f"llmgate validate: no problem in {len(run.suites)} golden set(s) ({cases} cases), {rubrics} rubric(s), "
            f"{labels} labels file(s), {baselines} baseline(s)."
        ) + "".join(f"\nnote: {note}" for note in run.notes)


def _rubric_names(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")]


def validate_project(pytest_args: list[str]) -> int:
    """`llmgate validate`: collect the gated suites without running a test; 0 when every file is valid, else 4.

    Golden sets, golden markers, rubrics, labels, `llm_gate_min_agreement` names and baselines
    go through the same checks as `pytest --llm-gate`; problems are printed as `ERROR: ...` lines.
    """
    plugin = _ValidateSession()
    args = ["--llm-gate", "--collect-only", "-p", "no:terminal", "-p", "no:cacheprovider", *pytest_args]
    code = pytest.main(args, plugins=[plugin])
    if code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and plugin.summary is not None:
        print(plugin.summary)
        return 0
    if code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        print("llmgate validate: no golden suite found; rubrics and labels are valid.")
        return 0
    if code != pytest.ExitCode.USAGE_ERROR:
        print(f"llmgate validate: collecting the tests failed (pytest exit {int(code)}); run `pytest --collect-only`.")
    return int(pytest.ExitCode.USAGE_ERROR)
