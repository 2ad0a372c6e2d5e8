"""`llmgate import`: production traces become pending golden cases.

Two formats are read:
- `jsonl`: one JSON object per line (an application's own log), with the input and output
  at field paths the user names (`--input-field question`, dotted for nested fields);
- `otlp`: OpenTelemetry spans exported as OTLP JSON (one `{"resourceSpans": [...]}` document,
  or one per line as the collector's file exporter writes them). Spans are read by the GenAI
  semantic conventions: `gen_ai.input.messages` / `gen_ai.output.messages` (structured or
  as JSON strings, messages of `parts`), or the older indexed `gen_ai.prompt.N.*` /
  `gen_ai.completion.N.*` attributes; the model from `gen_ai.request.model` /
  `gen_ai.response.model`; tool calls from `tool_call` parts (or `...tool_calls.N.*`).

Messages are read in the shapes of the OpenAI (chat and Responses) and Anthropic SDKs as well
as the conventions' `parts`; a conversation of several turns becomes a list of
`{"role", "content"}` messages, the golden set's own format.

Every record is parsed and checked before anything is written: a file that is not what
`--format` says is an error naming the line or the span, and nothing is appended.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .scrub import Scrubber, scrub_value
from .sets import GoldenSetFile, normalize_input

__all__ = [
    "Import",
    "Trace",
    "TraceError",
    "import_traces",
    "matches",
    "parse_filters",
    "prepare_cases",
    "queue_cases",
    "read_jsonl_traces",
    "read_otlp_traces",
    "sample",
]

ID_PREFIX = "trace"

#: Span status codes of OTLP JSON (numbers, or the enum names some exporters write).
_STATUS: dict[int | str, str] = {
    0: "unset",
    1: "ok",
    2: "error",
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}


class TraceError(Exception):
    """A trace file that cannot be imported; the message names the file and the line or span."""


@dataclass
class Trace:
    """One interaction read from a trace file, before it becomes a case."""

    where: str
    """`file:line` or `file: span N (spanId ...)`, for messages and provenance."""
    input: Any
    """A string, an object, or a list of `{"role", "content"}` messages for a conversation of several turns."""
    output: Any = None
    """What the application answered (kept as provenance, never as the reference)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls seen in the trace: candidates for `expected_tool_calls`, for review."""
    fields: dict[str, Any] = field(default_factory=dict)
    """What filters look at: the log record's fields, or a span's attributes plus `name` and `status`."""
    source: dict[str, Any] = field(default_factory=dict)
    """Provenance: trace/span ids, model, timestamps."""


def _at(record: Any, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c`), or a KeyError."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


#: Deepest nesting of arrays and objects accepted in one record: real logs and OTLP exports
#: stay far below it; deeper input would exhaust Python's recursion limit further on.
MAX_DEPTH = 200


def _too_deep(value: Any) -> bool:
    """Whether `value` nests arrays and objects more than MAX_DEPTH levels deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _load_json(text: str, where: str, what: str, remedy: str) -> Any:
    """`text` as JSON, or a TraceError naming `where`, what was expected and the remedy."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    except ValueError as exc:
        msg = f"{where}: not {what} ({exc}); {remedy}"
        raise TraceError(msg) from None
    else:
        deep = _too_deep(value)
    if deep:
        msg = f"{where}: arrays or objects nested more than {MAX_DEPTH} levels deep; this is not a trace."
        raise TraceError(msg)
    return value


def read_jsonl_traces(
    text: str, shown: str, *, input_field: str, output_field: str | None, tool_calls_field: str | None = None
) -> list[Trace]:
    """Traces from a JSON-lines log; every line must be an object holding `input_field`."""
    traces = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{shown}:{lineno}"
        record = _load_json(line, where, "a JSON object", "a --format jsonl file has one JSON object per line.")
        if not isinstance(record, dict):
            msg = f"{where}: expected a JSON object, got {_json_type(record)}; a --format jsonl file has one JSON object per line."
            raise TraceError(msg)
        if "resourceSpans" in record:
            msg = f"{where}: this is OTLP JSON (it has resourceSpans); use --format otlp."
            raise TraceError(msg)
        try:
            value = _at(record, input_field)
        except KeyError:
            msg = f"{where}: field '{input_field}' is missing; pass --input-field with the name your logs use."
            raise TraceError(msg) from None
        if not isinstance(value, str | dict | list) or (isinstance(value, str) and not value.strip()):
            msg = f"{where}: field '{input_field}' must be a non-empty string, an object or a list of messages."
            raise TraceError(msg)
        try:
            output = _at(record, output_field or "output")
        except KeyError:
            output = None
            if output_field:
                msg = f"{where}: field '{output_field}' is missing; pass --output-field with the right name."
                raise TraceError(msg) from None
        calls: list[dict[str, Any]] = []
        if tool_calls_field:
            try:
                raw_calls = _at(record, tool_calls_field)
            except KeyError:
                raw_calls = []
            calls = _tool_calls(raw_calls, f"{where}: field '{tool_calls_field}'")
        if isinstance(value, dict) and isinstance(value.get("role"), str) and ("content" in value or "parts" in value):
            value = [value]  # one message, as an SDK writes it
        if isinstance(value, list):
            value = _conversation_input(_messages_from_list(value, f"{where}: field '{input_field}'"), where)
        traces.append(Trace(where=where, input=value, output=output, tool_calls=calls, fields=record, source={}))
    return traces


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return "null" if value is None else names.get(type(value), "a number")


def _tool_call(item: Any) -> tuple[Any, Any]:
    """(name, arguments) of a tool call in any of the shapes SDKs and conventions write.

    `{"name", "arguments"}` (GenAI conventions, plain logs), OpenAI's
    `{"type": "function", "function": {"name", "arguments"}}`, Anthropic's
    `{"type": "tool_use", "name", "input"}`.
    """
    if not isinstance(item, dict):
        return None, None
    function = item.get("function")
    if isinstance(function, dict):
        return function.get("name"), function.get("arguments", {})
    arguments = item.get("input", {}) if item.get("type") == "tool_use" else item.get("arguments", {})
    return item.get("name"), arguments


def _tool_calls(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        msg = f"{where}: tool calls must be a list of objects with a 'name'."
        raise TraceError(msg)
    calls = []
    for item in raw:
        name, arguments = _tool_call(item)
        if not isinstance(name, str) or not name:
            msg = f"{where}: tool calls must be objects with a 'name' (got {json.dumps(item)[:60]})."
            raise TraceError(msg)
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except (ValueError, RecursionError):
                arguments = {"_raw": arguments}
        calls.append({"name": name, "arguments": arguments if isinstance(arguments, dict) else {"_raw": arguments}})
    return calls


# -- OTLP JSON ------------------------------------------------------------------------------


def _any_value(value: Any, where: str) -> Any:
    """An OTLP JSON AnyValue as a plain value (a TraceError naming `where` when it is malformed)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        raw = value["intValue"]
        # OTLP JSON writes 64-bit integers as strings; some exporters write numbers.
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
            return int(raw)
        msg = f"{where}: intValue must be an integer or a string of digits (got {json.dumps(raw)[:40]})."
        raise TraceError(msg)
    if "doubleValue" in value:
        raw = value["doubleValue"]
        try:
            return float(raw)
        except (TypeError, ValueError):
            msg = f"{where}: doubleValue must be a number (got {json.dumps(raw)[:40]})."
            raise TraceError(msg) from None
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        values = _list_at(value["arrayValue"], "values", where)
        return [_any_value(v, where) for v in values]
    if "kvlistValue" in value:
        return _attributes(_list_at(value["kvlistValue"], "values", where), where)
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _list_at(container: Any, key: str, where: str) -> list[Any]:
    """`container[key]` as a list (absent or null: empty), or a TraceError naming it."""
    if container is None:
        return []
    if not isinstance(container, dict):
        msg = f"{where}: expected an object holding '{key}', got {_json_type(container)}."
        raise TraceError(msg)
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"{where}: '{key}' must be an array, got {_json_type(value)}."
        raise TraceError(msg)
    return value


