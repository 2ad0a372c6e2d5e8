"""The HTML report in Debian's headless Chromium: offline, interactive, and inert to hostile data."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_report_data import SUITE, make_results

from pytest_llmgate.gate.reasons import Reason
from pytest_llmgate.gate.records import CaseResult, JudgeCall, JudgeVerdict, SuiteResult
from pytest_llmgate.report import html as report_html
from pytest_llmgate.report.html import render_html, render_html_string

COMPRESSED_BLOCK = '<script type="application/octet-stream" id="llmgate-data" data-encoding="gzip+base64">'
PLAIN_BLOCK = '<script type="application/json" id="llmgate-data">'

# Records every CSP violation; init scripts run outside the page's CSP.
CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def png_pixels(png: bytes) -> tuple[int, int, int, bytes]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): width, height, channels, raw pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, up_left = prev[x], (prev[x - channels] if x >= channels else 0)
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[x] = (line[x] + predictor) & 0xFF
        out += line
        prev = line
    return width, height, channels, bytes(out)


@pytest.fixture
def open_report(browser, tmp_path):
    """Open a rendered report from file:// and record every request the page makes."""
    contexts = []

    def _open(
        html_path: Path, *, color_scheme: str = "light", viewport=(1280, 900), ready: str = "1", init_script: str = ""
    ):
        context = browser.new_context(color_scheme=color_scheme, viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        requests: list[str] = []
        errors: list[str] = []

        def route(r):
            requests.append(r.request.url)
            if r.request.url == html_path.as_uri():
                r.continue_()
            else:
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.add_init_script(CSP_PROBE + init_script)
        page.goto(html_path.as_uri())
        page.wait_for_selector(f"body[data-ready='{ready}']", timeout=10_000)
        page.requests = requests  # type: ignore[attr-defined]
        page.errors = errors  # type: ignore[attr-defined]
        return page

    yield _open
    for context in contexts:
        context.close()


def case_ids(page) -> list[str]:
    return page.locator("#cases-body td.id").all_inner_texts()


def count_text(page) -> str:
    return page.locator("#f-count").inner_text()


@pytest.fixture(params=["plain", "gzip"])
def encoding(request, monkeypatch):
    """Render reports with plain JSON case data, or with every report's case data compressed."""
    monkeypatch.setattr(report_html, "COMPRESS_ABOVE", 10**12 if request.param == "plain" else 0)
    return request.param


def test_report_is_offline_and_the_table_works(open_report, tmp_path, encoding):
    path = render_html(make_results(), tmp_path / "report.html")
    assert (COMPRESSED_BLOCK if encoding == "gzip" else PLAIN_BLOCK) in path.read_text(encoding="utf-8")
    page = open_report(path)
    assert page.locator("#gate-status").inner_text() == "FAIL"
    assert "judge:correctness dropped by 0.090" in page.locator("header").inner_text()
    assert "0123abcd (dirty)" in page.locator("header").inner_text()
    assert count_text(page) == "16 of 16 cases"

    page.select_option("#f-status", "newly_failing")
    assert count_text(page) == "2 of 16 cases"
    assert case_ids(page) == ["refund-001", "refund-007"]
    page.select_option("#f-status", "judge_error")
    assert case_ids(page) == ["refund-002"]
    page.select_option("#f-status", "")

    page.fill("#f-search", "refund-01")
    expect(page.locator("#f-count")).to_have_text(re.compile(r"^2 of"))
    assert case_ids(page) == ["refund-010", "refund-011"]
    page.fill("#f-search", "how do refunds")  # matches the input text
    expect(page.locator("#f-count")).to_have_text(re.compile(r"^12 of"))
    page.fill("#f-search", "")
    expect(page.locator("#f-count")).to_have_text(re.compile(r"^16 of"))

    page.select_option("#f-suite", SUITE)
    assert count_text(page) == "12 of 16 cases"
    page.click("#cases-head th[data-key='id']")
    assert case_ids(page)[0] == "refund-000"
    page.click("#cases-head th[data-key='id']")
    assert case_ids(page)[0] == "refund-011"
    assert page.get_attribute("#cases-head th[data-key='id']", "aria-sort") == "descending"
    page.click("#cases-head th[data-key='worst']")
    assert case_ids(page)[:2] == ["refund-001", "refund-007"]  # the two worst (−1.000) first, stable

    assert page.errors == []
    assert page.evaluate("window.__csp") == []  # our own script and style match their hashes
    assert page.requests and set(page.requests) == {path.as_uri()}


def test_detail_view_shows_outputs_diff_checks_retrieval_and_judge(open_report, tmp_path):
    path = render_html(make_results(), tmp_path / "report.html")
    page = open_report(path)
    page.locator("#cases-body tr", has_text="refund-001").click()
    detail = page.locator("#detail")
    assert detail.is_visible()
    assert page.locator("#detail-title").inner_text() == f"{SUITE} · refund-001"
    assert page.locator("#detail [data-role='input']").inner_text() == "Question 1: how do refunds work?"
    reference = "Refunds go back to the original payment method within 5 business days."
    assert page.locator("#detail [data-role='reference']").inner_text() == reference
    assert page.locator("#detail [data-role='output-before']").inner_text() == reference
    assert (
        page.locator("#detail [data-role='output-now']").inner_text() == reference[:-1] + ", but only within 14 days."
    )
    inserted = "".join(page.locator("#detail [data-role='output-now'] .ins").all_inner_texts())
    deleted = "".join(page.locator("#detail [data-role='output-before'] .del").all_inner_texts())
    # Minimal word diff: the common suffix "days." stays unmarked, nothing was deleted.
    assert deleted == ""
    assert inserted == "days, but only within 14 "
    page.select_option("#diff-mode", "lines")  # one line each: the whole line differs
    assert (
        page.locator("#detail [data-role='output-now'] .ins").inner_text()
        == reference[:-1] + ", but only within 14 days."
    )
    assert page.locator("#detail [data-role='failure']").inner_text() == "AssertionError: expected '30 days' in output"
    metrics = page.locator("#detail [data-role='case-metrics']").inner_text()
    assert re.search(r"checks_passed\s+1\.000\s+0\.000\s+−1\.000", metrics)
    retrieval = page.locator("#detail [data-role='retrieval']").inner_text()
    assert re.search(r"doc-1\s+1", retrieval) and re.search(r"doc-7\s+not retrieved", retrieval)
    verdict = page.locator("#detail [data-role='verdict']").inner_text()
    assert "forward: Answer contradicts the policy." in verdict
    assert "swapped: Answer contradicts the policy." in verdict
    assert "prefers B" in verdict and "prefers A" in verdict and "orders agree" in verdict
    page.click("#detail-close")
    assert not detail.is_visible()
    assert set(page.requests) == {path.as_uri()}


def test_corrupt_compressed_data_is_reported_on_the_page(open_report, tmp_path, monkeypatch):
    monkeypatch.setattr(report_html, "COMPRESS_ABOVE", 0)
    html = render_html_string(make_results())
    start = html.index(COMPRESSED_BLOCK) + len(COMPRESSED_BLOCK)
    path = tmp_path / "corrupt.html"
    path.write_text(html[:start] + "AAAAAAAA" + html[start + 8 :], encoding="utf-8")  # a broken gzip header
    page = open_report(path, ready="error")
    assert page.locator("#cases-body").inner_text().startswith("The case data could not be read (")
    assert page.errors == []
    assert set(page.requests) == {path.as_uri()}


def test_browser_without_decompression_stream_is_told_why(open_report, tmp_path, monkeypatch):
    monkeypatch.setattr(report_html, "COMPRESS_ABOVE", 0)
    path = render_html(make_results(), tmp_path / "report.html")
    page = open_report(path, ready="error", init_script="delete window.DecompressionStream;")
    assert page.locator("#cases-body").inner_text().startswith("This browser cannot decompress the case data")
    assert page.locator("#gate-status").inner_text() == "FAIL"  # the server-rendered part is all there
    assert page.errors == []


def test_paging_renders_only_one_page(open_report, tmp_path):
    path = render_html(make_results(n_cases=96), tmp_path / "report.html")
    page = open_report(path)
    assert page.locator("#cases-body tr").count() == 50
    assert page.locator("#p-info").inner_text() == "Page 1 of 2"
    page.click("#p-next")
    assert page.locator("#cases-body tr").count() == 50  # 100 cases: 96 + 4 rag
    assert page.is_disabled("#p-next")
    page.select_option("#p-size", "25")
    assert page.locator("#p-info").inner_text() == "Page 1 of 4"


def test_screenshot_is_not_blank_in_light_and_dark(open_report, tmp_path):
    path = render_html(make_results(), tmp_path / "report.html")
    for scheme, background in (("light", (255, 255, 255)), ("dark", (13, 17, 23))):
        page = open_report(path, color_scheme=scheme)
        width, height, channels, pixels = png_pixels(page.screenshot())
        assert (width, height) == (1280, 900)
        colours = {pixels[i : i + 3] for i in range(0, len(pixels), channels * 7)}
        assert len(colours) > 50, f"{scheme} screenshot looks blank: {len(colours)} colours"
        # The page background follows prefers-color-scheme (bottom-right pixel is page background).
        last = pixels[-channels:]
        assert tuple(last[:3]) == background
        svg_fill = page.evaluate("getComputedStyle(document.querySelector('svg .bar-now')).fill")
        assert svg_fill == ("rgb(47, 111, 222)" if scheme == "light" else "rgb(68, 147, 248)")


def test_compare_report_names_the_earlier_run(open_report, tmp_path):
    before = make_results(failing=False)
    before.created_at = "2025-04-01T08:00:00Z"
    path = render_html(make_results(), tmp_path / "report.html", compare=before)
    page = open_report(path)
    header = page.locator("header").inner_text()
    assert "Compared with the run of 2025-04-01T08:00:00Z" in header and "gate PASS" in header
    compare_table = page.locator("table.compare").first.inner_text()
    assert "Cases worse" in compare_table
    page.select_option("#f-status", "newly_failing")
    assert case_ids(page) == ["refund-001", "refund-007"]
    page.locator("#cases-body tr", has_text="refund-001").click()
    assert "Output before" in page.locator("#detail").inner_text()


# ------------------------------------------------------------------- hostile data

HOSTILE = [
    "<script>window.__pwned = 'script'</script>",
    "</script><script>window.__pwned = 'close'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    '"><svg onload="window.__pwned = \'svg\'">',
    "javascript:window.__pwned = 'js-url'",
    "{{ 7*7 }}",
    "{% raw %}{{ config }}{% endraw %}",
    "\u202eevil\u202c reversed",
    "<!-- comment --> & &amp; \u2028 \u2029",
]
HOSTILE_TEXT = "\n".join(HOSTILE)


def hostile_results():
    results = make_results()
    evil_suite = "evals/test_evil.py::" + HOSTILE[1]
    big = HOSTILE_TEXT + "\n" + ("lorem ipsum dolor sit amet " * 40_000)  # ~1 MB
    assert len(big) > 1_000_000
    case_id = "<img src=x onerror=\"window.__pwned = 'id'\">"
    verdict = JudgeVerdict(
        rubric=HOSTILE[0],
        rubric_version="1",
        kind="pointwise",
        metric="judge:" + HOSTILE[2],
        value=0.5,
        label=HOSTILE[4],
        consistent=False,
        provider=HOSTILE[3],
        calls=[
            JudgeCall(order="forward", score=1.0, reason=HOSTILE_TEXT),
            JudgeCall(order="swapped", score=0.0, reason=HOSTILE[4], error=HOSTILE[0]),
        ],
    )
    results.suites[evil_suite] = SuiteResult(
        suite=evil_suite,
        dataset=HOSTILE[2],
        cases={
            case_id: CaseResult(
                case_id=case_id,
                nodeid=HOSTILE[0],
                case={"input": HOSTILE_TEXT, "reference": HOSTILE[5], HOSTILE[2]: HOSTILE[4]},
                output=big,
                passed=False,
                failure=HOSTILE_TEXT,
                metrics={"judge:" + HOSTILE[2]: 0.5},
                details={
                    "retrieval": {"ranks": {HOSTILE[0]: 1, HOSTILE[4]: None}, "retrieved": [HOSTILE[0]]},
                    HOSTILE[3]: HOSTILE[1],
                },
                judge=[verdict],
            )
        },
    )
    results.gate.reasons.append(Reason(kind="regression", text=HOSTILE_TEXT, remedy=HOSTILE[4], suite=HOSTILE[0]))
    results.gate.remedy = HOSTILE[4]
    results.settings[HOSTILE[2]] = HOSTILE[1]
    results.calibration[HOSTILE[0]] = {
        "labels": [HOSTILE[2], HOSTILE[4]],
        "confusion": [[1, 2], [3, 4]],
        HOSTILE[3]: HOSTILE[1],
    }
    results.calibration["broken"] = HOSTILE[1]
    return results, evil_suite, case_id


@pytest.mark.parametrize("with_csp", [True, False], ids=["with-csp", "escaping-alone"])
def test_hostile_strings_render_as_text(open_report, tmp_path, with_csp, encoding):
    results, evil_suite, case_id = hostile_results()
    html = render_html_string(results)
    assert (COMPRESSED_BLOCK if encoding == "gzip" else PLAIN_BLOCK) in html
    if not with_csp:  # escaping must hold on its own; the CSP is only a second line
        html, removed = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
        assert removed == 1
    # Server-side: nothing of the data survives unescaped, and no template syntax was evaluated.
    assert "<script>window.__pwned" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert html.count("<script") == 2  # the JSON block and our own script
    assert "{{ 7*7 }}" in html[: html.index('id="llmgate-data"')]  # rendered server-side, as text
    path = tmp_path / "evil.html"
    path.write_text(html, encoding="utf-8")
    page = open_report(path)

    page.fill("#f-search", "window.__pwned = 'id'")
    expect(page.locator("#f-count")).to_have_text(re.compile(r"^1 of"))
    assert case_ids(page) == [case_id]
    page.locator("#cases-body tr").first.click()
    page.wait_for_selector("#detail [data-role='output-now']")

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate("document.querySelectorAll('svg[onload], [onerror], [onload]').length") == 0
    assert (
        page.evaluate(
            "[...document.querySelectorAll('a[href]')].filter(a => !a.getAttribute('href').startsWith('#')).length"
        )
        == 0
    )
    body = page.locator("body").inner_text()
    for text in HOSTILE[:6]:
        assert text in body, text
    assert page.locator("#detail-title").inner_text() == f"{evil_suite} · {case_id}"
    assert page.evaluate("document.querySelector(\"#detail [data-role='input']\").textContent") == HOSTILE_TEXT
    now = page.evaluate("document.querySelector(\"#detail [data-role='output-now']\").textContent")
    assert len(now) > 1_000_000 and now.startswith(HOSTILE[0])
    assert "{% raw %}{{ config }}{% endraw %}" in page.evaluate("document.body.textContent")
    assert "\u202eevil\u202c reversed" in page.evaluate("document.body.textContent")
    assert page.errors == []
    assert set(page.requests) == {path.as_uri()}
    if with_csp:
        assert page.evaluate("window.__csp") == []


def test_the_case_view_shows_conversation_context_claims_and_jurors(browser, tmp_path: Path) -> None:
    """Conversations, the judge's context, claims and juries (tests/test_conversations.py,
    test_claims.py, test_jury.py check the data; this checks the page draws it)."""
    from pytest_llmgate.gate.records import CaseResult, ClaimVerdict, GateResult, JudgeVerdict, RunResults, SuiteResult
    from pytest_llmgate.report.html import render_html

    turns = (
        ("system", "You are the shop's assistant."),
        ("user", "Where is order A1001?"),
        ("assistant", "It shipped."),
        ("user", "When does it arrive?"),
    )

    evil = "<img src=x onerror=alert(1)>"
    claims = [
        ClaimVerdict(claim="It arrives Friday.", verdict="supported", reason="context_1 says so"),
        ClaimVerdict(claim=evil, verdict="unsupported", reason="not in the context"),
    ]
    jurors = [
        JudgeVerdict(
            rubric="faithfulness-claims",
            rubric_version="1",
            kind="pointwise",
            metric="judge:faithfulness-claims",
            value=0.5,
            label="1/2 claims supported",
            provider=p,
            claims=claims,
            context=["Orders arrive Friday.", evil],
        )
        for p in ("anthropic:claude-test", "openai:gpt-test")
    ]
    verdict = JudgeVerdict(
        rubric="faithfulness-claims",
        rubric_version="1",
        kind="pointwise",
        metric="judge:faithfulness-claims",
        value=0.5,
        label="mean of 2 judges: 0.500",
        provider="anthropic:claude-test + openai:gpt-test",
        context=["Orders arrive Friday.", evil],
        jury=jurors,
    )
    case = CaseResult(
        case_id="chat-0",
        nodeid="test_chat.py::test_chat[chat-0]",
        case={"id": "chat-0", "input": [{"role": r, "content": c} for r, c in turns]},
        output={"answer": "It arrives Friday."},
        metrics={"judge:faithfulness-claims": 0.5},
        judge=[verdict],
    )
    results = RunResults(
        plugin_version="x",
        created_at="2026-01-01T00:00:00+00:00",
        suites={
            "test_chat.py::test_chat": SuiteResult(suite="test_chat.py::test_chat", dataset="d", cases={"chat-0": case})
        },
        gate=GateResult(status="PASS", passed=True),
        judge_warnings=["self-preference: the judge anthropic:claude-test is of the same model family"],
    )
    path = render_html(results, tmp_path / "r.html")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert "self-preference" in page.locator("[data-role='judge-warning']").inner_text()
    page.locator("#cases-body tr", has_text="chat-0").click()
    conversation = page.locator("#detail [data-role='conversation'] .turn")
    assert conversation.count() == 4
    assert conversation.nth(1).inner_text().split("\n")[0].lower() == "user"
    assert "When does it arrive?" in conversation.nth(3).inner_text()
    context = page.locator("#detail [data-role='verdict'] > [data-role='judge-context']")
    assert "Context the judge saw (2 chunks)" in context.inner_text()
    assert page.locator("#detail [data-role='juror']").count() == 2
    claims_table = page.locator("#detail [data-role='juror'] [data-role='claims']").first.inner_text()
    assert "It arrives Friday." in claims_table and "unsupported" in claims_table and evil in claims_table
    assert page.locator("#detail img").count() == 0, "hostile claim and context text stay text"
    assert errors == []
    page.close()
