"""Tests of the programmatic checks: each passes on good output, fails on bad output, and
its failure message (the user's only clue in a CI log) is asserted word for word."""

from __future__ import annotations

import re
import textwrap
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest

from pytest_llmgate import checks
from pytest_llmgate.checks import CheckFailed, ObservedCall, structured


def failure(check: Any, *args: Any, **kwargs: Any) -> str:
    """Run a check that must fail and return its message."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    assert isinstance(info.value, AssertionError)
    return str(info.value)


class Order(pydantic.BaseModel):
    order_id: str
    total: float = pydantic.Field(ge=0)
    status: str


class RefundArgs(pydantic.BaseModel):
    order_id: str
    amount: float = pydantic.Field(gt=0, le=120)


ORDER_SCHEMA = {
    "title": "order",
    "type": "object",
    "required": ["order_id", "total"],
    "properties": {
        "order_id": {"type": "string"},
        "total": {"type": "number", "minimum": 0},
        "status": {"enum": ["open", "shipped", "refunded"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {
                    "sku": {"type": "string"},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 10},
                },
            },
        },
    },
    "additionalProperties": False,
}

# A support agent's tool calls in three shapes: plain mapping, OpenAI chat completions
# (arguments as a JSON string), Anthropic tool_use block (.name and .input).
AGENT_CALLS = [
    {"name": "lookup_order", "arguments": {"order_id": "A-1042"}},
    {
        "type": "function",
        "function": {
            "name": "issue_refund",
            "arguments": '{"order_id": "A-1042", "amount": 150.0}',
        },
    },
    SimpleNamespace(
        type="tool_use",
        id="toolu_1",
        name="send_email",
        input={"to": "ana@example.com", "template": "refund"},
    ),
]

AGENT_LISTING = """calls (3):
  [0] lookup_order(order_id='A-1042')
  [1] issue_refund(order_id='A-1042', amount=150.0)
  [2] send_email(to='ana@example.com', template='refund')"""


@pytest.fixture(params=["builtin", "jsonschema"])
def schema_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run JSON Schema tests on the built-in subset and, when installed, on jsonschema."""
    if request.param == "builtin":
        monkeypatch.setattr(structured, "_load_jsonschema", lambda: None)
    else:
        pytest.importorskip("jsonschema")
    return request.param


# --------------------------------------------------------------------------- valid_json


def test_valid_json_returns_the_parsed_value() -> None:
    assert checks.valid_json('{"order_id": "A-1042", "total": 120.0, "items": [1, 2]}') == {
        "order_id": "A-1042",
        "total": 120.0,
        "items": [1, 2],
    }
    assert checks.valid_json("[]") == []


def test_valid_json_points_at_line_and_column() -> None:
    text = '{\n  "order_id": "A-1042"\n  "total": 120.0\n}'
    assert failure(checks.valid_json, text) == (
        "expected valid JSON, got a parse error at line 3, column 3: Expecting ',' delimiter\n"
        '    "total": 120.0\n'
        "    ^\n"
        'text: \'{\\n  "order_id": "A-1042"\\n  "total": 120.0\\n}\''
    )


def test_valid_json_windows_a_long_line_and_truncates_the_text() -> None:
    text = '{"answer": "' + "x" * 300 + '" "extra": 1}'
    message = failure(checks.valid_json, text)
    first, pointer, caret, shown = message.split("\n")
    assert first == "expected valid JSON, got a parse error at line 1, column 315: Expecting ',' delimiter"
    assert pointer == "  ..." + "x" * 38 + '" "extra": 1}'
    assert caret.index("^") == pointer.index('"extra"')
    assert shown == f"text: {text[:200]!r}... [truncated, 325 chars total]"


def test_valid_json_hints_at_a_markdown_fence() -> None:
    assert failure(checks.valid_json, '```json\n{"ok": true}\n```') == (
        "expected valid JSON, got a parse error at line 1, column 1: Expecting value\n"
        "  ```json\n"
        "  ^\n"
        "text: '```json\\n{\"ok\": true}\\n```'\n"
        "hint: the JSON is wrapped in a markdown code fence; ask for bare JSON or strip the fence."
    )