def _attributes(raw: list[Any], where: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for kv in raw:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            msg = f"{where}: an attribute must be an object with a string 'key' (got {json.dumps(kv)[:60]})."
            raise TraceError(msg)
        attributes[kv["key"]] = _any_value(kv.get("value"), f"{where}: attribute {kv['key']!r}")
    return attributes


_OTLP_REMEDY = "export spans with the OTLP JSON (file) exporter."


def _documents(text: str, shown: str) -> Iterator[tuple[str, Any]]:
    stripped = text.strip()
    try:
        whole = json.loads(stripped) if stripped else None
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict):
        yield shown, _load_json(stripped, shown, "OTLP JSON", _OTLP_REMEDY)
        return
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{shown}:{lineno}"
        yield where, _load_json(line, where, "OTLP JSON", _OTLP_REMEDY)


#: Content part types whose text is part of what was said (OpenAI chat and Responses,
#: Anthropic, the GenAI conventions); images, tool calls and reasoning are not.
_TEXT_PARTS = {"text", "input_text", "output_text"}


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("type", "text")
    if kind in _TEXT_PARTS:
        text = part.get("text", part.get("content"))  # SDKs write `text`, the conventions `content`
        return text if isinstance(text, str) else ""
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return part["refusal"]
    if kind == "tool_result":  # Anthropic: what a tool returned, as text or as text blocks
        return _content_text(part.get("content"))
    if kind == "tool_call_response":  # GenAI conventions
        response = part.get("response")
        return response if isinstance(response, str) else ""
    return ""


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return "\n".join(text for text in (_part_text(part) for part in parts) if text)


