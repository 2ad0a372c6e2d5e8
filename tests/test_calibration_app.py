"""The labeling app end to end in headless Chromium, and its defences."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_calibration_support import SUITE, make_results

from pytest_llmgate.calibration.app import LabelSession, make_server, server_url
from pytest_llmgate.calibration.labels import load_labels, read_entries
from pytest_llmgate.calibration.scales import RubricInfo
from pytest_llmgate.gate.records import RunResults

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def _pass_fail_results() -> RunResults:
    outputs = [f"answer {i}" for i in range(6)]
    outputs[2] = HOSTILE
    return make_results("helpful", "pass_fail", [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], outputs=outputs)


class _Running:
    def __init__(self, session: LabelSession) -> None:
        self.session = session
        self.server = make_server(session, 0)
        self.port = self.server.server_address[1]
        self.url = server_url(self.server)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    return tmp_path / "labels" / "helpful.jsonl"


@pytest.fixture
def running(labels_file: Path) -> Iterator[_Running]:
    session = LabelSession.create(_pass_fail_results(), RubricInfo("helpful", "pass_fail"), labels_file, "ann", seed=5)
    app = _Running(session)
    yield app
    app.stop()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def _progress(page: Page, labeled: int) -> None:
    expect(page.locator("#progress")).to_contain_text(f"{labeled} labeled this session")


def test_keyboard_labels_land_in_the_file_and_the_verdict_shows_only_after_saving(
    running: _Running, page: Page, labels_file: Path
) -> None:
    items = running.session.items
    page.goto(running.url)
    expect(page.locator("#case-id")).to_have_text(items[0].sample.case_id)
    # Blind: no verdict anywhere in the page or in the data it was given.
    assert "JUDGE-REASON" not in page.content()
    assert "JUDGE-REASON" not in json.dumps(running.session.state())
    expect(page.locator("#verdict")).to_be_hidden()

    page.keyboard.press("p")
    _progress(page, 1)
    expect(page.locator("#last-reasons")).to_have_text(f"JUDGE-REASON-{items[0].sample.case_id}")
    expect(page.locator("#case-id")).to_have_text(items[1].sample.case_id)
    assert f"JUDGE-REASON-{items[1].sample.case_id}" not in page.content()
    page.keyboard.press("f")
    _progress(page, 2)
    page.keyboard.press("s")  # skip items[2]
    expect(page.locator("#progress")).to_contain_text("(1 skipped)")
    page.keyboard.press("p")
    _progress(page, 3)

    labels = load_labels(labels_file)
    expected = {
        (items[0].sample.case_id, "pass"),
        (items[1].sample.case_id, "fail"),
        (items[3].sample.case_id, "pass"),
    }
    assert {(label.case_id, label.label) for label in labels} == expected
    assert all(label.labeler == "ann" and label.suite == SUITE and label.stratum == "uniform" for label in labels)
    cases = running.session.results.suites[SUITE].cases
    assert all(label.output_hash == cases[label.case_id].judge[0].output_hash for label in labels)

    # Undo the last label: a tombstone is appended and the page goes back to that case.
    page.keyboard.press("u")
    _progress(page, 2)
    expect(page.locator("#case-id")).to_have_text(items[3].sample.case_id)
    assert {label.case_id for label in load_labels(labels_file)} == {items[0].sample.case_id, items[1].sample.case_id}
    assert len(read_entries(labels_file)) == 4

    # Going back to a saved case shows the human label and the judge's verdict.
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#case-id")).to_have_text(items[0].sample.case_id)
    expect(page.locator("#verdict-reasons")).to_have_text(f"JUDGE-REASON-{items[0].sample.case_id}")
    expect(page.locator("#mine")).to_have_text("your label: pass")


def test_untrusted_output_is_shown_as_text(running: _Running, page: Page) -> None:
    hostile_index = next(item.index for item in running.session.items if item.outputs[0] == HOSTILE)
    page.goto(running.url)
    expect(page.locator("#case-id")).to_have_text(running.session.items[0].sample.case_id)
    for _ in range(hostile_index):
        page.keyboard.press("ArrowRight")
    expect(page.locator("pre.output")).to_have_text(HOSTILE)
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.evaluate("window.__pwned === undefined")


def test_a_conversation_input_is_shown_as_its_turns(tmp_path: Path, page: Page) -> None:
    conversation = [
        {"role": "user", "content": "Where is my order A1001?"},
        {"role": "assistant", "content": "It ships tomorrow."},
        {"role": "user", "content": HOSTILE},
    ]
    results = make_results("helpful", "pass_fail", [1.0, 0.0], inputs=[conversation, "plain question"])
    app = _Running(LabelSession.create(results, RubricInfo("helpful", "pass_fail"), tmp_path / "h.jsonl", "cy", seed=2))
    try:
        shown = {item.sample.case_id: item.input for item in app.session.items}
        expected = f"user: Where is my order A1001?\n\nassistant: It ships tomorrow.\n\nuser: {HOSTILE}"
        assert shown == {"case-000": expected, "case-001": "plain question"}
        page.goto(app.url)
        first = app.session.items[0].sample.case_id
        expect(page.locator("#case-id")).to_have_text(first)
        if first != "case-000":
            page.keyboard.press("ArrowRight")
        expect(page.locator("#case-id")).to_have_text("case-000")
        expect(page.locator("#input")).to_have_text(expected)
        assert page.evaluate("window.__pwned === undefined")
    finally:
        app.stop()


def test_pairwise_outputs_in_random_order_are_mapped_back_to_the_candidate(tmp_path: Path, page: Page) -> None:
    results = make_results("vs_ref", "pairwise", [1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.5, 0.0])
    path = tmp_path / "vs_ref.jsonl"
    app = _Running(LabelSession.create(results, RubricInfo("vs_ref", "pairwise"), path, "bo", seed=1))
    try:
        positions = {item.candidate_first for item in app.session.items}
        assert positions == {True, False}  # both orders occur
        page.goto(app.url)
        expect(page.locator("#case-id")).to_have_text(app.session.items[0].sample.case_id)
        expected: dict[str, str] = {}
        for count, key in enumerate(["a", "b", "a", "t", "b"], start=1):
            case_id = page.locator("#case-id").text_content()
            left = page.locator("pre.output").nth(0).text_content()
            candidate = results.suites[SUITE].cases[case_id].output
            if key == "t":
                expected[case_id] = "tie"
            else:
                chose_left = key == "a"
                expected[case_id] = "A" if chose_left == (left == candidate) else "B"
            page.keyboard.press(key)
            _progress(page, count)
        assert {label.case_id: label.label for label in load_labels(path)} == expected
        expect(page.locator("#last-label")).to_contain_text("the candidate, which was the")
    finally:
        app.stop()


def test_pointwise_digits(tmp_path: Path, page: Page) -> None:
    results = make_results("quality", "pointwise", [0.0, 0.25, 0.5, 0.75], scale=(1, 5))
    path = tmp_path / "quality.jsonl"
    app = _Running(LabelSession.create(results, RubricInfo("quality", "pointwise", 1, 5), path, "cy"))
    try:
        page.goto(app.url)
        order = [item.sample.case_id for item in app.session.items]
        expect(page.locator("#case-id")).to_have_text(order[0])
        page.keyboard.press("9")  # not on the 1..5 scale: ignored
        page.keyboard.press("4")
        _progress(page, 1)
        page.keyboard.press("1")
        _progress(page, 2)
        assert {label.case_id: label.label for label in load_labels(path)} == {order[0]: 4, order[1]: 1}
    finally:
        app.stop()


def _post(
    port: int,
    path: str,
    body: dict,
    *,
    host: str | None = None,
    origin: str | None = "default",
    token: str | None = None,
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{port}", "Content-Type": "application/json"}
    if origin == "default":
        origin = f"http://127.0.0.1:{port}"
    if origin is not None:
        headers["Origin"] = origin
    if token is not None:
        headers["X-LLMGate-Token"] = token
    connection.request("POST", path, json.dumps(body).encode(), headers)
    response = connection.getresponse()
    data = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, data


@pytest.mark.parametrize(
    "attack",
    [
        {"host": "evil.example:80"},
        {"host": "attacker.example"},
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": None},
        {"token": "wrong"},
        {"token": None},
    ],
)
def test_refused_writes_write_nothing(running: _Running, labels_file: Path, attack: dict) -> None:
    token = running.session.token
    kwargs = {"token": token, **attack}
    status, data = _post(running.port, "/api/label", {"index": 0, "choice": "pass"}, **kwargs)
    assert status == 403, data
    status, _ = _post(running.port, "/api/undo", {}, **kwargs)
    assert status == 403
    assert not labels_file.exists()
    # The same request with the right Host, Origin and token is accepted.
    status, data = _post(running.port, "/api/label", {"index": 0, "choice": "pass"}, token=token)
    assert status == 200 and data["verdict"]["label"] == running.session.items[0].verdict.label
    assert len(load_labels(labels_file)) == 1


def test_reads_need_a_loopback_host_and_the_api_the_token(running: _Running) -> None:
    def get(path: str, host: str, token: str | None = None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        headers = {"Host": host}
        if token:
            headers["X-LLMGate-Token"] = token
        connection.request("GET", path, headers=headers)
        status = connection.getresponse().status
        connection.close()
        return status

    here = f"127.0.0.1:{running.port}"
    assert get("/", f"rebind.example:{running.port}") == 403
    assert get("/", here) == 200
    assert get("/", f"localhost:{running.port}") == 200
    assert get("/api/state", here) == 403
    assert get("/api/state", here, running.session.token) == 200
    assert get("/api/state", "evil.example", running.session.token) == 403


def test_bad_choice_is_a_400_and_writes_nothing(running: _Running, labels_file: Path) -> None:
    token = running.session.token
    assert _post(running.port, "/api/label", {"index": 0, "choice": "maybe"}, token=token)[0] == 400
    assert _post(running.port, "/api/label", {"index": 99, "choice": "pass"}, token=token)[0] == 400
    assert _post(running.port, "/api/undo", {}, token=token)[0] == 400
    assert not labels_file.exists()


def _start_cli(results_path: Path, labels_path: Path, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    code = "from pytest_llmgate.calibration.commands import label; label()"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            str(results_path),
            "--rubric",
            "helpful",
            "--labels",
            str(labels_path),
            "--labeler",
            "ann",
            "--no-browser",
            "--port",
            "0",
            "--rubrics-dir",
            str(tmp_path / "no-rubrics"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "http://" not in line:
        process.kill()
        pytest.fail(f"label command did not start: {line!r} {process.stderr.read() if process.stderr else ''}")
    url = next(word for word in line.split() if word.startswith("http://"))
    return process, url


def test_killing_the_server_loses_nothing_saved_and_a_restart_resumes(tmp_path: Path, page: Page) -> None:
    results_path = tmp_path / "llm-gate.json"
    results_path.write_text(_pass_fail_results().model_dump_json(), encoding="utf-8")
    labels_path = tmp_path / "helpful.jsonl"
    process, url = _start_cli(results_path, labels_path, tmp_path)
    try:
        page.goto(url)
        expect(page.locator("#progress")).to_contain_text("0 labeled this session")
        seen = []
        for count, key in enumerate(["p", "f"], start=1):
            seen.append(page.locator("#case-id").text_content())
            page.keyboard.press(key)
            _progress(page, count)
    finally:
        process.kill()  # SIGKILL: no clean shutdown
        process.wait(timeout=10)
    assert {(label.case_id, label.label) for label in load_labels(labels_path)} == {
        (seen[0], "pass"),
        (seen[1], "fail"),
    }

    process, url = _start_cli(results_path, labels_path, tmp_path)
    try:
        page.goto(url)
        expect(page.locator("#progress")).to_contain_text("0 labeled this session, 2 earlier, 4 to go")
        shown = page.locator("#case-id").text_content()
        assert shown not in seen
    finally:
        process.kill()
        process.wait(timeout=10)
