"""Growing a golden set: `llmgate promote` from a real gated run with planted failures,
`llmgate import` from a JSONL log and from OTLP JSON GenAI spans written by hand from the
conventions, pending cases kept out of the gate and its fingerprint, and the scrubber."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from gate_project import make_project

from pytest_llmgate.cli import main
from pytest_llmgate.datasets import dataset_fingerprint, load_cases
from pytest_llmgate.golden.scrub import default_scrub, load_scrubber
from pytest_llmgate.golden.sets import new_id, normalize_input

FAKE_KEY = "sk-ant-api03-" + "Q" * 40


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _cli(*args: str, cwd: Path) -> tuple[int, str]:
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = runner.invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def gated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project whose baseline is good, then a run with worse retrieval and broken checks."""
    make_project(pytester, n=24)
    assert pytester.runpytest("--llm-gate-update", "-p", "no:cacheprovider").ret == 0
    monkeypatch.setenv("GATE_MODE", "broken-checks")
    assert pytester.runpytest("--llm-gate", "-p", "no:cacheprovider").ret == 1
    return pytester


def test_promote_newly_failing_keeps_provenance_and_never_the_output_as_reference(gated: pytest.Pytester) -> None:
    code, out = _cli(
        "promote",
        "reports/llm-gate.json",
        "--status",
        "newly-failing",
        "--to",
        "datasets/regressions.jsonl",
        cwd=gated.path,
    )
    assert code == 0, out
    added = _read(gated.path / "datasets/regressions.jsonl")
    # broken-checks fails every third case (0, 3, 6, ... 21) besides q-7, which failed in the baseline too.
    assert sorted(c["metadata"]["provenance"]["case_id"] for c in added) == sorted(f"q-{i}" for i in range(0, 24, 3))
    ids = [c["id"] for c in added]
    assert len(set(ids)) == len(ids) and all(i.startswith("promoted-") for i in ids)
    for case in added:
        provenance = case["metadata"]["provenance"]
        assert "reference" not in case
        assert case["metadata"]["review"] == "pending"
        assert provenance["failing_output"] == {"answer": f"answer {provenance['case_id'].split('-')[1]}"}
        assert provenance["failure"].startswith("AssertionError: case q-")
        assert provenance["statuses"] == ["newly-failing"]
        assert provenance["suite"] == "test_qa.py::test_qa"
        assert provenance["source_reference"] == f"answer {provenance['case_id'].split('-')[1]}"
        assert set(provenance) >= {"results_file", "run_created_at", "git_commit", "promoted_on", "dataset"}
    assert "appended 8 pending case(s)" in out and "llmgate review datasets/regressions.jsonl" in out
    # The same ids again for the same inputs: a second promote finds them all already there.
    before = (gated.path / "datasets/regressions.jsonl").read_bytes()
    code, out = _cli(
        "promote",
        "reports/llm-gate.json",
        "--status",
        "newly-failing",
        "--to",
        "datasets/regressions.jsonl",
        cwd=gated.path,
    )
    assert code == 0 and "nothing appended" in out and out.count("skipped q-") == 8
    assert (gated.path / "datasets/regressions.jsonl").read_bytes() == before


