"""Reports under the v2 gate: the case table's primary columns and named worst change, old
results files that say UNDERPOWERED, INCONCLUSIVE everywhere."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from test_plan import _results

from pytest_llmgate._files import dumps
from pytest_llmgate.cli import main
from pytest_llmgate.report.commands import load_results
from pytest_llmgate.report.html import TEMPLATES, build_case_data, render_html_string
from pytest_llmgate.report.markdown import render_markdown
from pytest_llmgate.report.terminal import render


def test_case_table_has_a_column_per_primary_metric_and_names_the_worst_change() -> None:
    results = _results()
    data = build_case_data(results)
    assert data["primary"] == ["judge:correctness"]
    worse = [c for c in data["cases"] if c["worst"] is not None and c["worst"] < 0]
    assert worse and all(c["wm"] == "judge:correctness" for c in worse)
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    assert "DATA.primary" in script and "c.wm" in script
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    assert "table.cases td.id { white-space: nowrap; overflow-wrap: normal; word-break: keep-all; }" in css


def test_secondary_metrics_are_folded_below_the_primaries(tmp_path: Path) -> None:
    from pytest_llmgate.gate.records import MetricSpec
    from pytest_llmgate.gate.verdict import evaluate

    results = _results()
    suite, baseline = results.suites["t.py::t"], results.baselines["t.py::t"]
    assert baseline is not None
    suite.metrics["zz_latency"] = baseline.metrics["zz_latency"] = MetricSpec(name="zz_latency", higher_is_better=False)
    for i, case_id in enumerate(suite.cases):
        suite.cases[case_id].metrics["zz_latency"] = baseline.cases[case_id].metrics["zz_latency"] = float(i)
    results = evaluate(results)
    rows = {m.metric: m.primary for m in results.verdicts[0].metrics}
    assert rows == {"judge:correctness": True, "zz_latency": False}
    html = render_html_string(results)
    folded = html.index("secondary metric(s): reported with their intervals, not gated")
    assert html.index("judge:correctness") < folded < html.index("zz_latency")
    text = render(results)
    assert (
        text.index("judge:correctness")
        < text.index("secondary metrics (reported, not gated)")
        < text.index("zz_latency")
    )
    assert "secondary metric(s), reported, not gated" in render_markdown(results)


def test_old_results_that_say_underpowered_still_load_report_and_merge(tmp_path: Path) -> None:
    data = json.loads(dumps(_results().model_dump(mode="json")))
    data["gate"] = {"status": "UNDERPOWERED", "passed": True, "reasons": ["too few cases"], "remedy": None}
    data["verdicts"][0]["metrics"][0]["status"] = "underpowered"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_results(path)
    assert loaded.gate.status == "INCONCLUSIVE"
    assert loaded.verdicts[0].metrics[0].status == "inconclusive"
    runner = CliRunner()
    report = runner.invoke(
        main, ["report", str(path), "-o", str(tmp_path / "old.html"), "--markdown", str(tmp_path / "old.md")]
    )
    assert report.exit_code == 0, report.output
    assert "INCONCLUSIVE" in (tmp_path / "old.html").read_text(encoding="utf-8")
    assert "⚠️ LLM gate: INCONCLUSIVE" in (tmp_path / "old.md").read_text(encoding="utf-8")
    merged = runner.invoke(
        main, ["merge", str(path), "-o", str(tmp_path / "m.json"), "--html", str(tmp_path / "m.html")]
    )
    assert merged.exit_code in (0, 1), merged.output
    assert "UNDERPOWERED" not in (tmp_path / "m.json").read_text(encoding="utf-8")
