"""The pandas analysis API: frames that match the results file value for value, the history from
git as a frame, and a gated session (in a repository with history) that still imports no pandas."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
from history_project import GATE, SUITE, accept, make_project, write_conf

from pytest_llmgate.analysis import cases_df, history_df, metrics_df

CONFTEST = """
import sys


def pytest_unconfigure(config):
    with open("imported.txt", "w", encoding="utf-8") as f:
        f.write(" ".join(sorted(m for m in ("pandas", "scipy.stats") if m in sys.modules)))
"""


@pytest.fixture
def two_runs(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two results files of one project: the run that wrote the baseline, and a later one that differs."""
    make_project(pytester, repo=False)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    shutil.copy(pytester.path / "reports/llm-gate.json", pytester.path / "first.json")
    write_conf(pytester.path, 0.75)
    pytester.runpytest(*GATE)
    return pytester


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if a is None and isinstance(b, float) and math.isnan(b):
        return True
    return a == b


def test_cases_df_matches_the_results_file_value_for_value(two_runs: pytest.Pytester) -> None:
    path = two_runs.path / "reports/llm-gate.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    expected = sorted(
        (suite_id, case_id, metric, value, case["passed"], case["nodeid"])
        for suite_id, suite in raw["suites"].items()
        for case_id, case in suite["cases"].items()
        for metric, value in case["metrics"].items()
    )
    frame = cases_df(path)
    assert list(frame.columns)[:8] == [
        "run",
        "created_at",
        "git_commit",
        "suite",
        "case_id",
        "nodeid",
        "metric",
        "value",
    ]
    got = sorted(
        zip(
            frame["suite"],
            frame["case_id"],
            frame["metric"],
            frame["value"],
            frame["passed"],
            frame["nodeid"],
            strict=True,
        )
    )
    assert got == expected and len(frame) == 20 * 2  # 20 cases, checks_passed and quality
    assert set(frame.loc[frame["metric"] == "quality", "value"]) == {0.75}
    assert frame["run"].unique().tolist() == [str(path)]
    # Several runs in one frame, told apart by `run`.
    both = cases_df([two_runs.path / "first.json", path])
    assert len(both) == 80
    means = both[both["metric"] == "quality"].groupby("run")["value"].mean()
    assert means[str(two_runs.path / "first.json")] == pytest.approx(0.9) and means[str(path)] == pytest.approx(0.75)
    tags = frame.loc[frame["case_id"] == "q-1", "tags"].iloc[0]
    assert tags == ["refund"]


def test_metrics_df_matches_the_verdicts_value_for_value(two_runs: pytest.Pytester) -> None:
    path = two_runs.path / "reports/llm-gate.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    frame = metrics_df(path)
    expected = [(verdict["suite"], None, m) for verdict in raw["verdicts"] for m in verdict["metrics"]] + [
        (verdict["suite"], s["tag"], m) for verdict in raw["verdicts"] for s in verdict["slices"] for m in s["metrics"]
    ]
    assert len(frame) == len(expected)
    for suite_id, tag, metric in expected:
        sel = frame[(frame["suite"] == suite_id) & (frame["metric"] == metric["metric"])]
        sel = sel[sel["slice"].isna()] if tag is None else sel[sel["slice"] == tag]
        assert len(sel) == 1
        row = sel.iloc[0]
        for key in (
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
            "primary",
            "mde",
        ):
            assert _same(metric[key], row[key] if not isinstance(row[key], float) else float(row[key])), key
    quality = frame[(frame["metric"] == "quality") & frame["slice"].isna()].iloc[0]
    assert quality["suite"] == SUITE and quality["diff"] == pytest.approx(-0.15) and quality["status"] == "fail"


def test_history_df_has_a_row_per_commit_suite_and_metric(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    commits = [accept(pytester, q, f"quality {q}") for q in (0.9, 0.88, 0.86)]
    frame = history_df(pytester.path)
    quality = frame[frame["metric"] == "quality"]
    assert quality["commit"].tolist() == commits
    assert quality["value"].tolist() == [0.9, 0.88, 0.86]
    assert quality["change"].iloc[1:].tolist() == [-0.02, -0.02]
    assert set(frame["metric"]) == {"checks_passed", "quality"} and set(frame["suite"]) == {SUITE}
    assert len(frame) == 3 * 2
    assert isinstance(frame["date"].dtype, pd.DatetimeTZDtype)
    assert frame["author"].unique().tolist() == ["Ada Lovelace <ada@example.com>"]


def test_a_gated_session_with_history_imports_no_pandas(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    accept(pytester, 0.9, "first")
    accept(pytester, 0.88, "second")
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess(*GATE)
    assert result.ret == 0, result.stdout.str()
    results = json.loads((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    assert results["history"]["commits"] == 2  # the history was read ...
    assert (pytester.path / "imported.txt").read_text(encoding="utf-8") == ""  # ... without pandas