def test_valid_json_rejects_nan_empty_text_and_non_text() -> None:
    assert failure(checks.valid_json, '{"score": NaN}') == (
        "expected valid JSON, got NaN, which JSON does not allow (use null or a number)\ntext: '{\"score\": NaN}'"
    )
    assert failure(checks.valid_json, "  \n") == "expected valid JSON, got empty text: '  \\n'"
    assert failure(checks.valid_json, None) == "expected text (str) to check, got NoneType: None"


def test_failure_does_not_chain_the_parse_error() -> None:
    with pytest.raises(CheckFailed) as info:
        checks.valid_json("{")
    assert info.value.__suppress_context__ is True
    assert info.value.__cause__ is None


# --------------------------------------------------------------------------- matches_schema


def test_matches_schema_with_a_model_returns_the_model() -> None:
    order = checks.matches_schema({"order_id": "A-1042", "total": 120, "status": "shipped"}, Order)
    assert order == Order(order_id="A-1042", total=120.0, status="shipped")
    from_text = checks.matches_schema('{"order_id": "A-1042", "total": 0, "status": "open"}', Order)
    assert from_text == Order(order_id="A-1042", total=0.0, status="open")


def test_matches_schema_with_a_model_lists_every_error() -> None:
    assert failure(checks.matches_schema, {"order_id": "A-1042", "total": -5}, Order) == (
        "expected value to match Order, got 2 errors:\n"
        "  $.total: Input should be greater than or equal to 0 (got -5)\n"
        "  $.status: Field required\n"
        "value: {'order_id': 'A-1042', 'total': -5}"
    )


def test_matches_schema_with_a_json_schema(schema_backend: str) -> None:
    good = {
        "order_id": "A-1042",
        "total": 120.0,
        "status": "shipped",
        "items": [{"sku": "KB-1", "qty": 2.0}],
    }
    assert checks.matches_schema(good, ORDER_SCHEMA) is good
    bad = {
        "total": -1,
        "status": "lost",
        "items": [{"sku": "KB-1", "qty": 0}, {"qty": 1.5}],
        "note": "hi",
        "coupon": 1,
    }
    assert failure(checks.matches_schema, bad, ORDER_SCHEMA) == (
        "expected value to match JSON Schema 'order', got 7 errors:\n"
        "  $: 'order_id' is a required property\n"
        "  $: Additional properties are not allowed ('coupon', 'note' were unexpected)\n"
        "  $.items[0].qty: 0 is less than the minimum of 1\n"
        "  $.items[1]: 'sku' is a required property\n"
        "  $.items[1].qty: 1.5 is not of type 'integer'\n"
        "  $.status: 'lost' is not one of ['open', 'shipped', 'refunded']\n"
        "  $.total: -1 is less than the minimum of 0\n"
        "value: {'total': -1, 'status': 'lost', 'items': [{'sku': 'KB-1', 'qty': 0}, {'qty': 1.5}], 'note': 'hi', 'coupon': 1}"
    )


def test_json_schema_types_follow_json_not_python(schema_backend: str) -> None:
    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer"}, "flag": {"type": ["boolean", "null"]}},
    }
    assert checks.matches_schema({"count": 3, "flag": None}, schema) == {"count": 3, "flag": None}
    assert failure(checks.matches_schema, {"count": True, "flag": 0}, schema) == (
        "expected value to match the JSON Schema, got 2 errors:\n"
        "  $.count: True is not of type 'integer'\n"
        "  $.flag: 0 is not of type 'boolean', 'null'\n"
        "value: {'count': True, 'flag': 0}"
    )
    assert failure(checks.matches_schema, {"status": 1}, {"properties": {"status": {"enum": [True]}}}).startswith(
        "expected value to match the JSON Schema, got 1 error:\n  $.status: 1 is not one of [True]\n"
    )
    extra = {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "properties": {"id": {"type": "integer"}},
    }
    assert failure(checks.matches_schema, {"id": 1, "tag": 2}, extra).startswith(
        "expected value to match the JSON Schema, got 1 error:\n  $.tag: 2 is not of type 'string'\n"
    )


