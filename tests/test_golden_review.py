"""`llmgate review` in headless Chromium: a person writes the reference of a pending case,
which activates it; rejecting keeps it out; untrusted case text stays text; the loopback,
token and Origin rules of the labeling app hold."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pytest_llmgate import localapp
from pytest_llmgate.datasets import dataset_fingerprint, load_cases
from pytest_llmgate.golden.review import ReviewSession

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
ACTIVE = '{"id": "a-1", "input": "Where is my order?", "reference": "Track it in your account."}'


def _pending(case_id: str, question: str, **metadata: object) -> str:
    meta = {"review": "pending", "provenance": {"source": "import", "output": HOSTILE}, **metadata}
    return json.dumps({"id": case_id, "input": question, "metadata": meta, "tags": []})


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    path = tmp_path / "support.jsonl"
    calls = [{"name": "lookup_order", "arguments": {"order_id": "A-17"}}, {"name": "send_email", "arguments": {}}]
    lines = [
        ACTIVE,
        _pending("trace-1", f"Refund A-17 {HOSTILE}", candidate_tool_calls=calls),
        _pending("trace-2", "Spam question"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class _Running:
    def __init__(self, session: ReviewSession) -> None:
        self.session = session
        self.server = localapp.make_server(session, 0)
        self.port = self.server.server_address[1]
        self.url = localapp.server_url(self.server)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def running(golden: Path) -> Iterator[_Running]:
    app = _Running(ReviewSession(golden, "ria"))
    yield app
    app.stop()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def test_writing_a_reference_activates_the_case_and_rejecting_keeps_one_out(
    running: _Running, page: Page, golden: Path
) -> None:
    fingerprint = dataset_fingerprint(golden)
    first_line = golden.read_text(encoding="utf-8").splitlines()[0]
    page.goto(running.url)
    expect(page.locator("#case-id")).to_have_text("trace-1")
    expect(page.locator("#progress")).to_have_text("1 of 2 pending")
    # Untrusted text is shown as text and runs nothing.
    expect(page.locator("#input")).to_have_text(f"Refund A-17 {HOSTILE}")
    expect(page.locator("#seen-output")).to_have_text(HOSTILE)
    assert page.evaluate("window.__pwned") is None
    # The failing output is never offered as the reference.
    expect(page.locator("#reference")).to_have_value("")
    page.locator("#approve").click()
    expect(page.locator("#error")).to_contain_text("'reference' must be a non-empty text")
    page.locator("#reference").fill("We refund damaged orders within 5 business days.")
    page.locator("#relevant-ids").fill("refund-policy, damaged-goods")
    page.locator("#tool-0").check()
    page.locator("#approve").click()
    expect(page.locator("#status")).to_have_text("approved trace-1")
    expect(page.locator("#case-id")).to_have_text("trace-2")
    page.locator("#reject").click()
    expect(page.locator("#done")).to_be_visible()

    lines = golden.read_text(encoding="utf-8").splitlines()
    assert lines[0] == first_line  # other lines keep their bytes
    approved, rejected = json.loads(lines[1]), json.loads(lines[2])
    assert approved["reference"] == "We refund damaged orders within 5 business days."
    assert approved["relevant_ids"] == ["refund-policy", "damaged-goods"]
    assert approved["expected_tool_calls"] == [{"name": "lookup_order", "arguments": {"order_id": "A-17"}}]
    assert "candidate_tool_calls" not in approved["metadata"]
    assert approved["metadata"]["review"] == "approved" and approved["metadata"]["reviewed_by"] == "ria"
    assert approved["metadata"]["provenance"]["output"] == HOSTILE  # provenance kept
    assert rejected["metadata"]["review"] == "rejected" and "reference" not in rejected
    assert [c.id for c in load_cases(golden)] == ["a-1", "trace-1"]
    assert dataset_fingerprint(golden) != fingerprint
    # A reload shows nothing left, and the page still ran no injected script.
    page.reload()
    expect(page.locator("#done")).to_be_visible()
    assert page.evaluate("window.__pwned") is None


def test_a_pending_conversation_is_shown_turn_by_turn(tmp_path: Path, page: Page) -> None:
    golden = tmp_path / "conversations.jsonl"
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": HOSTILE},
        {"role": "user", "content": "Change my address"},
    ]
    golden.write_text(
        json.dumps({"id": "trace-c", "input": turns, "metadata": {"review": "pending"}}) + "\n", encoding="utf-8"
    )
    app = _Running(ReviewSession(golden, "ria"))
    try:
        page.goto(app.url)
        expect(page.locator("#case-id")).to_have_text("trace-c")
        shown = page.locator("#input .turn")
        expect(shown).to_have_count(3)
        expect(shown.locator(".role")).to_have_text(["user", "assistant", "user"])
        expect(shown.locator("pre")).to_have_text(["Hi", HOSTILE, "Change my address"])
        assert page.evaluate("window.__pwned") is None
        page.locator("#reference").fill("Your address is updated.")
        page.locator("#approve").click()
        expect(page.locator("#done")).to_be_visible()
    finally:
        app.stop()
    approved = json.loads(golden.read_text(encoding="utf-8"))
    assert approved["input"] == turns and approved["reference"] == "Your address is updated."


def _request(
    port: int,
    method: str,
    path: str,
    *,
    host: str | None = None,
    token: str | None = None,
    origin: str | None = None,
    body: object = None,
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{port}"}
    if token is not None:
        headers[localapp.TOKEN_HEADER] = token
    if origin is not None:
        headers["Origin"] = origin
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    status, payload = response.status, json.loads(response.read() or b"{}")
    connection.close()
    return status, payload


def test_the_api_keeps_the_loopback_token_and_origin_rules(running: _Running, golden: Path) -> None:
    before = golden.read_bytes()
    port, token = running.port, running.session.token
    here = f"http://127.0.0.1:{port}"
    assert _request(port, "GET", "/api/state", host=f"rebind.example:{port}", token=token)[0] == 403
    assert _request(port, "GET", "/api/state")[0] == 403
    approve = {"id": "trace-2", "reference": "x"}
    assert _request(port, "POST", "/api/approve", token=token, origin="http://evil.example", body=approve)[0] == 403
    assert _request(port, "POST", "/api/approve", origin=here, body=approve)[0] == 403
    assert golden.read_bytes() == before
    status, state = _request(port, "GET", "/api/state", token=token)
    assert status == 200 and [c["id"] for c in state["cases"]] == ["trace-1", "trace-2"]
    status, payload = _request(
        port, "POST", "/api/approve", token=token, origin=here, body={"id": "a-1", "reference": "x"}
    )
    assert status == 400 and "not pending review" in payload["error"]
    status, payload = _request(
        port, "POST", "/api/approve", token=token, origin=here, body={"id": "nope", "reference": "x"}
    )
    assert status == 400 and "no case 'nope'" in payload["error"]
    assert golden.read_bytes() == before
    assert _request(port, "POST", "/api/approve", token=token, origin=here, body=approve)[0] == 200
    assert json.loads(golden.read_text(encoding="utf-8").splitlines()[2])["reference"] == "x"


def test_static_files_are_only_the_apps_own(running: _Running) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    for path, status in (("/static/review.js", 200), ("/static/../review.py", 404), ("/static/nope.js", 404)):
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{running.port}"})
        response = connection.getresponse()
        response.read()
        assert response.status == status, path
        if status == 200:
            assert "default-src 'none'" in response.getheader("Content-Security-Policy")
    connection.close()


def test_review_of_a_broken_set_says_where_before_serving(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pytest_llmgate.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "input": "x"}\n{"id": "b", "inptu": "y"}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["review", str(bad), "--no-browser", "--reviewer", "ria"])
    assert result.exit_code == 1
    assert f"{bad}:2: 2 problems: field 'input': required field is missing" in result.output
