"""Programmatic checks (layer 1): assert helpers for the bodies of eval tests.

Each check raises `CheckFailed` (an `AssertionError`) with a message that says what was
expected and what came, and hides its own frames (`__tracebackhide__`) so pytest points at
the line of the test that called it. On success a check returns what the test is likely to
use next (the parsed JSON, the validated model, the regex match, the matching tool calls).

JSON Schema validation uses the `jsonschema` package when it is importable. Without it, a
built-in validator supports this subset: `type`, `required`, `properties`, `enum`,
`minimum`, `maximum`, `items` (one schema for every item), `additionalProperties` (bool or
schema), plus the annotations `$schema`, `$id`, `$comment`, `title`, `description`,
`default` and `examples`. Any other keyword is an error, never silently ignored. Both
backends give the same messages for that subset.

Tool calls are given as a sequence (None counts as no calls, as in OpenAI's
`message.tool_calls`). A call is a mapping `{"name": ..., "arguments": {...}}` or an object
with `.name` and `.arguments`; OpenAI's `{"function": {"name", "arguments": "<json>"}}` and
Anthropic's `tool_use` blocks (`.name`, `.input`) are accepted too.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, Literal, NoReturn

import pydantic

__all__ = [
    "CheckFailed",
    "ObservedCall",
    "contains",
    "has_fields",
    "length",
    "matches",
    "matches_schema",
    "no_banned_phrases",
    "not_contains",
    "not_matches",
    "tool_argument_constraint",
    "tool_arguments",
    "tool_called",
    "tool_calls_match",
    "tool_not_called",
    "tools_called_in_order",
    "valid_json",
]

#: Longest stretch of model output quoted in a failure message.
PREVIEW_CHARS = 200
#: Characters of context shown on each side of a hit (banned phrase, regex match).
CONTEXT_CHARS = 30
#: Most tool calls listed in a failure message.
MAX_LISTED_CALLS = 20

Schema = type[pydantic.BaseModel] | Mapping[str, Any]
ArgumentsMode = Literal["subset", "exact", "ignore"]


class CheckFailed(AssertionError):
    """A programmatic check found the output wrong; pytest reports it as a failed assert."""


@dataclasses.dataclass(frozen=True)
class ObservedCall:
    """One tool call, normalised from whichever shape the application or SDK produced."""

    name: str
    """Name of the tool."""
    arguments: dict[str, Any]
    """Arguments as a dict (a JSON string of arguments is parsed)."""
    index: int
    """Position of the call in the sequence given to the check."""
    raw: Any = None
    """The call exactly as given."""


# --------------------------------------------------------------------------- messages


def _fail(msg: str) -> NoReturn:
    __tracebackhide__ = True
    # `from None`: a parse error caught on the way is in the message; its traceback is noise.
    raise CheckFailed(msg) from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """Quote `text`, cut to `limit` characters with a marker saying how long it was."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... [truncated, {len(text)} chars total]"


def _short(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """Repr of any value, cut like `_preview`."""
    if isinstance(value, str):
        return _preview(value, limit)
    shown = repr(value)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}... [truncated, {len(shown)} chars total]"


def _context(text: str, start: int, end: int) -> str:
    """Quote the hit `text[start:end]` with a little text on each side."""
    left = max(0, start - CONTEXT_CHARS)
    right = min(len(text), end + CONTEXT_CHARS)
    snippet = text[left:right]
    if left > 0:
        snippet = "..." + snippet
    if right < len(text):
        snippet = snippet + "..."
    return repr(snippet)