def test_builtin_schema_subset_refuses_keywords_it_cannot_enforce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(structured, "_load_jsonschema", lambda: None)
    schema = {"type": "object", "properties": {"email": {"type": "string", "pattern": "@"}}}
    with pytest.raises(ValueError) as info:
        checks.matches_schema({"email": "nobody"}, schema)
    assert str(info.value) == (
        "JSON Schema keyword 'pattern' at $.properties.email needs the jsonschema package (pip install jsonschema);"
        " without it the supported keywords are: additionalProperties, enum, items, maximum, minimum, properties,"
        " required, type."
    )
    with pytest.raises(ValueError, match=r"^JSON Schema at \$ has an unknown type 'int'; use one of "):
        checks.matches_schema(1, {"type": "int"})


def test_invalid_schema_is_a_usage_error_with_jsonschema() -> None:
    pytest.importorskip("jsonschema")
    with pytest.raises(ValueError) as info:
        checks.matches_schema({}, {"type": "object", "properties": {"total": {"minimum": "zero"}}})
    assert str(info.value) == (
        "'schema' is not a valid JSON Schema: 'zero' is not of type 'number' (at $.properties.total.minimum)."
    )


def test_matches_schema_rejects_a_schema_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError) as info:
        checks.matches_schema({}, "Order")
    assert str(info.value) == "'schema' must be a pydantic model class or a JSON Schema dict (got str)."


# --------------------------------------------------------------------------- has_fields


def test_has_fields_accepts_dotted_paths_and_list_indexes() -> None:
    reply = {"order": {"id": "A-1042", "note": None, "items": [{"sku": "KB-1"}]}}
    assert checks.has_fields(reply, "order.id", "order.note", "order.items.0.sku") is None


def test_has_fields_explains_each_missing_field() -> None:
    reply = {"order": {"id": "A-1042", "items": [{"sku": "KB-1"}]}, "status": "ok"}
    message = failure(
        checks.has_fields,
        reply,
        "order.id",
        "order.total",
        "refund.amount",
        "order.items.1.sku",
        "status.code",
    )
    assert message == (
        "expected fields 'order.id', 'order.total', 'refund.amount', 'order.items.1.sku', 'status.code', 4 missing:\n"
        "  'order.total': 'order' has no key 'total' (keys: 'id', 'items')\n"
        "  'refund.amount': value has no key 'refund' (keys: 'order', 'status')\n"
        "  'order.items.1.sku': 'order.items' has 1 item, no index 1\n"
        "  'status.code': 'status' is str 'ok', not a mapping\n"
        "value: {'order': {'id': 'A-1042', 'items': [{'sku': 'KB-1'}]}, 'status': 'ok'}"
    )
    assert failure(checks.has_fields, ["A-1042"], "order.id") == (
        "expected a mapping with fields 'order.id', got list: ['A-1042']"
    )


# --------------------------------------------------------------------------- regex


def test_matches_returns_the_match() -> None:
    match = checks.matches("Your order ORD-104233 has shipped.", r"\bORD-(\d{6})\b")
    assert match.group(1) == "104233"
    assert checks.matches("REFUND issued", "refund", flags=re.IGNORECASE).span() == (0, 6)


def test_matches_fails_with_the_pattern_as_written() -> None:
    assert failure(checks.matches, "Your order ORD-10 has shipped.", r"\bORD-\d{6}\b") == (
        "expected text to match regex r'\\bORD-\\d{6}\\b'\ntext: 'Your order ORD-10 has shipped.'"
    )
    assert failure(checks.matches, "no", re.compile("^yes$"), flags=0).startswith(
        "expected text to match regex r'^yes$'\n"
    )
    assert failure(checks.matches, "Shipped", "refund", flags=re.IGNORECASE | re.MULTILINE) == (
        "expected text to match regex r'refund' (flags: re.IGNORECASE|re.MULTILINE)\ntext: 'Shipped'"
    )


def test_not_matches_shows_what_matched_and_where() -> None:
    assert checks.not_matches("Call our support line.", r"\d{3}-\d{3}-\d{4}") is None
    text = "Sure! Call me directly at 555-123-4567 and I will sort out your refund today, promise."
    assert failure(checks.not_matches, text, r"\d{3}-\d{3}-\d{4}") == (
        "expected text not to match regex r'\\d{3}-\\d{3}-\\d{4}', matched '555-123-4567' at char 26:"
        " 'Sure! Call me directly at 555-123-4567 and I will sort out your refu...'"
    )


# --------------------------------------------------------------------------- phrases