def test_promote_statuses_regressed_and_known_failing(gated: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli("promote", "reports/llm-gate.json", "--status", "known-failing", "--to", "k.jsonl", cwd=gated.path)
    assert code == 0, out
    assert [c["metadata"]["provenance"]["case_id"] for c in _read(gated.path / "k.jsonl")] == ["q-7"]
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    gated.runpytest("--llm-gate", "-p", "no:cacheprovider")
    code, out = _cli("promote", "reports/llm-gate.json", "--status", "regressed", "--to", "r.jsonl", cwd=gated.path)
    assert code == 0, out
    promoted = _read(gated.path / "r.jsonl")
    assert sorted(c["metadata"]["provenance"]["case_id"] for c in promoted) == sorted(f"q-{i}" for i in range(0, 24, 2))
    assert all("recall@1" in c["metadata"]["provenance"]["regressed_metrics"] for c in promoted)


def test_promote_into_the_source_set_finds_every_case_already_there(gated: pytest.Pytester) -> None:
    before = (gated.path / "datasets/qa.jsonl").read_bytes()
    code, out = _cli(
        "promote", "reports/llm-gate.json", "--status", "newly-failing", "--to", "datasets/qa.jsonl", cwd=gated.path
    )
    assert code == 0 and "same input as q-0" in out
    assert (gated.path / "datasets/qa.jsonl").read_bytes() == before


def test_promote_into_a_set_holding_conversations_keeps_its_bytes(gated: pytest.Pytester) -> None:
    target = gated.path / "datasets" / "mixed.jsonl"
    conversation = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Where is my refund?"},
    ]
    lines = [
        json.dumps({"id": "conv-1", "input": conversation, "reference": "On its way."}),
        json.dumps({"id": "plain-1", "input": "Where is my order?", "reference": "In your account."}),
    ]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = target.read_bytes()
    code, out = _cli(
        "promote", "reports/llm-gate.json", "--status", "newly-failing", "--to", "datasets/mixed.jsonl", cwd=gated.path
    )
    assert code == 0, out
    assert target.read_bytes().startswith(before)
    assert "appended 8 pending case(s)" in out
    assert len(load_cases(target, include_inactive=True)) == 10


