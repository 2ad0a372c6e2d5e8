"""Checks on structured output: JSON text, JSON Schema or pydantic validation, required fields.

JSON Schema validation uses the `jsonschema` package when it is importable. Without it, a
built-in validator supports this subset: `type`, `required`, `properties`, `enum`,
`minimum`, `maximum`, `items` (one schema for every item), `additionalProperties` (bool or
schema), plus the annotations `$schema`, `$id`, `$comment`, `title`, `description`,
`default` and `examples`. Any other keyword is an error, never silently ignored. Both
backends give the same messages for that subset.
"""

from __future__ import annotations

import importlib
import json
import numbers
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeGuard

import pydantic

from pytest_llmgate.checks._format import _fail, _plural, _preview, _quote_list, _require_text, _short

__all__ = ["Schema", "has_fields", "matches_schema", "valid_json"]

Schema = type[pydantic.BaseModel] | Mapping[str, Any]


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


def _is_model_class(schema: Any) -> TypeGuard[type[pydantic.BaseModel]]:
    return isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)


def _schema_name(schema: Schema) -> str:
    if not isinstance(schema, Mapping):
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
    # import_module rather than `import`: jsonschema ships no type stubs; it is used untyped.
    try:
        return importlib.import_module("jsonschema")
    except ImportError:
        return None


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