def test_no_banned_phrases_respects_word_boundaries() -> None:
    text = "The classic keyboard ships in a glass box; we assess returns within 30 days."
    assert checks.no_banned_phrases(text, ["ass", "as an AI", "guarantee"]) is None
    assert checks.no_banned_phrases("I GUARANTEE it", ["guarantee"], case_sensitive=True) is None


def test_no_banned_phrases_lists_every_hit_in_text_order() -> None:
    text = "As an\nAI language model, I can't guarantee a refund. We GUARANTEE nothing!!!"
    assert failure(checks.no_banned_phrases, text, ["guarantee", "as an AI", "!!!"]) == (
        "expected no banned phrases (case-insensitive), found 4 hits:\n"
        "  'as an AI' at char 0: \"As an\\nAI language model, I can't guara...\"\n"
        "  'guarantee' at char 33: \"...an\\nAI language model, I can't guarantee a refund. We GUARANTEE nothin...\"\n"
        "  'guarantee' at char 56: \"... can't guarantee a refund. We GUARANTEE nothing!!!\"\n"
        "  '!!!' at char 73: '...a refund. We GUARANTEE nothing!!!'"
    )


def test_no_banned_phrases_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError) as info:
        checks.no_banned_phrases("text", "as an AI")
    assert str(info.value) == (
        "'phrases' must be a list of phrases, not one string (got 'as an AI'); wrap it: ['as an AI']."
    )


# --------------------------------------------------------------------------- contains


def test_contains_passes_and_names_the_missing_needles() -> None:
    reply = "Your refund of $120.00 for order A-1042 was issued."
    assert checks.contains(reply, "REFUND", "a-1042") is None
    assert failure(checks.contains, reply, "refund", "ORD-1042", "tracking number") == (
        "expected text to contain 'refund', 'ORD-1042', 'tracking number' (case-insensitive),"
        " missing 'ORD-1042', 'tracking number'\n"
        "text: 'Your refund of $120.00 for order A-1042 was issued.'"
    )
    assert failure(checks.contains, reply, "Order", case_sensitive=True).startswith(
        "expected text to contain 'Order' (case-sensitive), missing 'Order'\n"
    )


def test_contains_truncates_long_text() -> None:
    reply = "word " * 100
    assert failure(checks.contains, reply, "refund") == (
        "expected text to contain 'refund' (case-insensitive), missing 'refund'\n"
        f"text: {reply[:200]!r}... [truncated, 500 chars total]"
    )


def test_not_contains_shows_where_each_needle_is() -> None:
    reply = "Your refund was issued. Internal note: password is hunter2."
    assert checks.not_contains(reply, "api key", "ssn") is None
    assert failure(checks.not_contains, reply, "PASSWORD", "api key", "hunter2") == (
        "expected text not to contain 'PASSWORD', 'api key', 'hunter2' (case-insensitive), found:\n"
        "  'PASSWORD' at char 39: '...nd was issued. Internal note: password is hunter2.'\n"
        "  'hunter2' at char 51: '...d. Internal note: password is hunter2.'"
    )
    assert checks.not_contains(reply, "PASSWORD", case_sensitive=True) is None


def test_contains_refuses_empty_needles() -> None:
    with pytest.raises(TypeError) as info:
        checks.contains("text")
    assert str(info.value) == "contains() needs at least one string to look for, e.g. contains(text, 'refund')."
    with pytest.raises(TypeError, match=r"^not_contains\(\) needles must be non-empty strings \(got ''\)\.$"):
        checks.not_contains("text", "")


# --------------------------------------------------------------------------- length


def test_length_within_bounds() -> None:
    assert checks.length("Your refund was issued.", min_words=2, max_words=4, min_chars=10, max_chars=23) is None


def test_length_reports_every_bound_broken() -> None:
    assert failure(checks.length, "one two three four five", max_words=3, min_chars=30) == (
        "expected at least 30 chars (min_chars), got 23\n"
        "expected at most 3 words (max_words), got 5\n"
        "text: 'one two three four five'"
    )
    assert failure(checks.length, "ok", min_words=1, max_chars=1) == (
        "expected at most 1 char (max_chars), got 2\ntext: 'ok'"
    )