def test_pending_cases_change_neither_the_fingerprint_nor_the_gate(pytester: pytest.Pytester) -> None:
    make_project(pytester, n=12)
    assert pytester.runpytest("--llm-gate-update", "-p", "no:cacheprovider").ret == 0
    dataset = pytester.path / "datasets/qa.jsonl"
    fingerprint = dataset_fingerprint(dataset)
    log = pytester.path / "log.jsonl"
    log.write_text(
        "\n".join(json.dumps({"q": f"new question {i}", "a": "x"}) for i in range(3)) + "\n", encoding="utf-8"
    )
    code, out = _cli(
        "import",
        "log.jsonl",
        "--format",
        "jsonl",
        "--input-field",
        "q",
        "--output-field",
        "a",
        "--to",
        "datasets/qa.jsonl",
        cwd=pytester.path,
    )
    assert code == 0, out
    assert len(load_cases(dataset)) == 12 and len(load_cases(dataset, include_inactive=True)) == 15
    assert dataset_fingerprint(dataset) == fingerprint
    result = pytester.runpytest("--llm-gate", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*12 cases (+3 pending review, not gated)*"])
    assert "fingerprint 'dataset' changed" not in result.stdout.str() and "FAIL" not in result.stdout.str()
    results = json.loads((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    assert results["suites"]["test_qa.py::test_qa"]["pending_review"] == 3
    # Reviewing one (approve) makes it part of the set: the fingerprint now changes, as adding any case does.
    lines = dataset.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    record["metadata"]["review"] = "approved"
    record["reference"] = "a person's answer"
    dataset.write_text("\n".join([*lines[:-1], json.dumps(record)]) + "\n", encoding="utf-8")
    assert len(load_cases(dataset)) == 13
    assert dataset_fingerprint(dataset) != fingerprint


LOG = [
    {
        "ts": 1,
        "request": {"question": "How do I reset my password?"},
        "answer": "Click reset.",
        "feedback": "negative",
        "calls": [{"name": "lookup_user", "arguments": '{"email": "ana@example.com"}'}],
    },
    {"ts": 2, "request": {"question": "how do I   RESET my password?"}, "answer": "Dup.", "feedback": "negative"},
    {"ts": 3, "request": {"question": "Where is my order?"}, "answer": "Shipped.", "feedback": "positive"},
    {
        "ts": 4,
        "request": {"question": f"My key {FAKE_KEY} leaked, mail me at bo@corp.io"},
        "answer": "Rotate it.",
        "feedback": "negative",
    },
    {"ts": 5, "request": {"question": "Cancel my plan"}, "answer": "Done.", "feedback": "negative"},
    {"ts": 6, "request": {"question": "Is there a student discount?"}, "answer": "No.", "feedback": "negative"},
]


def _write_log(path: Path, records: list[dict]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")


def test_import_jsonl_filters_deduplicates_scrubs_and_flags_tool_calls(tmp_path: Path) -> None:
    _write_log(tmp_path / "log.jsonl", LOG)
    target = tmp_path / "datasets" / "support.jsonl"
    target.parent.mkdir()
    target.write_text(
        json.dumps({"id": "old-1", "input": "Cancel my plan", "reference": "Go to settings."}) + "\n", encoding="utf-8"
    )
    args = [
        "import",
        "log.jsonl",
        "--format",
        "jsonl",
        "--input-field",
        "request.question",
        "--output-field",
        "answer",
        "--tool-calls-field",
        "calls",
        "--filter",
        "feedback=negative",
        "--tag",
        "from-prod",
        "--to",
        "datasets/support.jsonl",
    ]
    code, out = _cli(*args, cwd=tmp_path)
    assert code == 0, out
    assert "read 6 trace(s); 5 matched the filters." in out
    assert "skipped log.jsonl:2: same input as log.jsonl:1" in out  # within the import
    assert "skipped log.jsonl:5: same input as old-1" in out  # against the set
    cases = _read(target)[1:]
    assert [c["input"] for c in cases] == [
        "How do I reset my password?",
        "My key [api key] leaked, mail me at [email]",
        "Is there a student discount?",
    ]
    assert all(c["tags"] == ["from-prod"] and c["metadata"]["review"] == "pending" for c in cases)
    assert all("reference" not in c and "expected_tool_calls" not in c for c in cases)
    assert cases[0]["metadata"]["candidate_tool_calls"] == [{"name": "lookup_user", "arguments": {"email": "[email]"}}]
    assert cases[0]["metadata"]["provenance"]["output"] == "Click reset."
    assert cases[0]["metadata"]["provenance"]["where"] == "log.jsonl:1"
    assert FAKE_KEY not in target.read_text(encoding="utf-8")
    # The same import again adds nothing: every input is already in the set.
    code, out = _cli(*args, cwd=tmp_path)
    assert "nothing appended" in out and len(_read(target)) == 4


def test_import_sample_is_seeded_and_counts_new_cases(tmp_path: Path) -> None:
    _write_log(tmp_path / "log.jsonl", [{"input": f"question number {i}", "output": "a"} for i in range(30)])
    picks = []
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        seed = "1" if name != "c.jsonl" else "2"
        code, out = _cli(
            "import", "log.jsonl", "--format", "jsonl", "--sample", "5", "--seed", seed, "--to", name, cwd=tmp_path
        )
        assert code == 0, out
        picks.append([c["input"] for c in _read(tmp_path / name)])
    assert len(picks[0]) == 5 and picks[0] == picks[1] and picks[0] != picks[2]
    assert picks[0] == sorted(picks[0], key=lambda text: int(text.rsplit(" ", 1)[1]))  # file order kept


def _kv(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _span(span_id: str, attributes: list[dict], *, status: int = 0, name: str = "chat claude-sonnet-4-5") -> dict:
    return {
        "traceId": "ab" * 16,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": "1760000000000000000",
        "endTimeUnixNano": "1760000001000000000",
        "attributes": attributes,
        "status": {"code": status},
    }


def _otlp(spans: list[dict]) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_kv("service.name", "support-bot")]},
                "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.anthropic"}, "spans": spans}],
            }
        ]
    }