def _message_text(message: dict[str, Any]) -> str:
    """What a message says: `content` as text or as content parts, or the conventions' `parts`."""
    if message.get("content") is not None:
        return _content_text(message["content"])
    return _content_text(message.get("parts"))


#: Roles the SDKs and conventions write, as the golden set's conversation roles.
_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "model": "assistant",
    "ai": "assistant",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}


def _messages_from_list(raw: Any, where: str) -> list[dict[str, Any]]:
    """The messages of a list (or of a JSON string of one), each with a known role.

    Items of the OpenAI Responses API that are not messages (`function_call`, `reasoning`...)
    carry no role and are passed over.
    """
    if isinstance(raw, str):
        raw = _load_json(raw, where, "valid JSON", "messages must be a JSON array of objects with a 'role'.")
    if not isinstance(raw, list):
        msg = f"{where}: messages must be a list of objects with a 'role', got {_json_type(raw)}."
        raise TraceError(msg)
    messages = []
    for index, item in enumerate(raw):
        if isinstance(item, dict) and "role" not in item and item.get("type") not in (None, "message"):
            continue
        role = item.get("role") if isinstance(item, dict) else None
        if not isinstance(role, str):
            msg = f"{where}: message {index} must be an object with a 'role' (got {json.dumps(item)[:60]})."
            raise TraceError(msg)
        if role not in _ROLES:
            msg = f"{where}: message {index} has role {role!r}; expected one of {', '.join(sorted(_ROLES))}."
            raise TraceError(msg)
        content, parts = item.get("content"), item.get("parts")
        if not (content is None or isinstance(content, str | list | dict)) or not (
            parts is None or isinstance(parts, list)
        ):
            msg = f"{where}: message {index}: 'content' must be text or a list of content parts."
            raise TraceError(msg)
        messages.append(item)
    return messages


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """`gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, ... as a list of dicts."""
    items: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        index, _, rest = key[len(prefix) + 1 :].partition(".")
        if index.isdigit() and rest:
            items.setdefault(int(index), {})[rest] = value
    return [items[i] for i in sorted(items)]


def _legacy_tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    return _indexed(message, "tool_calls")


def _message_tool_calls(message: dict[str, Any]) -> list[Any]:
    """Tool calls an output message asked for: `tool_call` parts (conventions), `tool_use` blocks
    (Anthropic), `tool_calls` (OpenAI chat)."""
    found: list[Any] = []
    for container in (message.get("parts"), message.get("content")):
        if isinstance(container, list):
            found += [p for p in container if isinstance(p, dict) and p.get("type") in ("tool_call", "tool_use")]
    if isinstance(message.get("tool_calls"), list):
        found += message["tool_calls"]
    return found


