"""Results and history as pandas DataFrames, for a notebook: tidy frames, one row per observation.

- `cases_df(results)`: one row per run, suite, case and metric (the case's value in that run).
- `metrics_df(results)`: one row per run, suite, slice and metric (the gate's paired verdict).
- `history_df(repo)`: one row per commit, suite and metric (the accepted baseline values, from git).

`results` is a `RunResults`, a results file's path, or a list of either (several runs, one frame).
pandas is imported when a frame is built, never by a gated run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmgate.gate.records import RunResults

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["cases_df", "history_df", "metrics_df"]

Source = RunResults | str | Path


def _runs(results: Source | Iterable[Source]) -> list[tuple[str, RunResults]]:
    """(label, results) per run; the label is the file's path, or the run's creation time."""
    from pytest_llmgate.report.commands import load_results

    items = [results] if isinstance(results, RunResults | str | Path) else list(results)
    runs = []
    for item in items:
        if isinstance(item, RunResults):
            runs.append((item.created_at, item))
        else:
            runs.append((str(item), load_results(Path(item))))
    return runs


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


CASE_COLUMNS = ["run", "created_at", "git_commit", "suite", "case_id", "nodeid", "metric", "value", "passed", "tags"]


def cases_df(results: Source | Iterable[Source]) -> pd.DataFrame:
    """One row per run, suite, case and metric: the value the case recorded, and whether its checks passed."""
    rows = []
    for label, run in _runs(results):
        for suite_id, suite in sorted(run.suites.items()):
            for case_id, case in sorted(suite.cases.items()):
                tags = case.case_fields().get("tags") or []
                for metric, value in sorted(case.metrics.items()):
                    rows.append(
                        {
                            "run": label,
                            "created_at": run.created_at,
                            "git_commit": run.git_commit,
                            "suite": suite_id,
                            "case_id": case_id,
                            "nodeid": case.nodeid,
                            "metric": metric,
                            "value": value,
                            "passed": case.passed,
                            "tags": list(tags),
                        }
                    )
    return _frame(rows, CASE_COLUMNS)


METRIC_COLUMNS = [
    "run",
    "created_at",
    "git_commit",
    "suite",
    "slice",
    "metric",
    "primary",
    "status",
    "n_paired",
    "baseline_mean",
    "current_mean",
    "diff",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "tolerance",
    "alpha",
    "mde",
]


def metrics_df(results: Source | Iterable[Source]) -> pd.DataFrame:
    """One row per run, suite, slice (None: the whole suite) and metric: the gate's paired verdict."""
    rows = []
    for label, run in _runs(results):
        for verdict in run.verdicts:
            groups = [(None, verdict.metrics)] + [(s.tag, s.metrics) for s in verdict.slices]
            for tag, metrics in groups:
                for m in metrics:
                    row = {"run": label, "created_at": run.created_at, "git_commit": run.git_commit, "slice": tag}
                    row.update({key: getattr(m, key) for key in METRIC_COLUMNS if hasattr(m, key)})
                    rows.append(row)
    return _frame(rows, METRIC_COLUMNS)


HISTORY_COLUMNS = [
    "commit",
    "date",
    "author",
    "subject",
    "suite",
    "metric",
    "value",
    "n",
    "change",
    "primary",
    "tolerance",
    "path",
]


def history_df(
    repo: str | Path = ".", baseline_dir: str | Path = "baselines", *, since: str | None = None
) -> pd.DataFrame:
    """One row per commit, suite and metric: every accepted baseline value in the repository's git history.

    `date` is a timezone-aware timestamp (empty for an uncommitted baseline); `change` is the value
    minus the previous accepted one. Raises `gate.history.HistoryError` outside git.
    """
    import pandas as pd

    from pytest_llmgate.gate.history import read_history

    found = read_history(Path(repo), Path(baseline_dir), since=since)
    rows = [
        {
            "commit": point.commit,
            "date": point.date or None,
            "author": point.author,
            "subject": point.subject,
            "suite": series.suite,
            "metric": series.metric,
            "value": point.value,
            "n": point.n,
            "change": point.change,
            "primary": series.primary,
            "tolerance": series.tolerance,
            "path": series.path,
        }
        for series in found.metrics
        for point in series.points
    ]
    frame = _frame(rows, HISTORY_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame
