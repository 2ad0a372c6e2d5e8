"""The markdown summary: verdict, metric table, newly failing ids; inert to hostile strings."""

from __future__ import annotations

from test_report_data import SUITE, make_results

from pytest_llmgate.gate.records import CaseChange
from pytest_llmgate.report.markdown import (
    MAX_CASE_IDS,
    append_github_step_summary,
    md_escape,
    render_markdown,
    write_markdown,
)


def test_summary_has_verdict_table_and_newly_failing_ids():
    text = render_markdown(make_results(), report_path="reports/llm-gate.html")
    lines = text.splitlines()
    assert lines[0] == "## ❌ LLM gate: FAIL"
    assert "- judge:correctness dropped by 0.090 in evals/test\\_support.py::test\\_answer (p=0.036)." in lines
    assert "**Remedy:** Fix the regression, or re-run with --llm-gate-update to accept the new scores." in lines
    assert "Run 2025-05-01T12:00:00Z · commit 0123abcd (dirty) · judge offline:overlap · 42.5 s" in lines
    assert "| judge:correctness | 11 | 0.500 | 0.410 | −0.090 | −0.200 … −0.010 | 0.036 | **fail** |" in lines
    assert "| checks\\_passed | 12 | 0.833 | 0.750 | −0.083 | −0.250 … +0.050 | 0.500 | inconclusive |" in lines
    assert "**Newly failing (2):** refund-001, refund-007" in lines
    assert "Known failing: 0 · fixed: 2" in text
    assert "- ❌ No baseline for this suite. Re-run with --llm-gate-update to create it." in lines
    assert "Full report: [reports/llm-gate.html](reports/llm-gate.html)" in lines
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_passing_summary_has_no_reasons():
    text = render_markdown(make_results(failing=False))
    assert text.startswith("## ✅ LLM gate: PASS\n")
    assert "Remedy" not in text and "Newly failing" not in text


def test_newly_failing_ids_are_capped():
    results = make_results()
    verdict = results.verdicts[0]
    verdict.cases = [
        CaseChange(suite=SUITE, case_id=f"c{i}", nodeid=f"x[c{i}]", kind="newly_failing")
        for i in range(MAX_CASE_IDS + 7)
    ]
    text = render_markdown(results)
    assert f"**Newly failing ({MAX_CASE_IDS + 7}):**" in text
    assert f"c{MAX_CASE_IDS - 1} and 7 more" in text
    assert f"c{MAX_CASE_IDS}," not in text


def test_hostile_strings_are_inert():
    assert md_escape("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md_escape("a|b [x](javascript:alert(1)) `c` *d*") == "a\\|b \\[x\\](javascript:alert(1)) \\`c\\` \\*d\\*"
    assert md_escape("line1\nline2\r\n| cell") == "line1 line2 \\| cell"
    assert md_escape("\u202eevil") == "U+202Eevil"
    assert md_escape("x" * 500, limit=10) == "x" * 9 + "…"
    results = make_results()
    results.verdicts[0].cases = [
        CaseChange(suite=SUITE, case_id="<img src=x onerror=alert(1)>|", nodeid="n", kind="newly_failing")
    ]
    text = render_markdown(results)
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;\\|" in text


def test_write_and_append_step_summary(tmp_path, monkeypatch):
    results = make_results()
    path = write_markdown(results, tmp_path / "out" / "summary.md")
    assert path.read_text(encoding="utf-8") == render_markdown(results)
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_github_step_summary("# hi") is None
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_github_step_summary("# hi") == summary
    assert append_github_step_summary("second\n") == summary
    assert summary.read_text(encoding="utf-8") == "earlier step\n# hi\nsecond\n"