def test_length_validates_its_bounds() -> None:
    with pytest.raises(TypeError, match=r"^length\(\) needs at least one bound"):
        checks.length("text")
    with pytest.raises(ValueError) as info:
        checks.length("text", max_words=-1)
    assert str(info.value) == "'max_words' must be a non-negative integer (got -1)."
    with pytest.raises(ValueError) as info:
        checks.length("text", min_chars=10, max_chars=5)
    assert str(info.value) == "'min_chars' (10) must not exceed 'max_chars' (5)."


# --------------------------------------------------------------------------- tool calls


def test_calls_are_normalised_from_every_shape() -> None:
    class Args(pydantic.BaseModel):
        order_id: str

    shapes = [
        *AGENT_CALLS,
        SimpleNamespace(name="lookup_order", arguments=Args(order_id="B-7")),
        SimpleNamespace(id="call_9", function=SimpleNamespace(name="escalate", arguments="{}")),
        {"name": "ping"},
    ]
    found = checks.tool_called(shapes, "lookup_order", times=2)
    assert found == [
        ObservedCall("lookup_order", {"order_id": "A-1042"}, 0, AGENT_CALLS[0]),
        ObservedCall("lookup_order", {"order_id": "B-7"}, 3, shapes[3]),
    ]
    assert checks.tool_called(shapes, "issue_refund")[0].arguments == {
        "order_id": "A-1042",
        "amount": 150.0,
    }
    assert checks.tool_called(shapes, "send_email")[0].arguments == {
        "to": "ana@example.com",
        "template": "refund",
    }
    assert checks.tool_called(shapes, "escalate")[0].index == 4
    assert checks.tool_called(shapes, "ping")[0].arguments == {}
    no_arguments = [{"type": "function", "function": {"name": "ping", "arguments": ""}}]
    assert checks.tool_called(no_arguments, "ping")[0].arguments == {}


def test_bad_call_arguments_fail_the_check() -> None:
    calls = [{"type": "function", "function": {"name": "issue_refund", "arguments": '{"amount": 12'}}]
    assert failure(checks.tool_called, calls, "issue_refund") == (
        "expected the arguments of tool call [0] 'issue_refund' to be JSON, got a parse error at line 1,"
        " column 14: Expecting ',' delimiter\n"
        "arguments: '{\"amount\": 12'"
    )
    assert failure(checks.tool_called, [{"name": "search", "arguments": "[1, 2]"}], "search") == (
        "expected the arguments of tool call [0] 'search' to be an object, got list: [1, 2]"
    )


def test_calls_of_the_wrong_shape_are_a_usage_error() -> None:
    with pytest.raises(TypeError) as info:
        checks.tool_called([{"tool": "lookup_order"}], "lookup_order")
    assert str(info.value) == (
        "tool call [0] has no name (got {'tool': 'lookup_order'}); pass mappings"
        " {'name': ..., 'arguments': {...}} or objects with .name and .arguments."
    )
    with pytest.raises(TypeError, match=r"^'calls' must be a sequence of tool calls \(got dict\)"):
        checks.tool_called({"name": "lookup_order"}, "lookup_order")


def test_tool_called() -> None:
    assert [call.index for call in checks.tool_called(AGENT_CALLS, "issue_refund", times=1)] == [1]
    assert failure(checks.tool_called, AGENT_CALLS, "issue_refund", times=2) == (
        "expected tool 'issue_refund' to be called 2 times, it was called 1 time\n" + AGENT_LISTING
    )
    assert failure(checks.tool_called, AGENT_CALLS, "cancel_order") == (
        "expected tool 'cancel_order' to be called, it was not called\n" + AGENT_LISTING
    )
    assert failure(checks.tool_called, None, "cancel_order") == (
        "expected tool 'cancel_order' to be called, it was not called\ncalls: none"
    )
    assert checks.tool_called(None, "cancel_order", times=0) == []


def test_tool_called_lists_at_most_twenty_calls() -> None:
    calls = [{"name": "search", "arguments": {"page": page}} for page in range(25)]
    message = failure(checks.tool_called, calls, "search", times=3)
    lines = message.split("\n")
    assert lines[:3] == [
        "expected tool 'search' to be called 3 times, it was called 25 times",
        "calls (25):",
        "  [0] search(page=0)",
    ]
    assert lines[-2:] == ["  [19] search(page=19)", "  ... and 5 more"]