def test_import_otlp_genai_spans_current_and_legacy_conventions(tmp_path: Path) -> None:
    current = [
        _kv("gen_ai.operation.name", "chat"),
        _kv("gen_ai.request.model", "claude-sonnet-4-5"),
        _kv(
            "gen_ai.input.messages",
            json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
                    {"role": "user", "parts": [{"type": "text", "content": "Refund order A-17, it arrived broken"}]},
                ]
            ),
        ),
        _kv(
            "gen_ai.output.messages",
            json.dumps(
                [
                    {
                        "role": "assistant",
                        "finish_reason": "tool_call",
                        "parts": [
                            {"type": "text", "content": "Let me look that up."},
                            {
                                "type": "tool_call",
                                "id": "t1",
                                "name": "lookup_order",
                                "arguments": {"order_id": "A-17"},
                            },
                        ],
                    }
                ]
            ),
        ),
        _kv("app.feedback", "negative"),
    ]
    conversation = [
        _kv("gen_ai.request.model", "gpt-4.1"),
        _kv(
            "gen_ai.input.messages",
            json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
                    {"role": "assistant", "parts": [{"type": "text", "content": "Hello! How can I help?"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "Change my address"}]},
                ]
            ),
        ),
        _kv("app.feedback", "negative"),
    ]
    legacy = [
        _kv("gen_ai.system", "openai"),
        _kv("gen_ai.request.model", "gpt-4o"),
        _kv("gen_ai.prompt.0.role", "user"),
        _kv("gen_ai.prompt.0.content", "What is your returns window?"),
        _kv("gen_ai.completion.0.role", "assistant"),
        _kv("gen_ai.completion.0.content", "60 days."),
        _kv("app.feedback", "negative"),
    ]
    positive = [
        _kv("gen_ai.input.messages", json.dumps([{"role": "user", "content": "Thanks!"}])),
        _kv("app.feedback", "positive"),
    ]
    other = [_kv("db.system", "postgresql")]
    embeddings = [_kv("gen_ai.operation.name", "embeddings"), _kv("gen_ai.request.model", "text-embedding-3")]
    spans = [
        _span("01", current, status=2),
        _span("02", conversation),
        _span("03", legacy),
        _span("04", positive),
        _span("05", other, name="SELECT"),
        _span("06", embeddings, name="embeddings"),
    ]
    # The collector's file exporter writes one document per line: split the spans over two lines.
    (tmp_path / "spans.jsonl").write_text(
        json.dumps(_otlp(spans[:3])) + "\n" + json.dumps(_otlp(spans[3:])) + "\n", encoding="utf-8"
    )
    code, out = _cli(
        "import",
        "spans.jsonl",
        "--format",
        "otlp",
        "--filter",
        "app.feedback=negative",
        "--to",
        "g.jsonl",
        cwd=tmp_path,
    )
    assert code == 0, out
    assert "read 4 trace(s), 2 other span(s) passed over; 3 matched the filters." in out
    cases = _read(tmp_path / "g.jsonl")
    assert [c["input"] for c in cases] == [
        "Refund order A-17, it arrived broken",
        # A conversation is written as the golden set holds one: a list of messages.
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Change my address"},
        ],
        "What is your returns window?",
    ]
    first = cases[0]["metadata"]
    assert first["candidate_tool_calls"] == [{"name": "lookup_order", "arguments": {"order_id": "A-17"}}]
    assert first["provenance"]["model"] == "claude-sonnet-4-5" and first["provenance"]["span_id"] == "01"
    assert first["provenance"]["output"] == "Let me look that up."
    assert cases[2]["metadata"]["provenance"]["output"] == "60 days."
    # Errored spans only: the status filter.
    code, out = _cli(
        "import", "spans.jsonl", "--format", "otlp", "--filter", "status=error", "--to", "e.jsonl", cwd=tmp_path
    )
    assert code == 0 and [c["metadata"]["provenance"]["span_id"] for c in _read(tmp_path / "e.jsonl")] == ["01"]


