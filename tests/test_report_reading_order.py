"""Reports put what the user chose to gate first: the terminal and the HTML report list gated
slices first, then the worst, and fold the rest; a pointwise answer shows as its point on the
rubric's scale beside the normalised metric, with the rule explained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_llmgate.gate.records import CaseResult, GateResult, JudgeCall, JudgeVerdict, RunResults, SuiteResult
from pytest_llmgate.report.html import render_html

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")

TEST_FILE = """
import os

import pytest


@pytest.mark.golden("datasets/t.jsonl", primary=["quality"], slices=["zz-ticket"])
def test_t(case, llm_gate):
    number = int(case.id.split("-")[1])
    quality = 0.5 + (number % 5) / 10
    if os.environ.get("BROKEN") == "1":
        quality += (number % 3 - 1) / 20  # noise: the small slices cannot tell
        quality -= 0.4 if "a-07" in case.tags else 0.0
    llm_gate.output({"answer": case.reference})
    llm_gate.score("quality", quality)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("BROKEN", raising=False)
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps(
            {
                "id": f"c-{i}",
                "input": f"question {i}",
                "reference": f"answer {i}",
                "tags": [f"a-{i % 40:02d}"] + (["zz-ticket"] if i < 60 else []),
            }
        )
        for i in range(160)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pytester.makepyfile(test_t=TEST_FILE)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    monkeypatch.setenv("BROKEN", "1")
    return pytester


def test_the_terminal_lists_gated_slices_then_the_worst_and_folds_the_rest(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("slices (41 tags"))
    assert "gated slices first (1), then the worst" in lines[start]
    folded = re.search(r"(\d+) more row\(s\) folded", lines[start])
    assert folded is not None, lines[start]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("  ") or not line.strip():
            break
        rows.append(line.split()[0])
    assert rows[0] == "zz-ticket", rows  # the gated slice, although it sorts last
    assert rows[1] == "a-07", rows  # the worst: the slice that dropped
    assert len(rows) == 30 and len(rows) + int(folded.group(1)) == 41


def test_the_html_report_shows_gated_and_worst_slices_and_folds_the_rest(project: pytest.Pytester) -> None:
    project.runpytest(*GATE)
    html = (project.path / "reports/llm-gate.html").read_text(encoding="utf-8")
    section = html.split('<details class="slices" open>', 1)[1]
    open_part, folded_part = section.split('<details class="slices-folded">', 1)
    shown = re.findall(r"<td><strong>([^<]+)</strong>", open_part)
    assert shown[:2] == ["zz-ticket", "a-07"], shown
    assert len(shown) == 20
    folded = re.findall(r"<td><strong>([^<]+)</strong>", folded_part.split("</details>", 1)[0])
    assert len(folded) == 21 and "zz-ticket" not in folded
    assert "21 more slice row(s)" in folded_part


def test_a_pointwise_answer_shows_as_its_scale_point_beside_the_metric(browser, tmp_path: Path) -> None:
    verdict = JudgeVerdict(
        rubric="correctness",
        rubric_version="1",
        kind="pointwise",
        metric="judge:correctness",
        value=0.0,
        label="1/5",
        provider="openai-compatible:judge",
        calls=[JudgeCall(order="forward", score=1.0, reason="Wrong fact.")],
    )
    case = CaseResult(
        case_id="q-1",
        nodeid="test_qa.py::test_qa[q-1]",
        case={"id": "q-1", "input": "question"},
        output={"answer": "no"},
        metrics={"judge:correctness": 0.0},
        judge=[verdict],
    )
    results = RunResults(
        plugin_version="x",
        created_at="2026-01-01T00:00:00+00:00",
        suites={"test_qa.py::test_qa": SuiteResult(suite="test_qa.py::test_qa", dataset="d", cases={"q-1": case})},
        gate=GateResult(status="PASS", passed=True),
    )
    path = render_html(results, tmp_path / "r.html")
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    page.locator("#cases-body tr", has_text="q-1").click()
    text = page.locator("#detail [data-role='verdict']").inner_text()
    assert "judge:correctness = 0.000 (answer 1/5 on the rubric's scale)" in text
    assert re.search(r"forward\s+1/5\s+Wrong fact\.", text), text
    assert "1.000" not in text
    assert "1 on 1–5 is 0.000" in page.locator("#detail").inner_text()
    page.close()


def test_the_markdown_summary_lists_the_gated_slice_then_the_worst(project: pytest.Pytester) -> None:
    project.runpytest(*GATE)
    markdown = (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")
    table = markdown.split("Slices (tags) that are gated or not shown non-inferior:", 1)[1]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:3] == ["zz-ticket (gated)", "a-07"], rows  # after the header row: gated, then the worst


def test_a_slice_heading_with_every_row_folded_says_so() -> None:
    from pytest_llmgate.gate.records import MetricVerdict, SliceVerdict
    from pytest_llmgate.report.slices import order_slices, slices_heading

    metric = MetricVerdict(
        suite="s",
        metric="m",
        kind="binary",
        higher_is_better=True,
        n_paired=5,
        tolerance=0.03,
        alpha=0.05,
        status="pass",
    )
    slices = [SliceVerdict(tag=tag, n_cases=5, metrics=[metric]) for tag in ("a", "b")]
    rows = order_slices(slices, 30)
    assert not rows.shown
    assert (
        slices_heading(slices, rows)
        == "  slices (2 tags): every row passes or is new; 2 row(s) folded (see the report)."
    )
