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
    """A string, an object, or `{"messages": [...]}` for a conversation of several turns."""
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


def read_jsonl_traces(
    text: str, shown: str, *, input_field: str, output_field: str | None, tool_calls_field: str | None = None
) -> list[Trace]:
    """Traces from a JSON-lines log; every line must be an object holding `input_field`."""
    traces = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            msg = f"{shown}:{lineno}: not a JSON object ({exc}); a --format jsonl file has one JSON object per line."
            raise TraceError(msg) from None
        if not isinstance(record, dict):
            msg = f"{shown}:{lineno}: expected a JSON object, got {type(record).__name__}."
            raise TraceError(msg)
        if "resourceSpans" in record:
            msg = f"{shown}:{lineno}: this is OTLP JSON (it has resourceSpans); use --format otlp."
            raise TraceError(msg)
        try:
            value = _at(record, input_field)
        except KeyError:
            msg = f"{shown}:{lineno}: field '{input_field}' is missing; pass --input-field with the name your logs use."
            raise TraceError(msg) from None
        if not isinstance(value, str | dict | list) or (isinstance(value, str) and not value.strip()):
            msg = (
                f"{shown}:{lineno}: field '{input_field}' must be a non-empty string, an object or a list of messages."
            )
            raise TraceError(msg)
        try:
            output = _at(record, output_field or "output")
        except KeyError:
            output = None
            if output_field:
                msg = f"{shown}:{lineno}: field '{output_field}' is missing; pass --output-field with the right name."
                raise TraceError(msg) from None
        calls: list[dict[str, Any]] = []
        if tool_calls_field:
            try:
                raw_calls = _at(record, tool_calls_field)
            except KeyError:
                raw_calls = []
            calls = _tool_calls(raw_calls, f"{shown}:{lineno}: field '{tool_calls_field}'")
        if isinstance(value, list):
            value = _conversation_input(_messages_from_list(value, f"{shown}:{lineno}: field '{input_field}'"))
        traces.append(
            Trace(where=f"{shown}:{lineno}", input=value, output=output, tool_calls=calls, fields=record, source={})
        )
    return traces


