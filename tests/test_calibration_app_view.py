"""What a labeler sees: the answer the judge saw (the rest of the output folded), the rubric's
criteria and what each scale point means, and a count of labeled outputs without stale labels."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_calibration_support import SUITE, make_results, output_hash

from pytest_llmgate.calibration.app import LabelSession, make_server, server_url
from pytest_llmgate.calibration.labels import Label, append_label
from pytest_llmgate.calibration.scales import load_rubric_info

RUBRIC = """name: quality
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: |
  Is the answer correct and complete?
  5: every fact right, nothing missing.
  3: partly right.
  1: wrong or no answer.
"""


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def test_the_page_shows_the_answer_the_criteria_and_counts_only_current_labels(tmp_path: Path, page: Page) -> None:
    outputs = [
        {
            "answer": f"Refunds take {i} days.",
            "retrieved_ids": [f"doc-{i}", "doc-99"],
            "tool_calls": [{"name": "lookup"}],
        }
        for i in range(4)
    ]
    results = make_results("quality", "pointwise", [0.0, 0.25, 0.5, 0.75], outputs=outputs)
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics/quality.yaml").write_text(RUBRIC, encoding="utf-8")
    info = load_rubric_info("quality", tmp_path / "rubrics")
    labels = tmp_path / "quality.jsonl"
    current = output_hash(outputs[0])
    for case_id, digest in (("case-000", current), ("case-001", "0" * 64), ("case-002", "1" * 64)):
        append_label(
            labels, Label(suite=SUITE, case_id=case_id, rubric="quality", label=3, labeler="ann", output_hash=digest)
        )
    session = LabelSession.create(results, info, labels, "bob")
    assert (session.already_labeled, session.stale) == (1, 2)
    server = make_server(session, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(server_url(server))
        expect(page.locator("#progress")).to_contain_text(
            "0 labeled this session, 1 earlier, 3 to go (2 stale labels of older outputs not counted)"
        )
        shown = page.locator("#outputs pre.output").first.inner_text()
        assert shown.startswith("Refunds take ") and shown.endswith(" days.")
        assert "retrieved_ids" not in shown and "tool_calls" not in shown
        rest = page.locator("#outputs details.output-rest").first
        assert rest.get_attribute("open") is None  # folded
        assert "doc-99" in rest.locator("pre").text_content() and "lookup" in rest.locator("pre").text_content()
        assert "Is the answer correct and complete?" in page.locator("#criteria").inner_text()
        points = page.locator("#points").inner_text().split("\n")
        assert points[:2] == ["5", "every fact right, nothing missing."]
        assert "4" in points and "lowest on the scale" not in points and "wrong or no answer." in points
    finally:
        server.shutdown()
        server.server_close()
