"""`llmgate import` reads every message shape the OpenAI and Anthropic SDKs and the GenAI
semantic conventions write (content parts included), turns every malformed record into an
error naming the line or the span (never a traceback), survives lone surrogates, and writes
conversations in the golden set's own format: a list of messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pytest_llmgate.cli import main
from pytest_llmgate.datasets import load_cases


def _cli(*args: str, cwd: Path) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        # catch_exceptions=False: a traceback fails the test instead of becoming exit code 1.
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _log(path: Path, inputs: list[object], **extra: object) -> None:
    lines = [json.dumps({"input": value, "output": "x", **extra}) for value in inputs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- message shapes ---------------------------------------------------------------------------

OPENAI_PARTS = [
    {"role": "system", "content": "You are a support agent."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Why was I charged twice?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    },
]
OPENAI_TOOLS = [
    {"role": "developer", "content": "Be brief."},
    {"role": "user", "content": "Where is order A-17?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"id": "A-17"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "shipped on May 2"},
    {"role": "assistant", "content": [{"type": "text", "text": "It shipped on May 2."}]},
    {"role": "user", "content": [{"type": "text", "text": "And when does it arrive?"}]},
]
OPENAI_RESPONSES = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Cancel my plan"}]},
    {"type": "function_call", "call_id": "c1", "name": "cancel", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "cancelled"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Refund the last month?"}]},
]
ANTHROPIC = [
    {"role": "user", "content": [{"type": "text", "text": "What is the status of A-18?"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "lookup_order", "input": {"id": "A-18"}},
        ],
    },
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "delayed"}]}],
    },
    {"role": "assistant", "content": "It is delayed."},
    {"role": "user", "content": "Why?"},
]
SEMCONV = [
    {"role": "system", "parts": [{"type": "text", "content": "You help."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Reset my password"}]},
]


def test_every_sdk_message_shape_imports_with_its_text(tmp_path: Path) -> None:
    single_message = {"role": "user", "content": [{"type": "text", "text": "Do you ship to Canada?"}]}
    _log(tmp_path / "log.jsonl", [OPENAI_PARTS, OPENAI_TOOLS, OPENAI_RESPONSES, ANTHROPIC, SEMCONV, single_message])
    code, out = _cli("import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 0, out
    assert "appended 6 pending case(s)" in out
    assert [case["input"] for case in _read(tmp_path / "g.jsonl")] == [
        "Why was I charged twice?",
        [
            {"role": "user", "content": "Where is order A-17?"},
            {"role": "tool", "content": "shipped on May 2"},
            {"role": "assistant", "content": "It shipped on May 2."},
            {"role": "user", "content": "And when does it arrive?"},
        ],
        [
            {"role": "user", "content": "Cancel my plan"},
            {"role": "assistant", "content": "Done."},
            {"role": "user", "content": "Refund the last month?"},
        ],
        [
            {"role": "user", "content": "What is the status of A-18?"},
            {"role": "assistant", "content": "Let me check."},
            {"role": "user", "content": "delayed"},
            {"role": "assistant", "content": "It is delayed."},
            {"role": "user", "content": "Why?"},
        ],
        "Reset my password",
        "Do you ship to Canada?",
    ]
    # What was written loads as the golden set's own cases (conversations as lists of messages).
    cases = load_cases(tmp_path / "g.jsonl", include_inactive=True)
    assert [len(c.conversation or []) for c in cases] == [0, 4, 3, 5, 0, 0]


def test_content_part_questions_are_not_taken_for_duplicates_of_an_empty_one(tmp_path: Path) -> None:
    questions = [f"question {i} about billing" for i in range(3)]
    _log(tmp_path / "log.jsonl", [[{"role": "user", "content": [{"type": "text", "text": q}]}] for q in questions])
    code, out = _cli("import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 0 and "skipped" not in out, out
    assert [case["input"] for case in _read(tmp_path / "g.jsonl")] == questions


def test_tool_calls_in_openai_and_anthropic_shapes_become_candidates(tmp_path: Path) -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"id": "A-17"}'}},
        {"type": "tool_use", "id": "t1", "name": "refund", "input": {"amount": 5}},
    ]
    _log(tmp_path / "log.jsonl", ["Refund A-17"], calls=calls)
    code, out = _cli(
        "import", "log.jsonl", "--format", "jsonl", "--tool-calls-field", "calls", "--to", "g.jsonl", cwd=tmp_path
    )
    assert code == 0, out
    assert _read(tmp_path / "g.jsonl")[0]["metadata"]["candidate_tool_calls"] == [
        {"name": "lookup_order", "arguments": {"id": "A-17"}},
        {"name": "refund", "arguments": {"amount": 5}},
    ]


def _kv(key: str, value: object) -> dict:
    return {"key": key, "value": {"stringValue": value if isinstance(value, str) else json.dumps(value)}}


def _otlp(spans: list[object]) -> dict:
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}


def _chat_span(attributes: list[object], **extra: object) -> dict:
    return {"traceId": "ab" * 16, "spanId": "01", "name": "chat", "attributes": attributes, **extra}


def test_otlp_output_messages_of_either_sdk_give_text_and_tool_calls(tmp_path: Path) -> None:
    openai_out = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Checking."}],
            "tool_calls": [{"type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}],
        }
    ]
    anthropic_out = [{"role": "assistant", "content": [{"type": "tool_use", "name": "refund", "input": {"n": 2}}]}]
    spans = [
        _chat_span([_kv("gen_ai.input.messages", OPENAI_PARTS), _kv("gen_ai.output.messages", openai_out)]),
        _chat_span([_kv("gen_ai.input.messages", ANTHROPIC), _kv("gen_ai.output.messages", anthropic_out)]),
    ]
    (tmp_path / "spans.json").write_text(json.dumps(_otlp(spans)), encoding="utf-8")
    code, out = _cli("import", "spans.json", "--format", "otlp", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 0, out
    first, second = _read(tmp_path / "g.jsonl")
    assert first["input"] == "Why was I charged twice?" and first["metadata"]["provenance"]["output"] == "Checking."
    assert first["metadata"]["candidate_tool_calls"] == [{"name": "lookup", "arguments": {"q": 1}}]
    assert second["metadata"]["candidate_tool_calls"] == [{"name": "refund", "arguments": {"n": 2}}]
    assert isinstance(second["input"], list) and second["input"][-1] == {"role": "user", "content": "Why?"}


# -- malformed records ------------------------------------------------------------------------

GOOD = _kv("gen_ai.input.messages", [{"role": "user", "content": "hi"}])


def _nested_kvlist(depth: int) -> dict:
    value: dict = {"stringValue": "x"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


MALFORMED_OTLP = {
    "resourceSpans a string": ({"resourceSpans": "x"}, "spans.json: 'resourceSpans' must be an array, got a string."),
    "resource a string": (
        {"resourceSpans": ["x"]},
        "spans.json: resourceSpans[0]: expected an object holding 'scopeSpans', got a string.",
    ),
    "scopeSpans an object": (
        {"resourceSpans": [{"scopeSpans": {"spans": []}}]},
        "spans.json: resourceSpans[0]: 'scopeSpans' must be an array, got an object.",
    ),
    "spans a number": (
        {"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]},
        "spans.json: resourceSpans[0].scopeSpans[0]: 'spans' must be an array, got a number.",
    ),
    "span a string": (_otlp(["x"]), "spans.json: span 1 must be an object, got a string."),
    "attributes an object": (
        _otlp([_chat_span({"k": "v"})]),  # type: ignore[arg-type]
        "spans.json: span 1 (spanId 01): 'attributes' must be an array, got an object.",
    ),
    "attribute a string": (
        _otlp([_chat_span(["gen_ai.system"])]),
        "spans.json: span 1 (spanId 01): an attribute must be an object with a string 'key'",
    ),
    "attribute key a number": (
        _otlp([_chat_span([{"key": 5, "value": {"stringValue": "x"}}])]),
        "spans.json: span 1 (spanId 01): an attribute must be an object with a string 'key'",
    ),
    "intValue not digits": (
        _otlp([_chat_span([GOOD, {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12a"}}])]),
        "spans.json: span 1 (spanId 01): attribute 'gen_ai.usage.input_tokens': intValue must be an integer",
    ),
    "doubleValue a list": (
        _otlp([_chat_span([GOOD, {"key": "t", "value": {"doubleValue": [1]}}])]),
        "spans.json: span 1 (spanId 01): attribute 't': doubleValue must be a number",
    ),
    "arrayValue a string": (
        _otlp([_chat_span([GOOD, {"key": "a", "value": {"arrayValue": "x"}}])]),
        "spans.json: span 1 (spanId 01): attribute 'a': expected an object holding 'values', got a string.",
    ),
    "kvlist item a number": (
        _otlp([_chat_span([GOOD, {"key": "m", "value": {"kvlistValue": {"values": [1]}}}])]),
        "spans.json: span 1 (spanId 01): attribute 'm': an attribute must be an object with a string 'key'",
    ),
    "nested 60 kvlists deep": (
        _otlp([_chat_span([GOOD, {"key": "deep", "value": _nested_kvlist(60)}])]),
        "spans.json: arrays or objects nested more than 200 levels deep",
    ),
    "messages not JSON": (
        _otlp([_chat_span([{"key": "gen_ai.input.messages", "value": {"stringValue": "[{oops"}}])]),
        "spans.json: span 1 (spanId 01): gen_ai.input.messages: not valid JSON",
    ),
    "messages strings": (
        _otlp([_chat_span([_kv("gen_ai.input.messages", ["hi"])])]),
        "spans.json: span 1 (spanId 01): gen_ai.input.messages: message 0 must be an object with a 'role'",
    ),
    "messages an object": (
        _otlp([_chat_span([_kv("gen_ai.input.messages", {"role": "user"})])]),
        "spans.json: span 1 (spanId 01): gen_ai.input.messages: messages must be a list of objects with a 'role', got an object.",
    ),
    "unknown role": (
        _otlp([_chat_span([_kv("gen_ai.input.messages", [{"role": "robot", "content": "x"}])])]),
        "spans.json: span 1 (spanId 01): gen_ai.input.messages: message 0 has role 'robot'",
    ),
    "parts a string": (
        _otlp([_chat_span([_kv("gen_ai.input.messages", [{"role": "user", "parts": "hi"}])])]),
        "spans.json: span 1 (spanId 01): gen_ai.input.messages: message 0: 'content' must be text",
    ),
    "status a string": (
        _otlp([_chat_span([GOOD], status="error")]),
        "spans.json: span 1 (spanId 01): 'status' must be an object with a 'code', got a string.",
    ),
    "legacy prompt without role": (
        _otlp([_chat_span([_kv("gen_ai.prompt.0.content", "hi")])]),
        "spans.json: span 1 (spanId 01): gen_ai.prompt.N: message 0 must be an object with a 'role'",
    ),
    "only an empty user text": (
        _otlp(
            [_chat_span([_kv("gen_ai.input.messages", [{"role": "user", "content": [{"type": "text", "text": " "}]}])])]
        ),
        "spans.json: span 1 (spanId 01): the input messages hold no user message with text.",
    ),
}


@pytest.mark.parametrize("shape", sorted(MALFORMED_OTLP))
def test_every_malformed_otlp_shape_is_a_located_error(tmp_path: Path, shape: str) -> None:
    document, message = MALFORMED_OTLP[shape]
    (tmp_path / "spans.json").write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "g.jsonl").write_text('{"id": "a", "input": "kept"}\n', encoding="utf-8")
    code, out = _cli("import", "spans.json", "--format", "otlp", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 1
    assert message in out and "Nothing was appended." in out
    assert (tmp_path / "g.jsonl").read_text(encoding="utf-8") == '{"id": "a", "input": "kept"}\n'


@pytest.mark.parametrize("fmt", ["jsonl", "otlp"])
def test_json_nested_past_the_recursion_limit_is_a_located_error(tmp_path: Path, fmt: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    first = '{"input": "ok"}\n' if fmt == "jsonl" else ""
    (tmp_path / "log.jsonl").write_text(first + deep + "\n", encoding="utf-8")
    code, out = _cli("import", "log.jsonl", "--format", fmt, "--to", "g.jsonl", cwd=tmp_path)
    assert code == 1 and "Nothing was appended." in out
    where = "log.jsonl:2: " if fmt == "jsonl" else "log.jsonl:1: "
    assert f"{where}arrays or objects nested more than 200 levels deep" in out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"input": [{"role": "user"}]}', "log.jsonl:1: the input messages hold no user message with text."),
        ('{"input": ["hi"]}', "log.jsonl:1: field 'input': message 0 must be an object with a 'role'"),
        (
            '{"input": [{"role": "user", "content": 5}]}',
            "log.jsonl:1: field 'input': message 0: 'content' must be text",
        ),
        ('{"input": "q", "calls": "x"}', "log.jsonl:1: field 'calls': tool calls must be a list"),
        ('"just a string"', "log.jsonl:1: expected a JSON object, got a string"),
    ],
)
def test_malformed_jsonl_records_are_located_errors(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "log.jsonl").write_text(line + "\n", encoding="utf-8")
    code, out = _cli(
        "import", "log.jsonl", "--format", "jsonl", "--tool-calls-field", "calls", "--to", "g.jsonl", cwd=tmp_path
    )
    assert code == 1 and message in out and "Nothing was appended." in out, out
    assert not (tmp_path / "g.jsonl").exists()


def test_a_lone_surrogate_imports_as_a_replacement_character(tmp_path: Path) -> None:
    # `\ud83d` alone: half of an emoji, cut by max_tokens; JSON allows it, UTF-8 cannot hold it.
    (tmp_path / "log.jsonl").write_text(
        '{"input": "Great service \\ud83d", "output": "Thanks \\ud83d"}\n'
        '{"input": [{"role": "user", "content": "a \\udc00 b"}, {"role": "assistant", "content": "ok"},'
        ' {"role": "user", "content": "more"}], "output": "x"}\n',
        encoding="utf-8",
    )
    code, out = _cli("import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 0, out
    first, second = _read(tmp_path / "g.jsonl")
    assert first["input"] == "Great service \ufffd" and first["metadata"]["provenance"]["output"] == "Thanks \ufffd"
    assert second["input"][0] == {"role": "user", "content": "a \ufffd b"}
    assert len(load_cases(tmp_path / "g.jsonl", include_inactive=True)) == 2


# -- conversations in the target set (issue: Message is not JSON serializable) -----------------

CONVERSATION_SET = [
    '{"id": "plain-1", "input": "Where is my order?", "reference": "In your account."}',
    '{"id": "conv-1", "input": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},'
    ' {"role": "user", "content": "Change my address"}], "reference": "Done."}',
]


def test_import_into_a_set_with_conversations_keeps_every_line_and_writes_the_list_format(tmp_path: Path) -> None:
    target = tmp_path / "g.jsonl"
    target.write_text("\n".join(CONVERSATION_SET) + "\n", encoding="utf-8")
    before = target.read_bytes()
    same = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "change my   address"},
    ]
    new = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hey"},
        {"role": "user", "content": "Cancel"},
    ]
    _log(tmp_path / "log.jsonl", [same, new])
    code, out = _cli("import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl", cwd=tmp_path)
    assert code == 0, out
    assert "skipped log.jsonl:1: same input as conv-1" in out
    assert target.read_bytes().startswith(before)  # every line before keeps its bytes
    added = _read(target)[2:]
    assert [case["input"] for case in added] == [new]
    assert len(load_cases(target, include_inactive=True)) == 3


def test_review_of_a_case_holding_a_lone_surrogate_writes_valid_utf8(tmp_path: Path) -> None:
    from pytest_llmgate.golden.review import ReviewSession

    golden = tmp_path / "g.jsonl"
    golden.write_text(
        '{"id": "t-1", "input": "cut \\ud83d", "metadata": {"review": "pending"}}\n'
        '{"id": "t-2", "input": "two", "metadata": {"review": "pending"}}\n',
        encoding="utf-8",
    )
    session = ReviewSession(golden, "ria")
    assert [case["input"] for case in session.state()["cases"]] == ["cut \ud83d", "two"]
    assert session.approve("t-1", "fixed \ud83d")["review"] == "approved"
    golden.read_bytes().decode("utf-8")  # still UTF-8: the surrogate stays a \u escape
    approved = load_cases(golden)[0]
    assert approved.input == "cut \ud83d" and approved.reference == "fixed \ufffd"
    assert _read(golden)[1]["input"] == "two"