def _quote_list(items: Iterable[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _pattern_repr(pattern: str | re.Pattern[str]) -> str:
    """Show a regex as it is written in source: r'\\bORD-\\d+' rather than doubled backslashes."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if "'" in source or "\n" in source or source.endswith("\\"):
        return repr(source)
    return f"r'{source}'"


def _flags_note(flags: int) -> str:
    return f" (flags: {re.RegexFlag(flags)!s})" if flags else ""


def _render_path(parts: Iterable[Any]) -> str:
    """JSONPath-like location of a value: `$`, `$.order.items[0]`, `$['odd key']`."""
    rendered = "$"
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            rendered += f".{part}"
        else:
            rendered += f"[{part!r}]"
    return rendered


def _require_text(text: Any) -> str:
    __tracebackhide__ = True
    if not isinstance(text, str):
        _fail(f"expected text (str) to check, got {type(text).__name__}: {_short(text)}")
    return text


def _require_needles(needles: tuple[Any, ...], function: str) -> None:
    if not needles:
        msg = f"{function}() needs at least one string to look for, e.g. {function}(text, 'refund')."
        raise TypeError(msg)
    for needle in needles:
        if not isinstance(needle, str) or not needle:
            msg = f"{function}() needles must be non-empty strings (got {needle!r})."
            raise TypeError(msg)


# --------------------------------------------------------------------------- JSON


def _json_pointer_lines(text: str, pos: int) -> str:
    """The line holding character `pos`, with a caret under it (windowed for long lines)."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end != -1 else len(text)].replace("\t", " ")
    column = pos - start
    window = 40
    prefix = ""
    if len(line) <= 2 * window:
        return f"  {line}\n  {' ' * column}^"
    if column > window:
        line = line[column - window :]
        column = window + 3
        prefix = "..."
    if len(line) > column + window:
        line = line[: column + window] + "..."
    return f"  {prefix}{line}\n  {' ' * column}^"


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def valid_json(text: str) -> Any:
    """Parse `text` as strict JSON and return the value; fail with the line and column of the error.

    NaN and Infinity are rejected: they are not JSON and break most consumers.
    """
    __tracebackhide__ = True
    _require_text(text)
    if not text.strip():
        _fail(f"expected valid JSON, got empty text: {text!r}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        msg = (
            f"expected valid JSON, got a parse error at line {exc.lineno}, column {exc.colno}:"
            f" {exc.msg}\n{_json_pointer_lines(text, exc.pos)}\ntext: {_preview(text)}"
        )
        if text.lstrip().startswith("```"):
            msg += "\nhint: the JSON is wrapped in a markdown code fence; ask for bare JSON or strip the fence."
        _fail(msg)
    except ValueError as exc:
        _fail(
            f"expected valid JSON, got {exc}, which JSON does not allow (use null or a number)\ntext: {_preview(text)}"
        )


# --------------------------------------------------------------------------- schemas


def _is_model_class(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)


def _schema_name(schema: Schema) -> str:
    if _is_model_class(schema):
        return schema.__name__
    title = schema.get("title")
    return f"JSON Schema {title!r}" if isinstance(title, str) else "the JSON Schema"


def _pydantic_errors(exc: pydantic.ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        line = f"{_render_path(error['loc'])}: {error['msg']}"
        if error["type"] != "missing":
            line += f" (got {_short(error['input'], 60)})"
        lines.append(line)
    return lines


def _load_jsonschema() -> ModuleType | None:
    """The `jsonschema` package if installed, else None (the built-in subset is used)."""
    try:
        import jsonschema
    except ImportError:
        return None
    return jsonschema


def _json_schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every way `value` breaks `schema`, as `path: message` lines sorted by path."""
    jsonschema = _load_jsonschema()
    if jsonschema is None:
        _check_subset_schema(schema, ())
        errors = _subset_errors(value, schema, ())
    else:
        validator_class = jsonschema.validators.validator_for(dict(schema), default=jsonschema.Draft202012Validator)
        try:
            validator_class.check_schema(dict(schema))
        except jsonschema.SchemaError as exc:
            where = _render_path(exc.absolute_path)
            msg = f"'schema' is not a valid JSON Schema: {exc.message} (at {where})."
            raise ValueError(msg) from None
        errors = [
            (tuple(error.absolute_path), error.message) for error in validator_class(dict(schema)).iter_errors(value)
        ]
    rendered = sorted((_render_path(path), message) for path, message in errors)
    return [f"{path}: {message}" for path, message in rendered]


def _validate(value: Any, schema: Schema) -> tuple[Any, list[str]]:
    """Validate against a pydantic model or a JSON Schema; return (result, error lines)."""
    if _is_model_class(schema):
        try:
            if isinstance(value, str | bytes):
                return schema.model_validate_json(value), []
            return schema.model_validate(value), []
        except pydantic.ValidationError as exc:
            return None, _pydantic_errors(exc)
    if isinstance(schema, Mapping):
        return value, _json_schema_errors(value, schema)
    msg = f"'schema' must be a pydantic model class or a JSON Schema dict (got {type(schema).__name__})."
    raise TypeError(msg)


def matches_schema(value: Any, schema: Schema) -> Any:
    """Validate `value` against a pydantic model (returns the model) or a JSON Schema dict (returns `value`).

    With a model, a str or bytes value is parsed as JSON first (`model_validate_json`).
    """
    __tracebackhide__ = True
    result, errors = _validate(value, schema)
    if errors:
        listed = "\n".join(f"  {line}" for line in errors)
        _fail(
            f"expected value to match {_schema_name(schema)}, got {_plural(len(errors), 'error')}:\n"
            f"{listed}\nvalue: {_short(value)}"
        )
    return result


# The built-in JSON Schema subset, used when `jsonschema` is not installed.
_SUBSET_KEYWORDS = frozenset(
    {
        "type",
        "required",
        "properties",
        "enum",
        "minimum",
        "maximum",
        "items",
        "additionalProperties",
    }
)
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples"})
_TYPE_NAMES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def _check_subset_schema(schema: Any, where: tuple[Any, ...]) -> None:
    """Refuse schemas the built-in validator cannot enforce, rather than ignore a keyword."""
    location = _render_path(where)
    if not isinstance(schema, Mapping):
        msg = f"JSON Schema at {location} must be an object (got {schema!r})."
        raise ValueError(msg)
    unsupported = sorted(set(schema) - _SUBSET_KEYWORDS - _ANNOTATIONS)
    if unsupported:
        msg = (
            f"JSON Schema keyword {_quote_list(unsupported)} at {location} needs the jsonschema package"
            " (pip install jsonschema); without it the supported keywords are:"
            f" {', '.join(sorted(_SUBSET_KEYWORDS))}."
        )
        raise ValueError(msg)
    types = schema.get("type", [])
    for name in [types] if isinstance(types, str) else types:
        if name not in _TYPE_NAMES:
            known = ", ".join(sorted(_TYPE_NAMES))
            msg = f"JSON Schema at {location} has an unknown type {name!r}; use one of {known}."
            raise ValueError(msg)
    for keyword, kind in (("required", list), ("enum", list), ("properties", Mapping)):
        if keyword in schema and not isinstance(schema[keyword], kind):
            expected = "list" if kind is list else "mapping"
            msg = f"JSON Schema keyword {keyword!r} at {location} must be a {expected} (got {schema[keyword]!r})."
            raise ValueError(msg)
    for keyword in ("minimum", "maximum"):
        if keyword in schema and not _is_type(schema[keyword], "number"):
            msg = f"JSON Schema keyword {keyword!r} at {location} must be a number (got {schema[keyword]!r})."
            raise ValueError(msg)
    for key, subschema in schema.get("properties", {}).items():
        _check_subset_schema(subschema, (*where, "properties", key))
    if "items" in schema:
        _check_subset_schema(schema["items"], (*where, "items"))
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, bool):
        _check_subset_schema(extra, (*where, "additionalProperties"))


def _is_type(value: Any, name: str) -> bool:
    """JSON Schema (2020-12) types: bool is not a number; 1.0 is an integer."""
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, numbers.Number)


def _json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON sees it: True is not 1, 1 equals 1.0, containers compare deeply."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(_json_equal(one[key], two[key]) for key in one)
    if isinstance(one, list | tuple) and isinstance(two, list | tuple):
        return len(one) == len(two) and all(_json_equal(a, b) for a, b in zip(one, two, strict=True))
    return bool(one == two)


def _subset_errors(value: Any, schema: Mapping[str, Any], path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """Each keyword applies on its own, as in jsonschema, with jsonschema's messages."""
    errors: list[tuple[tuple[Any, ...], str]] = []
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        if not any(_is_type(value, name) for name in types):
            errors.append((path, f"{value!r} is not of type {_quote_list(types)}"))
    if "enum" in schema and not any(_json_equal(option, value) for option in schema["enum"]):
        errors.append((path, f"{value!r} is not one of {schema['enum']!r}"))
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, f"{value!r} is less than the minimum of {schema['minimum']!r}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, f"{value!r} is greater than the maximum of {schema['maximum']!r}"))
    if _is_type(value, "object"):
        errors.extend(
            (path, f"{key!r} is a required property") for key in schema.get("required", []) if key not in value
        )
        properties = schema.get("properties", {})
        for key, subschema in properties.items():
            if key in value:
                errors.extend(_subset_errors(value[key], subschema, (*path, key)))
        extra_schema = schema.get("additionalProperties", True)
        extras = sorted((key for key in value if key not in properties), key=str)
        if extra_schema is False and extras:
            verb = "was" if len(extras) == 1 else "were"
            errors.append(
                (
                    path,
                    f"Additional properties are not allowed ({_quote_list(extras)} {verb} unexpected)",
                )
            )
        elif isinstance(extra_schema, Mapping):
            for key in extras:
                errors.extend(_subset_errors(value[key], extra_schema, (*path, key)))
    if _is_type(value, "array") and "items" in schema:
        for index, item in enumerate(value):
            errors.extend(_subset_errors(item, schema["items"], (*path, index)))
    return errors


# --------------------------------------------------------------------------- fields


def _field_problem(value: Mapping[str, Any], field: str) -> str | None:
    """Why the dotted path `field` is absent from `value`, or None when it is present."""
    parts = field.split(".")
    current: Any = value
    for depth, part in enumerate(parts):
        where = "value" if depth == 0 else repr(".".join(parts[:depth]))
        if isinstance(current, Mapping):
            if part not in current:
                keys = sorted(str(key) for key in current)
                shown = _quote_list(keys[:10]) + (", ..." if len(keys) > 10 else "")
                return f"{where} has no key {part!r} (keys: {shown or 'none'})"
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.isdigit():
            if int(part) >= len(current):
                return f"{where} has {_plural(len(current), 'item')}, no index {part}"
            current = current[int(part)]
        else:
            return f"{where} is {type(current).__name__} {_short(current, 60)}, not a mapping"
    return None


def has_fields(value: Mapping[str, Any], *fields: str) -> None:
    """Require every field to be present (a None value counts as present).

    Dotted paths reach into nested mappings (`"order.id"`); a numeric part indexes a list
    (`"items.0.sku"`).
    """
    __tracebackhide__ = True
    if not fields:
        msg = "has_fields() needs at least one field name, e.g. has_fields(data, 'order.id')."
        raise TypeError(msg)
    if not isinstance(value, Mapping):
        _fail(f"expected a mapping with fields {_quote_list(fields)}, got {type(value).__name__}: {_short(value)}")
    problems = [(field, _field_problem(value, field)) for field in fields]
    missing = [f"  {field!r}: {problem}" for field, problem in problems if problem is not None]
    if missing:
        _fail(
            f"expected fields {_quote_list(fields)}, {len(missing)} missing:\n"
            + "\n".join(missing)
            + f"\nvalue: {_short(value)}"
        )


# --------------------------------------------------------------------------- text


def matches(text: str, pattern: str | re.Pattern[str], *, flags: int = 0) -> re.Match[str]:
    """Require `pattern` to match somewhere in `text` (`re.search`); return the match."""
    __tracebackhide__ = True
    _require_text(text)
    match = re.search(pattern, text, flags)
    if match is None:
        _fail(f"expected text to match regex {_pattern_repr(pattern)}{_flags_note(flags)}\ntext: {_preview(text)}")
    return match


def not_matches(text: str, pattern: str | re.Pattern[str], *, flags: int = 0) -> None:
    """Require `pattern` to match nowhere in `text` (`re.search`)."""
    __tracebackhide__ = True
    _require_text(text)
    match = re.search(pattern, text, flags)
    if match is not None:
        _fail(
            f"expected text not to match regex {_pattern_repr(pattern)}{_flags_note(flags)},"
            f" matched {match.group()!r} at char {match.start()}:"
            f" {_context(text, match.start(), match.end())}"
        )


def _phrase_regex(phrase: str, case_sensitive: bool) -> re.Pattern[str]:
    """Match `phrase` as whole words, with any run of whitespace between its words."""
    words = phrase.split()
    body = r"\s+".join(re.escape(word) for word in words)
    if re.match(r"\w", words[0]):
        body = r"(?<!\w)" + body
    if re.match(r"\w", words[-1][-1]):
        body = body + r"(?!\w)"
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE)


def no_banned_phrases(text: str, phrases: Iterable[str], *, case_sensitive: bool = False) -> None:
    """Require none of `phrases` to occur in `text` as whole words; the failure lists every hit.

    "ass" does not hit "class"; "as an AI" hits "As an\\nAI" (whitespace runs are equal).
    """
    __tracebackhide__ = True
    _require_text(text)
    if isinstance(phrases, str):
        msg = f"'phrases' must be a list of phrases, not one string (got {phrases!r}); wrap it: [{phrases!r}]."
        raise TypeError(msg)
    phrases = list(phrases)
    for phrase in phrases:
        if not isinstance(phrase, str) or not phrase.strip():
            msg = f"banned phrases must be non-empty strings (got {phrase!r})."
            raise TypeError(msg)
    hits = sorted(
        (match.start(), match.end(), phrase)
        for phrase in phrases
        for match in _phrase_regex(phrase, case_sensitive).finditer(text)
    )
    if hits:
        lines = [f"  {phrase!r} at char {start}: {_context(text, start, end)}" for start, end, phrase in hits]
        mode = "case-sensitive" if case_sensitive else "case-insensitive"
        _fail(f"expected no banned phrases ({mode}), found {_plural(len(hits), 'hit')}:\n" + "\n".join(lines))


def _find(text: str, needle: str, case_sensitive: bool) -> re.Match[str] | None:
    return re.search(re.escape(needle), text, 0 if case_sensitive else re.IGNORECASE)


def contains(text: str, *needles: str, case_sensitive: bool = False) -> None:
    """Require every needle to occur in `text` as a substring; the failure names the missing ones."""
    __tracebackhide__ = True
    _require_text(text)
    _require_needles(needles, "contains")
    missing = [needle for needle in needles if _find(text, needle, case_sensitive) is None]
    if missing:
        mode = "case-sensitive" if case_sensitive else "case-insensitive"
        _fail(
            f"expected text to contain {_quote_list(needles)} ({mode}), missing {_quote_list(missing)}\n"
            f"text: {_preview(text)}"
        )


def not_contains(text: str, *needles: str, case_sensitive: bool = False) -> None:
    """Require no needle to occur in `text` as a substring; the failure shows where each one is."""
    __tracebackhide__ = True
    _require_text(text)
    _require_needles(needles, "not_contains")
    found = [(needle, _find(text, needle, case_sensitive)) for needle in needles]
    lines = [
        f"  {needle!r} at char {match.start()}: {_context(text, match.start(), match.end())}"
        for needle, match in found
        if match is not None
    ]
    if lines:
        mode = "case-sensitive" if case_sensitive else "case-insensitive"
        _fail(f"expected text not to contain {_quote_list(needles)} ({mode}), found:\n" + "\n".join(lines))


def length(
    text: str,
    *,
    min_chars: int | None = None,
    max_chars: int | None = None,
    min_words: int | None = None,
    max_words: int | None = None,
) -> None:
    """Require the length of `text` within bounds; words are whitespace-separated tokens."""
    __tracebackhide__ = True
    bounds = {
        "min_chars": min_chars,
        "max_chars": max_chars,
        "min_words": min_words,
        "max_words": max_words,
    }
    for name, bound in bounds.items():
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
            msg = f"{name!r} must be a non-negative integer (got {bound!r})."
            raise ValueError(msg)
    if all(bound is None for bound in bounds.values()):
        msg = "length() needs at least one bound: min_chars, max_chars, min_words or max_words."
        raise TypeError(msg)
    for unit in ("chars", "words"):
        low, high = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
        if low is not None and high is not None and low > high:
            msg = f"'min_{unit}' ({low}) must not exceed 'max_{unit}' ({high})."
            raise ValueError(msg)
    _require_text(text)
    counts = {"chars": len(text), "words": len(text.split())}
    singular = {"chars": "char", "words": "word"}
    problems = []
    for unit, count in counts.items():
        low, high = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
        if low is not None and count < low:
            problems.append(f"expected at least {_plural(low, singular[unit])} (min_{unit}), got {count}")
        if high is not None and count > high:
            problems.append(f"expected at most {_plural(high, singular[unit])} (max_{unit}), got {count}")
    if problems:
        _fail("\n".join(problems) + f"\ntext: {_preview(text)}")


# --------------------------------------------------------------------------- tool calls


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _normalize_call(call: Any, index: int) -> ObservedCall:
    __tracebackhide__ = True
    if isinstance(call, ObservedCall):
        return dataclasses.replace(call, index=index)
    function = _get(call, "function")
    source = function if function is not None and not callable(function) else call
    name = _get(source, "name")
    if not isinstance(name, str):
        msg = (
            f"tool call [{index}] has no name (got {_short(call, 80)}); pass mappings"
            " {'name': ..., 'arguments': {...}} or objects with .name and .arguments."
        )
        raise TypeError(msg)
    arguments = _get(source, "arguments")
    if arguments is None:
        arguments = _get(source, "input")
    if arguments is None or (isinstance(arguments, str | bytes) and not arguments.strip()):
        arguments = {}  # some OpenAI-compatible servers send "" for a call without arguments
    if isinstance(arguments, str | bytes):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            _fail(
                f"expected the arguments of tool call [{index}] {name!r} to be JSON, got a parse error at"
                f" line {exc.lineno}, column {exc.colno}: {exc.msg}\narguments: {_short(arguments)}"
            )
    if isinstance(arguments, pydantic.BaseModel):
        arguments = arguments.model_dump(mode="json")
    if not isinstance(arguments, Mapping):
        _fail(
            f"expected the arguments of tool call [{index}] {name!r} to be an object,"
            f" got {type(arguments).__name__}: {_short(arguments)}"
        )
    return ObservedCall(name=name, arguments=dict(arguments), index=index, raw=call)


def _normalize_calls(calls: Iterable[Any] | None, what: str = "calls") -> list[ObservedCall]:
    __tracebackhide__ = True
    if calls is None:
        return []
    if isinstance(calls, str | bytes | Mapping) or not isinstance(calls, Iterable):
        msg = f"{what!r} must be a sequence of tool calls (got {type(calls).__name__}); pass a list, e.g. [call]."
        raise TypeError(msg)
    return [_normalize_call(call, index) for index, call in enumerate(calls)]


def _format_call(call: ObservedCall, *, with_index: bool = True) -> str:
    arguments = ", ".join(f"{key}={value!r}" for key, value in call.arguments.items())
    if len(arguments) > 100:
        arguments = arguments[:100] + "..."
    shown = f"{call.name}({arguments})"
    return f"[{call.index}] {shown}" if with_index else shown


def _listing(calls: list[ObservedCall]) -> str:
    if not calls:
        return "calls: none"
    lines = [f"  {_format_call(call)}" for call in calls[:MAX_LISTED_CALLS]]
    if len(calls) > MAX_LISTED_CALLS:
        lines.append(f"  ... and {len(calls) - MAX_LISTED_CALLS} more")
    return f"calls ({len(calls)}):\n" + "\n".join(lines)


def _require_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        msg = f"'name' must be a non-empty tool name (got {name!r})."
        raise TypeError(msg)


def _calls_of(calls: Iterable[Any] | None, name: str, purpose: str) -> tuple[list[ObservedCall], list[ObservedCall]]:
    """All calls and those of `name`; fail when there are none of `name` to check."""
    __tracebackhide__ = True
    _require_name(name)
    normalized = _normalize_calls(calls)
    matching = [call for call in normalized if call.name == name]
    if not matching:
        _fail(f"expected tool {name!r} to be called {purpose}, it was not called\n{_listing(normalized)}")
    return normalized, matching


def tool_called(calls: Iterable[Any] | None, name: str, *, times: int | None = None) -> list[ObservedCall]:
    """Require tool `name` to be called (exactly `times` times when given); return its calls."""
    __tracebackhide__ = True
    _require_name(name)
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        msg = f"'times' must be a non-negative integer (got {times!r})."
        raise ValueError(msg)
    normalized = _normalize_calls(calls)
    matching = [call for call in normalized if call.name == name]
    if times is None and not matching:
        _fail(f"expected tool {name!r} to be called, it was not called\n{_listing(normalized)}")
    if times is not None and len(matching) != times:
        _fail(
            f"expected tool {name!r} to be called {_plural(times, 'time')},"
            f" it was called {_plural(len(matching), 'time')}\n{_listing(normalized)}"
        )
    return matching


def tool_not_called(calls: Iterable[Any] | None, name: str) -> None:
    """Require tool `name` never to be called."""
    __tracebackhide__ = True
    _require_name(name)
    normalized = _normalize_calls(calls)
    positions = [f"[{call.index}]" for call in normalized if call.name == name]
    if positions:
        _fail(
            f"expected tool {name!r} not to be called, it was called {_plural(len(positions), 'time')}"
            f" (at {', '.join(positions)})\n{_listing(normalized)}"
        )


def tools_called_in_order(calls: Iterable[Any] | None, names: Sequence[str]) -> None:
    """Require the tools `names` to be called in this order; other calls may come in between."""
    __tracebackhide__ = True
    if isinstance(names, str) or not names:
        msg = f"'names' must be a non-empty list of tool names (got {names!r})."
        raise TypeError(msg)
    for name in names:
        _require_name(name)
    normalized = _normalize_calls(calls)
    position = 0
    previous: ObservedCall | None = None
    for name in names:
        while position < len(normalized) and normalized[position].name != name:
            position += 1
        if position == len(normalized):
            if previous is None:
                reason = f"no call of {name!r}"
            else:
                reason = f"no call of {name!r} after {previous.name!r} at [{previous.index}]"
            earlier = [f"[{call.index}]" for call in normalized if call.name == name]
            if earlier:
                reason += f" ({name!r} was called only before, at {', '.join(earlier)})"
            _fail(f"expected tools called in order {' -> '.join(names)}, {reason}\n{_listing(normalized)}")
        previous = normalized[position]
        position += 1


def tool_arguments(calls: Iterable[Any] | None, name: str, schema: Schema) -> list[Any]:
    """Require the arguments of every call of `name` to validate; return the models (or argument dicts).

    The tool must be called at least once: a check of arguments that never came is no check.
    """
    __tracebackhide__ = True
    _, matching = _calls_of(calls, name, "to check its arguments")
    results = []
    failures = []
    for call in matching:
        result, errors = _validate(call.arguments, schema)
        results.append(result)
        if errors:
            failures.append(f"  {_format_call(call)}\n" + "\n".join(f"    {line}" for line in errors))
    if failures:
        _fail(
            f"expected the arguments of every call of {name!r} to match {_schema_name(schema)},"
            f" {len(failures)} of {_plural(len(matching), 'call')} did not:\n" + "\n".join(failures)
        )
    return results


def tool_argument_constraint(
    calls: Iterable[Any] | None,
    name: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    description: str,
) -> None:
    """Require `predicate(arguments)` to be true for every call of `name`.

    The tool must be called at least once. A predicate that raises (say a KeyError for a
    missing argument) fails the check and the message names the exception.
    """
    __tracebackhide__ = True
    if not isinstance(description, str) or not description.strip():
        msg = f"'description' must say what the predicate requires, e.g. 'amount <= 120' (got {description!r})."
        raise TypeError(msg)
    _, matching = _calls_of(calls, name, f"to check {description!r}")
    violations = []
    for call in matching:
        try:
            satisfied = predicate(dict(call.arguments))
        except Exception as exc:  # the predicate's own error is part of the failure message
            violations.append(f"  {_format_call(call)}: predicate raised {type(exc).__name__}: {exc}")
            continue
        if not satisfied:
            violations.append(f"  {_format_call(call)}")
    if violations:
        _fail(
            f"expected every call of {name!r} to satisfy: {description};"
            f" {len(violations)} of {_plural(len(matching), 'call')} did not:\n" + "\n".join(violations)
        )


def _argument_diff(
    expected: Mapping[str, Any], actual: Mapping[str, Any], mode: ArgumentsMode, prefix: str = ""
) -> list[str]:
    """Differences between expected and actual arguments; empty when they match under `mode`."""
    if mode == "ignore":
        return []
    differences = []
    for key, want in expected.items():
        where = f"{prefix}{key}"
        if key not in actual:
            differences.append(f"argument {where!r} missing (expected {_short(want, 60)})")
        elif isinstance(want, Mapping) and isinstance(actual[key], Mapping):
            differences.extend(_argument_diff(want, actual[key], mode, f"{where}."))
        elif not _json_equal(want, actual[key]):
            differences.append(f"argument {where!r} expected {_short(want, 60)}, got {_short(actual[key], 60)}")
    if mode == "exact":
        differences.extend(
            f"unexpected argument {prefix}{key!s}={_short(value, 60)}"
            for key, value in actual.items()
            if key not in expected
        )
    return differences


def _max_matching(edges: list[list[bool]], n_right: int) -> dict[int, int]:
    """Maximum bipartite matching (Kuhn's augmenting paths): left index -> right index."""
    owner: dict[int, int] = {}

    def assign(left: int, seen: set[int]) -> bool:
        for right in range(n_right):
            if edges[left][right] and right not in seen:
                seen.add(right)
                if right not in owner or assign(owner[right], seen):
                    owner[right] = left
                    return True
        return False

    for left in range(len(edges)):
        assign(left, set())
    return {left: right for right, left in owner.items()}


def tool_calls_match(
    calls: Iterable[Any] | None,
    expected: Sequence[Any],
    *,
    ordered: bool = True,
    check_arguments: ArgumentsMode = "subset",
) -> None:
    """Compare the calls with a golden case's expected calls: same calls, no missing, no extra.

    `check_arguments`: "subset" (expected arguments must be present and equal, nested
    mappings compared the same way), "exact" (equal, no extra argument; an expected call
    without "arguments" means no arguments) or "ignore" (names only). `ordered=False`
    matches calls in any order.
    """
    __tracebackhide__ = True
    if check_arguments not in ("subset", "exact", "ignore"):
        msg = f"'check_arguments' must be one of 'subset', 'exact', 'ignore' (got {check_arguments!r})."
        raise ValueError(msg)
    actual = _normalize_calls(calls)
    wanted = _normalize_calls(expected, "expected")
    mode = f"{'in order' if ordered else 'any order'}, arguments: {check_arguments}"
    if ordered:
        rows = []
        problems = 0
        for index in range(max(len(wanted), len(actual))):
            if index >= len(actual):
                rows.append(f"  [{index}] missing: {_format_call(wanted[index], with_index=False)}")
            elif index >= len(wanted):
                rows.append(f"  [{index}] unexpected: {_format_call(actual[index], with_index=False)}")
            elif wanted[index].name != actual[index].name:
                rows.append(
                    f"  [{index}] expected {wanted[index].name!r}, got {_format_call(actual[index], with_index=False)}"
                )
            else:
                differences = _argument_diff(wanted[index].arguments, actual[index].arguments, check_arguments)
                if not differences:
                    rows.append(f"  [{index}] ok: {actual[index].name}")
                    continue
                rows.append(f"  [{index}] {actual[index].name}: {'; '.join(differences)}")
            problems += 1
        if problems:
            _fail(f"expected tool calls to match ({mode}), {_plural(problems, 'difference')}:\n" + "\n".join(rows))
        return
    edges = [
        [w.name == a.name and not _argument_diff(w.arguments, a.arguments, check_arguments) for a in actual]
        for w in wanted
    ]
    pairs = _max_matching(edges, len(actual))
    unmatched = [call for call in wanted if call.index not in pairs]
    extra = [call for call in actual if call.index not in set(pairs.values())]
    if unmatched or extra:
        lines = []
        for call in unmatched:
            lines.append(f"  missing: {_format_call(call, with_index=False)}")
            closest = next((other for other in extra if other.name == call.name), None)
            if closest is not None:
                differences = _argument_diff(call.arguments, closest.arguments, check_arguments)
                lines.append(f"    closest: [{closest.index}] {'; '.join(differences)}")
        lines.extend(f"  unexpected: {_format_call(call)}" for call in extra)
        _fail(
            f"expected tool calls to match ({mode}), {len(unmatched)} missing, {len(extra)} unexpected:\n"
            + "\n".join(lines)
        )