def _tool_calls(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        msg = f"{where}: tool calls must be a list of objects with a 'name'."
        raise TraceError(msg)
    calls = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            msg = f"{where}: tool calls must be objects with a 'name' (got {json.dumps(item)[:60]})."
            raise TraceError(msg)
        arguments = item.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                arguments = {"_raw": arguments}
        calls.append({"name": name, "arguments": arguments if isinstance(arguments, dict) else {"_raw": arguments}})
    return calls


# -- OTLP JSON ------------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    """An OTLP JSON AnyValue as a plain value."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: _any_value(kv.get("value")) for kv in (value["kvlistValue"] or {}).get("values", [])}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    return {kv["key"]: _any_value(kv.get("value")) for kv in raw or [] if isinstance(kv, dict) and "key" in kv}


def _documents(text: str, shown: str) -> Iterator[tuple[str, dict[str, Any]]]:
    stripped = text.strip()
    try:
        whole = json.loads(stripped) if stripped else None
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        yield shown, whole
        return
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            msg = f"{shown}:{lineno}: not OTLP JSON ({exc}); export spans with the OTLP JSON (file) exporter."
            raise TraceError(msg) from None
        yield f"{shown}:{lineno}", doc


def _message_text(message: dict[str, Any]) -> str:
    if isinstance(message.get("content"), str):
        return message["content"]
    parts = message.get("parts") or []
    return "\n".join(p.get("content", "") for p in parts if isinstance(p, dict) and p.get("type") == "text")


def _messages_from_list(raw: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            msg = f"{where}: messages are not valid JSON."
            raise TraceError(msg) from None
    if not isinstance(raw, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in raw):
        msg = f"{where}: messages must be a list of objects with a 'role'."
        raise TraceError(msg)
    return raw


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


def _conversation_input(messages: list[dict[str, Any]]) -> Any:
    """One user turn is the input as a string; a longer conversation keeps its roles."""
    turns = [m for m in messages if m.get("role") != "system"]
    if len(turns) == 1 and turns[0].get("role") == "user":
        return _message_text(turns[0])
    return {"messages": [{"role": m["role"], "content": _message_text(m)} for m in turns]}


def read_otlp_traces(text: str, shown: str) -> tuple[list[Trace], int]:
    """GenAI chat spans of an OTLP JSON export, and how many other spans were passed over."""
    traces: list[Trace] = []
    skipped = 0
    number = 0
    for where, doc in _documents(text, shown):
        if not isinstance(doc, dict) or "resourceSpans" not in doc:
            msg = f"{where}: not OTLP JSON (no resourceSpans); for an application log use --format jsonl."
            raise TraceError(msg)
        for resource in doc.get("resourceSpans") or []:
            for scope in resource.get("scopeSpans") or []:
                for span in scope.get("spans") or []:
                    number += 1
                    trace = _span_trace(span, f"{where}: span {number} (spanId {span.get('spanId', '?')})")
                    if trace is None:
                        skipped += 1
                    else:
                        traces.append(trace)
    if not traces:
        msg = f"{shown}: no GenAI chat span found ({skipped} other span(s)); spans need gen_ai.input.messages or gen_ai.prompt.* attributes."
        raise TraceError(msg)
    return traces, skipped


def _span_trace(span: dict[str, Any], where: str) -> Trace | None:
    attrs = _attributes(span.get("attributes"))
    if not any(key.startswith("gen_ai.") for key in attrs):
        return None
    tool_calls: list[dict[str, Any]] = []
    if "gen_ai.input.messages" in attrs:
        messages = _messages_from_list(attrs["gen_ai.input.messages"], f"{where}: gen_ai.input.messages")
        outputs = _messages_from_list(attrs.get("gen_ai.output.messages", []), f"{where}: gen_ai.output.messages")
        output = _message_text(outputs[0]) if outputs else None
        for message in outputs[:1]:
            for part in message.get("parts") or []:
                if isinstance(part, dict) and part.get("type") == "tool_call":
                    tool_calls.append(part)
    else:
        messages = _indexed(attrs, "gen_ai.prompt")
        if not messages:
            return None  # an embeddings, retrieval or tool-execution span: no conversation to import
        if not all(isinstance(m.get("role"), str) for m in messages):
            msg = f"{where}: gen_ai.prompt.N attributes need a role for every message."
            raise TraceError(msg)
        completions = _indexed(attrs, "gen_ai.completion")
        output = completions[0].get("content") if completions else None
        tool_calls = _legacy_tool_calls(completions[0]) if completions else []
    if not any(m.get("role") == "user" for m in messages):
        msg = f"{where}: the span's input messages hold no user message."
        raise TraceError(msg)
    status_code = (span.get("status") or {}).get("code", 0)
    fields = {**attrs, "name": span.get("name"), "status": _STATUS.get(status_code, "unset")}
    source = {
        "trace_id": span.get("traceId"),
        "span_id": span.get("spanId"),
        "span_name": span.get("name"),
        "model": attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"),
        "start_time_unix_nano": span.get("startTimeUnixNano"),
    }
    return Trace(
        where=where,
        input=_conversation_input(messages),
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
    """Filter, de-duplicate (against the set and within the file), sample, and queue pending cases on `target`.

    Sampling comes after de-duplication, so `n` counts new cases. The caller writes the file.
    """
    day = today or _dt.date.today().isoformat()
    outcome = Import(read=len(traces))
    candidates: list[tuple[Trace, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for trace in traces:
        if not matches(trace, filters):
            continue
        outcome.matched += 1
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
        case = scrub_value({"input": trace.input, "tags": list(tags), "metadata": metadata}, scrub)
        duplicate = target.duplicate_of(case["input"]) or seen.get(normalize_input(case["input"]))
        if duplicate is not None:
            outcome.duplicates.append((trace.where, duplicate))
            continue
        seen[normalize_input(case["input"])] = trace.where
        candidates.append((trace, case))
    chosen = {id(t) for t in sample([t for t, _ in candidates], n, seed)}
    for trace, case in candidates:
        if id(trace) in chosen:
            outcome.added.append(target.add(ID_PREFIX, case))
    return outcome
