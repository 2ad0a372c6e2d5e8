"""The history page and the report's sparklines render offline in headless Chromium, and a commit
message carrying markup stays text (it must not run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_project import GATE, accept, make_project

from pytest_llmgate.cli import main

pytest.importorskip("playwright")

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture
def page(browser) -> Iterator:  # noqa: ANN001  (the module-scoped browser of conftest.py)
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.requests = []  # type: ignore[attr-defined]
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    context.close()


@pytest.fixture
def reports(pytester: pytest.Pytester) -> tuple[Path, list[str]]:
    """A repository whose baseline commits carry a hostile message; the gated run's reports."""
    make_project(pytester)
    commits = [accept(pytester, q, message) for q, message in ((0.9, "first"), (0.88, HOSTILE), (0.86, "third"))]
    result = pytester.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()
    return pytester.path / "reports", commits


def _open(page, path: Path) -> None:  # noqa: ANN001
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def test_history_page_renders_offline_with_escaped_commit_messages(page, reports) -> None:  # noqa: ANN001
    folder, commits = reports
    path = folder / "llm-gate-history.html"
    assert path.is_file()
    _open(page, path)
    assert page.evaluate("window.__pwned") is None
    section = page.locator("section.metric[data-metric='quality']")
    assert section.count() == 1
    # One point per accepted value, each titled with its commit and message (as text).
    dots = section.locator("svg.spark circle.dot")
    assert dots.count() == 3
    titles = [dots.nth(i).locator("title").text_content() for i in range(3)]
    assert [commit[:7] in title for commit, title in zip(commits, titles, strict=True)] == [True] * 3
    assert HOSTILE in (titles[1] or "")
    assert section.locator("svg.spark polyline").get_attribute("points")
    subjects = section.locator("td.subject").all_text_contents()
    assert HOSTILE in subjects  # shown as the text it is
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    box = section.locator("svg.spark").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    drift = page.locator("[data-role=drift]").text_content() or ""
    assert "quality fell 0.040 over 2 accepted updates" in drift
    assert all(url.startswith("file:") for url in page.requests), page.requests
    assert page.errors == []


def test_report_sparklines_link_to_the_history_page(page, reports) -> None:  # noqa: ANN001
    folder, commits = reports
    _open(page, folder / "llm-gate.html")
    assert page.evaluate("window.__pwned") is None
    trend = page.locator("table[data-role=trend]")
    assert trend.count() == 1
    rows = trend.locator("tbody tr")
    assert rows.count() == 2  # checks_passed and quality, the primary metrics
    quality = rows.filter(has_text="quality")
    spark = quality.locator("svg.spark")
    assert spark.locator("circle.dot").count() == 4  # three accepted values, then this run
    assert spark.locator("circle.now").count() == 1
    assert HOSTILE in (spark.locator("circle.dot").nth(1).locator("title").text_content() or "")
    box = spark.bounding_box()
    assert box is not None and box["width"] > 50
    cells = quality.locator("td").all_text_contents()
    assert cells[2] == "0.860" and cells[3] == "0.860" and "-0.040" in cells[4]
    link = page.locator("[data-role=history-link] a")
    assert link.get_attribute("href") == "llm-gate-history.html"
    link.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("llm-gate-history.html")
    assert page.locator("h1").text_content() == "Baseline history"
    assert page.evaluate("window.__pwned") is None
    assert all(url.startswith("file:") for url in page.requests), page.requests
    assert page.errors == []


def test_llmgate_history_writes_the_page(pytester: pytest.Pytester, page) -> None:  # noqa: ANN001
    make_project(pytester)
    accept(pytester, 0.9, HOSTILE)
    out = pytester.path / "history.html"
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(pytester.path)
        result = runner.invoke(main, ["history", "--html", str(out)])
    assert result.exit_code == 0, result.output
    _open(page, out)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("section.metric").count() == 2
    assert HOSTILE in page.locator("td.subject").all_text_contents()
    assert page.errors == []