@pytest.mark.parametrize(
    ("content", "fmt", "extra", "message"),
    [
        (
            '{"resourceSpans": []}\n',
            "jsonl",
            [],
            "log.txt:1: this is OTLP JSON (it has resourceSpans); use --format otlp.",
        ),
        ('{"q": "a"}\n{"q": "b"\n', "jsonl", ["--input-field", "q"], "log.txt:2: not a JSON object"),
        (
            '{"q": "a"}\n{"question": "b"}\n',
            "jsonl",
            ["--input-field", "q"],
            "log.txt:2: field 'q' is missing; pass --input-field with the name your logs use.",
        ),
        ('{"input": "a", "output": "b"}\n', "otlp", [], "log.txt: not OTLP JSON (no resourceSpans)"),
        (
            json.dumps(_otlp([_span("0a", [_kv("gen_ai.input.messages", '[{"role": "system", "content": "x"}]')])])),
            "otlp",
            [],
            "log.txt: span 1 (spanId 0a): the span's input messages hold no user message.",
        ),
        (
            json.dumps(_otlp([_span("0b", [_kv("db.system", "redis")])])),
            "otlp",
            [],
            "log.txt: no GenAI chat span found",
        ),
    ],
)
def test_bad_trace_files_name_the_line_or_span_and_append_nothing(
    tmp_path: Path, content: str, fmt: str, extra: list[str], message: str
) -> None:
    (tmp_path / "log.txt").write_text(content, encoding="utf-8")
    target = tmp_path / "g.jsonl"
    target.write_text('{"id": "a", "input": "kept"}\n', encoding="utf-8")
    code, out = _cli("import", "log.txt", "--format", fmt, *extra, "--to", "g.jsonl", cwd=tmp_path)
    assert code == 1
    assert message in out and "Nothing was appended." in out
    assert target.read_text(encoding="utf-8") == '{"id": "a", "input": "kept"}\n'


def test_a_broken_target_set_is_named_and_left_alone(tmp_path: Path) -> None:
    _write_log(tmp_path / "log.jsonl", [{"input": "q", "output": "a"}])
    (tmp_path / "g.jsonl").write_text('{"id": "a", "input": "x"}\n{"id": "a", "input": "y"}\n', encoding="utf-8")
    code, out = _cli("import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 1 and "g.jsonl:2: field 'id': duplicate id 'a'" in out


def test_default_scrubber_masks_planted_secrets_and_emails() -> None:
    text = (
        f"keys {FAKE_KEY} sk-proj-{'a' * 30} AKIAABCDEFGHIJKLMNOP ghp_{'b' * 36} xoxb-1234567890-abcdef "
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY----- mail ana.b+tag@mail.example.org "
        "call me at 555-0100"
    )
    scrubbed = default_scrub(text)
    assert scrubbed == (
        "keys [api key] [api key] [api key] [api key] [api key] Authorization: Bearer [token] [token] "
        "[private key] mail [email] call me at 555-0100"
    )


def test_a_scrubber_hook_runs_after_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "myscrub.py").write_text("def clean(text):\n    return text.replace('Ana', '[name]')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scrub = load_scrubber("myscrub:clean")
    assert scrub("Ana at ana@example.com") == "[name] at [email]"
    with pytest.raises(ValueError, match="must look like module:function"):
        load_scrubber("myscrub.clean")
    with pytest.raises(ValueError, match="cannot be loaded"):
        load_scrubber("myscrub:nope")
    # Named in the ini file, `llmgate import` uses it.
    (tmp_path / "pytest.ini").write_text("[pytest]\nllm_gate_scrubber = myscrub:clean\n", encoding="utf-8")
    _write_log(tmp_path / "log.jsonl", [{"input": "Ana asks for a refund", "output": "ok"}])
    code, out = _cli("import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 0, out
    assert _read(tmp_path / "g.jsonl")[0]["input"] == "[name] asks for a refund"


def test_ids_are_stable_and_never_reused() -> None:
    first = new_id("trace", "How do I reset?", set())
    assert first == new_id("trace", "  how do I   RESET? ", set())
    assert new_id("trace", "How do I reset?", {first}) == first + "-2"
    assert new_id("trace", "How do I reset?", {first, first + "-2"}) == first + "-3"
    assert normalize_input({"q": "A  b"}) == normalize_input({"q": "a b"})