def _conversation_input(messages: list[dict[str, Any]], where: str) -> Any:
    """One user turn is the input as a string; a longer conversation is a list of
    `{"role", "content"}` messages, as golden sets hold it. System messages are dropped (they
    are part of the application), and so are turns with no text (an assistant turn that only
    called tools)."""
    turns = []
    for message in messages:
        role = _ROLES[message["role"]]
        text = _message_text(message)
        if role != "system" and text.strip():
            turns.append({"role": role, "content": text})
    if not any(turn["role"] == "user" for turn in turns):
        msg = f"{where}: the input messages hold no user message with text."
        raise TraceError(msg)
    if len(turns) == 1:
        return turns[0]["content"]
    return turns


def read_otlp_traces(text: str, shown: str) -> tuple[list[Trace], int]:
    """GenAI chat spans of an OTLP JSON export, and how many other spans were passed over."""
    traces: list[Trace] = []
    skipped = 0
    number = 0
    for where, doc in _documents(text, shown):
        if not isinstance(doc, dict) or "resourceSpans" not in doc:
            msg = f"{where}: not OTLP JSON (no resourceSpans); for an application log use --format jsonl."
            raise TraceError(msg)
        for r_index, resource in enumerate(_list_at(doc, "resourceSpans", where)):
            r_where = f"{where}: resourceSpans[{r_index}]"
            for s_index, scope in enumerate(_list_at(resource, "scopeSpans", r_where)):
                for span in _list_at(scope, "spans", f"{r_where}.scopeSpans[{s_index}]"):
                    number += 1
                    if not isinstance(span, dict):
                        msg = f"{where}: span {number} must be an object, got {_json_type(span)}."
                        raise TraceError(msg)
                    span_id = span.get("spanId", "?")
                    label = json.dumps(span_id)[:40].strip('"')  # escaped: a message must print anywhere
                    trace = _span_trace(span, f"{where}: span {number} (spanId {label})")
                    if trace is None:
                        skipped += 1
                    else:
                        traces.append(trace)
    if not traces:
        msg = f"{shown}: no GenAI chat span found ({skipped} other span(s)); spans need gen_ai.input.messages or gen_ai.prompt.* attributes."
        raise TraceError(msg)
    return traces, skipped


def _span_trace(span: dict[str, Any], where: str) -> Trace | None:
    if span.get("attributes") is not None and not isinstance(span["attributes"], list):
        msg = f"{where}: 'attributes' must be an array, got {_json_type(span['attributes'])}."
        raise TraceError(msg)
    attrs = _attributes(span.get("attributes") or [], where)
    if not any(key.startswith("gen_ai.") for key in attrs):
        return None
    tool_calls: list[Any] = []
    if "gen_ai.input.messages" in attrs:
        messages = _messages_from_list(attrs["gen_ai.input.messages"], f"{where}: gen_ai.input.messages")
        outputs = _messages_from_list(attrs.get("gen_ai.output.messages", []), f"{where}: gen_ai.output.messages")
        output = _message_text(outputs[0]) if outputs else None
        for message in outputs[:1]:
            tool_calls += _message_tool_calls(message)
    else:
        messages = _indexed(attrs, "gen_ai.prompt")
        if not messages:
            return None  # an embeddings, retrieval or tool-execution span: no conversation to import
        messages = _messages_from_list(messages, f"{where}: gen_ai.prompt.N")
        completions = _indexed(attrs, "gen_ai.completion")
        output = _message_text(completions[0]) if completions else None
        tool_calls = _legacy_tool_calls(completions[0]) if completions else []
    if not any(_ROLES[m["role"]] == "user" for m in messages):
        msg = f"{where}: the span's input messages hold no user message."
        raise TraceError(msg)
    status = span.get("status")
    if status is not None and not isinstance(status, dict):
        msg = f"{where}: 'status' must be an object with a 'code', got {_json_type(status)}."
        raise TraceError(msg)
    code = (status or {}).get("code", 0)
    fields = {
        **attrs,
        "name": span.get("name"),
        "status": _STATUS.get(code, "unset") if isinstance(code, int | str) else "unset",
    }
    source = {
        "trace_id": span.get("traceId"),
        "span_id": span.get("spanId"),
        "span_name": span.get("name"),
        "model": attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"),
        "start_time_unix_nano": span.get("startTimeUnixNano"),
    }
    return Trace(
        where=where,
        input=_conversation_input(messages, where),
        output=output,
        tool_calls=_tool_calls(tool_calls, where),
        fields=fields,
        source={k: v for k, v in source.items() if v is not None},
    )