def test_tool_not_called() -> None:
    assert checks.tool_not_called(AGENT_CALLS, "delete_account") is None
    assert failure(checks.tool_not_called, AGENT_CALLS, "issue_refund") == (
        "expected tool 'issue_refund' not to be called, it was called 1 time (at [1])\n" + AGENT_LISTING
    )


def test_tools_called_in_order_allows_interleaved_calls() -> None:
    assert checks.tools_called_in_order(AGENT_CALLS, ["lookup_order", "send_email"]) is None
    assert checks.tools_called_in_order(AGENT_CALLS, ["lookup_order", "issue_refund", "send_email"]) is None


def test_tools_called_in_order_explains_where_the_order_broke() -> None:
    assert failure(checks.tools_called_in_order, AGENT_CALLS, ["issue_refund", "lookup_order"]) == (
        "expected tools called in order issue_refund -> lookup_order, no call of 'lookup_order' after"
        " 'issue_refund' at [1] ('lookup_order' was called only before, at [0])\n" + AGENT_LISTING
    )
    assert failure(checks.tools_called_in_order, AGENT_CALLS, ["verify_identity", "issue_refund"]) == (
        "expected tools called in order verify_identity -> issue_refund, no call of 'verify_identity'\n" + AGENT_LISTING
    )
    with pytest.raises(
        TypeError,
        match=r"^'names' must be a non-empty list of tool names \(got 'lookup_order'\)\.$",
    ):
        checks.tools_called_in_order(AGENT_CALLS, "lookup_order")


def test_tool_arguments_returns_validated_models() -> None:
    calls = [
        {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 40}},
        {"name": "issue_refund", "arguments": {"order_id": "A-1043", "amount": 80.5}},
    ]
    assert checks.tool_arguments(calls, "issue_refund", RefundArgs) == [
        RefundArgs(order_id="A-1042", amount=40.0),
        RefundArgs(order_id="A-1043", amount=80.5),
    ]
    assert checks.tool_arguments(AGENT_CALLS, "lookup_order", {"required": ["order_id"]}) == [{"order_id": "A-1042"}]


def test_tool_arguments_lists_each_invalid_call(schema_backend: str) -> None:
    calls = [
        *AGENT_CALLS,
        {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 20}},
        {"name": "issue_refund", "arguments": {"amount": -3}},
    ]
    assert failure(checks.tool_arguments, calls, "issue_refund", RefundArgs) == (
        "expected the arguments of every call of 'issue_refund' to match RefundArgs, 2 of 3 calls did not:\n"
        "  [1] issue_refund(order_id='A-1042', amount=150.0)\n"
        "    $.amount: Input should be less than or equal to 120 (got 150.0)\n"
        "  [4] issue_refund(amount=-3)\n"
        "    $.order_id: Field required\n"
        "    $.amount: Input should be greater than 0 (got -3)"
    )
    schema = {
        "type": "object",
        "required": ["order_id"],
        "properties": {"amount": {"maximum": 120}},
    }
    assert failure(checks.tool_arguments, calls, "issue_refund", schema) == (
        "expected the arguments of every call of 'issue_refund' to match the JSON Schema, 2 of 3 calls did not:\n"
        "  [1] issue_refund(order_id='A-1042', amount=150.0)\n"
        "    $.amount: 150.0 is greater than the maximum of 120\n"
        "  [4] issue_refund(amount=-3)\n"
        "    $: 'order_id' is a required property"
    )


def test_tool_arguments_needs_at_least_one_call() -> None:
    assert failure(checks.tool_arguments, AGENT_CALLS, "cancel_order", RefundArgs) == (
        "expected tool 'cancel_order' to be called to check its arguments, it was not called\n" + AGENT_LISTING
    )


