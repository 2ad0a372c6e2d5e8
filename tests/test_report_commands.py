"""`llmgate report`: re-rendering from results files, with clear errors for bad ones."""

from __future__ import annotations

import json

from click.testing import CliRunner
from test_report_data import make_results

from pytest_llmgate.report.commands import report
from pytest_llmgate.report.markdown import render_markdown


def _write(path, results):
    path.write_text(json.dumps(results.model_dump(mode="json"), sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return path


def test_report_renders_html_next_to_results(tmp_path):
    results_file = _write(tmp_path / "llm-gate.json", make_results())
    result = CliRunner().invoke(report, [str(results_file)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "llm-gate.html").read_text(encoding="utf-8")
    assert '<span class="badge status-fail" id="gate-status">FAIL</span>' in html
    assert result.output == f"Report written to {tmp_path / 'llm-gate.html'}\n"


def test_report_with_compare_output_and_markdown(tmp_path):
    now = _write(tmp_path / "now.json", make_results())
    before_results = make_results(failing=False)
    before_results.created_at = "2025-04-01T08:00:00Z"
    before = _write(tmp_path / "before.json", before_results)
    out, md = tmp_path / "site" / "r.html", tmp_path / "site" / "r.md"
    result = CliRunner().invoke(report, [str(now), "--compare", str(before), "-o", str(out), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    assert "Compared with the run of <strong>2025-04-01T08:00:00Z</strong>" in out.read_text(encoding="utf-8")
    assert md.read_text(encoding="utf-8") == render_markdown(make_results(), report_path="r.html")
    assert str(tmp_path) not in md.read_text(encoding="utf-8")


def test_markdown_links_are_relative_to_the_markdown_file(tmp_path):
    now = _write(tmp_path / "now.json", make_results())
    out, md = tmp_path / "site" / "r.html", tmp_path / "notes" / "pr" / "r.md"
    result = CliRunner().invoke(report, [str(now), "-o", str(out), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    text = md.read_text(encoding="utf-8")
    assert "Full report: [../../site/r.html](../../site/r.html)" in text
    assert str(tmp_path) not in text


def test_bad_files_name_the_file(tmp_path):
    runner = CliRunner()
    missing = tmp_path / "nope.json"
    result = runner.invoke(report, [str(missing)])
    assert result.exit_code == 1
    assert f"Cannot read results file '{missing}'" in result.output

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = runner.invoke(report, [str(broken)])
    assert result.exit_code == 1
    assert f"Error: '{broken}' is not a valid llm-gate results file: " in result.output
    assert "Re-create it with `pytest --llm-gate`." in result.output

    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"plugin_version": "0.1.0", "created_at": "x"}), encoding="utf-8")
    result = runner.invoke(report, [str(incomplete)])
    assert "is not a valid llm-gate results file: gate: Field required." in result.output

    old = make_results()
    old.format_version = 99
    old_file = _write(tmp_path / "old.json", old)
    good = _write(tmp_path / "good.json", make_results())
    result = runner.invoke(report, [str(good), "--compare", str(old_file)])
    assert result.exit_code == 1
    assert f"'{old_file}' has results format 99, this plugin reads format 1." in result.output
    assert not (tmp_path / "good.html").exists()