# -- choosing -------------------------------------------------------------------------------


def parse_filters(filters: Sequence[str]) -> list[tuple[str, str]]:
    """`KEY=VALUE` strings as pairs; a bad one is a ValueError naming it."""
    pairs = []
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key:
            msg = f"'--filter' must look like KEY=VALUE, e.g. feedback=negative or status=error (got {item!r})."
            raise ValueError(msg)
        pairs.append((key, value))
    return pairs


def matches(trace: Trace, filters: Sequence[tuple[str, str]]) -> bool:
    """Whether every filter holds: the field at KEY (dotted path or span attribute) equals VALUE as text."""
    for key, expected in filters:
        try:
            value = trace.fields[key] if key in trace.fields else _at(trace.fields, key)
        except KeyError:
            return False
        text = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
        if text != expected:
            return False
    return True


def sample(traces: list[Trace], n: int | None, seed: int) -> list[Trace]:
    """A seeded sample of `n` traces, kept in file order (all of them when `n` is None or larger)."""
    if n is None or n >= len(traces):
        return traces
    chosen = set(random.Random(seed).sample(range(len(traces)), n))
    return [t for i, t in enumerate(traces) if i in chosen]


@dataclass
class Import:
    """What one `import` call did."""

    read: int = 0
    """Traces read from the file (GenAI chat spans, or log lines)."""
    matched: int = 0
    """Of those, how many passed the filters."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(where, id of the case with the same input, in the set or earlier in this import)."""
    added: list[str] = field(default_factory=list)


def prepare_cases(
    traces: list[Trace],
    scrub: Scrubber,
    *,
    source_file: str,
    fmt: str,
    filters: Sequence[tuple[str, str]] = (),
    tags: Sequence[str] = (),
    today: str | None = None,
) -> list[tuple[Trace, dict[str, Any]]]:
    """The traces that pass the filters, each with its case (scrubbed, without id), in file order.

    This is the slow part of an import (scrubbing), done before the golden set's lock is taken.
    """
    day = today or _dt.date.today().isoformat()
    prepared = []
    for trace in traces:
        if not matches(trace, filters):
            continue
        metadata: dict[str, Any] = {
            "provenance": {
                "source": "import",
                "format": fmt,
                "file": source_file,
                "where": trace.where,
                "imported_on": day,
                "output": trace.output,
                **trace.source,
            }
        }
        if trace.tool_calls:
            metadata["candidate_tool_calls"] = trace.tool_calls
        prepared.append((trace, scrub_value({"input": trace.input, "tags": list(tags), "metadata": metadata}, scrub)))
    return prepared


def queue_cases(
    prepared: list[tuple[Trace, dict[str, Any]]],
    target: GoldenSetFile,
    *,
    read: int,
    n: int | None = None,
    seed: int = 0,
) -> Import:
    """De-duplicate (against the set and within the file), sample, and queue pending cases on `target`.

    Sampling comes after de-duplication, so `n` counts new cases. The caller writes the file.
    """
    outcome = Import(read=read, matched=len(prepared))
    candidates: list[tuple[Trace, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for trace, case in prepared:
        key = normalize_input(case["input"])
        duplicate = target.duplicate_of(case["input"]) or seen.get(key)
        if duplicate is not None:
            outcome.duplicates.append((trace.where, duplicate))
            continue
        seen[key] = trace.where
        candidates.append((trace, case))
    chosen = {id(t) for t in sample([t for t, _ in candidates], n, seed)}
    for trace, case in candidates:
        if id(trace) in chosen:
            outcome.added.append(target.add(ID_PREFIX, case))
    return outcome


def import_traces(
    traces: list[Trace],
    target: GoldenSetFile,
    scrub: Scrubber,
    *,
    source_file: str,
    fmt: str,
    filters: Sequence[tuple[str, str]] = (),
    n: int | None = None,
    seed: int = 0,
    tags: Sequence[str] = (),
    today: str | None = None,
) -> Import:
    """`prepare_cases` then `queue_cases`: filter, scrub, de-duplicate, sample, queue on `target`."""
    prepared = prepare_cases(traces, scrub, source_file=source_file, fmt=fmt, filters=filters, tags=tags, today=today)
    return queue_cases(prepared, target, read=len(traces), n=n, seed=seed)