def test_tool_argument_constraint() -> None:
    within = [{"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 120.0}}]
    description = "refund amount <= order total 120.00"
    assert (
        checks.tool_argument_constraint(within, "issue_refund", lambda a: a["amount"] <= 120.0, description=description)
        is None
    )
    calls = [*AGENT_CALLS, {"name": "issue_refund", "arguments": {"order_id": "A-1042"}}]
    assert failure(
        checks.tool_argument_constraint,
        calls,
        "issue_refund",
        lambda a: a["amount"] <= 120.0,
        description=description,
    ) == (
        "expected every call of 'issue_refund' to satisfy: refund amount <= order total 120.00; 2 of 2 calls did not:\n"
        "  [1] issue_refund(order_id='A-1042', amount=150.0)\n"
        "  [3] issue_refund(order_id='A-1042'): predicate raised KeyError: 'amount'"
    )
    assert failure(checks.tool_argument_constraint, [], "issue_refund", lambda a: True, description=description) == (
        "expected tool 'issue_refund' to be called to check 'refund amount <= order total 120.00',"
        " it was not called\ncalls: none"
    )


def test_tool_argument_constraint_cannot_mutate_the_calls() -> None:
    calls = [{"name": "issue_refund", "arguments": {"amount": 10.0}}]
    checks.tool_argument_constraint(calls, "issue_refund", lambda a: a.pop("amount") > 0, description="positive")
    assert calls[0]["arguments"] == {"amount": 10.0}


# --------------------------------------------------------------------------- tool_calls_match

GOLDEN = [
    {"name": "lookup_order", "arguments": {"order_id": "A-1042"}},
    {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 150}},
    {"name": "send_email", "arguments": {"template": "refund"}},
]


def test_tool_calls_match_in_order_with_subset_arguments() -> None:
    assert checks.tool_calls_match(AGENT_CALLS, GOLDEN) is None
    assert (
        checks.tool_calls_match(
            AGENT_CALLS,
            [{"name": "lookup_order"}, {"name": "issue_refund"}, {"name": "send_email"}],
        )
        is None
    )


def test_tool_calls_match_in_order_shows_a_row_per_position() -> None:
    expected = [
        {"name": "lookup_order", "arguments": {"order_id": "A-1042"}},
        {
            "name": "issue_refund",
            "arguments": {"order_id": "A-1042", "amount": 120.0, "reason": "damaged"},
        },
    ]
    assert failure(checks.tool_calls_match, AGENT_CALLS, expected) == (
        "expected tool calls to match (in order, arguments: subset), 2 differences:\n"
        "  [0] ok: lookup_order\n"
        "  [1] issue_refund: argument 'amount' expected 120.0, got 150.0; argument 'reason' missing (expected 'damaged')\n"
        "  [2] unexpected: send_email(to='ana@example.com', template='refund')"
    )
    assert failure(checks.tool_calls_match, AGENT_CALLS[:1], GOLDEN[1::-1], check_arguments="ignore") == (
        "expected tool calls to match (in order, arguments: ignore), 2 differences:\n"
        "  [0] expected 'issue_refund', got lookup_order(order_id='A-1042')\n"
        "  [1] missing: lookup_order(order_id='A-1042')"
    )


def test_tool_calls_match_exact_arguments() -> None:
    exact = [
        {"name": "lookup_order", "arguments": {"order_id": "A-1042"}},
        {"name": "issue_refund", "arguments": {"amount": 150.0, "order_id": "A-1042"}},
        {"name": "send_email", "arguments": {"to": "ana@example.com", "template": "refund"}},
    ]
    assert checks.tool_calls_match(AGENT_CALLS, exact, check_arguments="exact") is None
    assert failure(checks.tool_calls_match, AGENT_CALLS, GOLDEN, check_arguments="exact") == (
        "expected tool calls to match (in order, arguments: exact), 1 difference:\n"
        "  [0] ok: lookup_order\n"
        "  [1] ok: issue_refund\n"
        "  [2] send_email: unexpected argument to='ana@example.com'"
    )


def test_tool_calls_match_compares_nested_arguments_and_json_types() -> None:
    calls = [
        {
            "name": "create_ticket",
            "arguments": {"customer": {"id": 7, "vip": True, "tier": "gold"}, "tags": ["refund"]},
        }
    ]
    assert checks.tool_calls_match(calls, [{"name": "create_ticket", "arguments": {"customer": {"id": 7.0}}}]) is None
    expected = [
        {
            "name": "create_ticket",
            "arguments": {"customer": {"vip": 1, "tier": "gold"}, "tags": ["refund", "urgent"]},
        }
    ]
    assert failure(checks.tool_calls_match, calls, expected) == (
        "expected tool calls to match (in order, arguments: subset), 1 difference:\n"
        "  [0] create_ticket: argument 'customer.vip' expected 1, got True;"
        " argument 'tags' expected ['refund', 'urgent'], got ['refund']"
    )


def test_tool_calls_match_in_any_order_finds_a_full_matching() -> None:
    calls = [
        {"name": "search", "arguments": {"query": "refund policy", "k": 5}},
        {"name": "search", "arguments": {"query": "shipping"}},
    ]
    # A greedy pass would give the first call to the unconstrained expectation and fail.
    expected = [{"name": "search"}, {"name": "search", "arguments": {"query": "refund policy"}}]
    assert checks.tool_calls_match(calls, expected, ordered=False) is None
    with pytest.raises(CheckFailed):
        checks.tool_calls_match(calls, expected, ordered=True)


def test_tool_calls_match_in_any_order_reports_missing_and_unexpected() -> None:
    expected = [
        {"name": "send_email", "arguments": {"template": "refund"}},
        {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 120.0}},
        {"name": "lookup_order", "arguments": {"order_id": "A-1042"}},
    ]
    assert checks.tool_calls_match(AGENT_CALLS, GOLDEN[::-1], ordered=False) is None
    assert failure(checks.tool_calls_match, AGENT_CALLS, expected[:2], ordered=False) == (
        "expected tool calls to match (any order, arguments: subset), 1 missing, 2 unexpected:\n"
        "  missing: issue_refund(order_id='A-1042', amount=120.0)\n"
        "    closest: [1] argument 'amount' expected 120.0, got 150.0\n"
        "  unexpected: [0] lookup_order(order_id='A-1042')\n"
        "  unexpected: [1] issue_refund(order_id='A-1042', amount=150.0)"
    )


def test_tool_calls_match_accepts_golden_models_and_observed_calls() -> None:
    class ExpectedCall(pydantic.BaseModel):  # the shape of a golden case's expected tool call
        name: str
        arguments: dict[str, Any] = {}

    golden = [
        ExpectedCall(name="issue_refund", arguments={"amount": 150}),
        ExpectedCall(name="lookup_order"),
    ]
    refund = checks.tool_called(AGENT_CALLS, "issue_refund")
    lookup = checks.tool_called(AGENT_CALLS, "lookup_order")
    assert [call.index for call in refund + lookup] == [1, 0]
    assert checks.tool_calls_match(refund + lookup, golden) is None
    assert checks.tool_calls_match(lookup + refund, golden, ordered=False) is None
    assert failure(checks.tool_calls_match, lookup + refund, golden) == (
        "expected tool calls to match (in order, arguments: subset), 2 differences:\n"
        "  [0] expected 'issue_refund', got lookup_order(order_id='A-1042')\n"
        "  [1] expected 'lookup_order', got issue_refund(order_id='A-1042', amount=150.0)"
    )


def test_tool_calls_match_validates_the_mode() -> None:
    with pytest.raises(ValueError) as info:
        checks.tool_calls_match(AGENT_CALLS, GOLDEN, check_arguments="strict")  # type: ignore[arg-type]
    assert str(info.value) == "'check_arguments' must be one of 'subset', 'exact', 'ignore' (got 'strict')."


# --------------------------------------------------------------------------- in a real session


def test_failure_report_points_at_the_callers_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_reply=textwrap.dedent("""
            from pytest_llmgate import checks


            def test_refund_reply():
                reply = "Sorry, I can only help with shipping questions."
                checks.contains(reply, "refund")
            """)
    )
    result = pytester.runpytest("-p", "no:llmgate", "-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "    def test_refund_reply():",
            '        reply = "Sorry, I can only help with shipping questions."',
            '>       checks.contains(reply, "refund")',
            "E       pytest_llmgate.checks.CheckFailed: expected text to contain 'refund' (case-insensitive), missing 'refund'",
            "E       text: 'Sorry, I can only help with shipping questions.'",
            "",
            "test_reply.py:6: CheckFailed",
            "FAILED test_reply.py::test_refund_reply - pytest_llmgate.checks.Check*",
        ]
    )
    output = result.stdout.str()
    assert "pytest_llmgate/checks.py" not in output
    assert "_fail(" not in output
    assert "During handling" not in output
