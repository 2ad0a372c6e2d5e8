"""Checks on an agent's tool calls: which tools, how often, in which order, with which arguments.

Tool calls are given as a sequence (None counts as no calls, as in OpenAI's
`message.tool_calls`). A call is a mapping `{"name": ..., "arguments": {...}}` or an object
with `.name` and `.arguments`; OpenAI's `{"function": {"name", "arguments": "<json>"}}` and
Anthropic's `tool_use` blocks (`.name`, `.input`) are accepted too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import pydantic

from pytest_llmgate.checks._format import _fail, _plural, _short
from pytest_llmgate.checks.structured import Schema, _json_equal, _schema_name, _validate

__all__ = [
    "ObservedCall",
    "tool_argument_constraint",
    "tool_arguments",
    "tool_called",
    "tool_calls_match",
    "tool_not_called",
    "tools_called_in_order",
]

#: Most tool calls listed in a failure message.
MAX_LISTED_CALLS = 20

ArgumentsMode = Literal["subset", "exact", "ignore"]


@dataclasses.dataclass(frozen=True)
class ObservedCall:
    """One tool call, normalised from whichever shape the application or SDK produced."""

    __module__ = "pytest_llmgate.checks"

    name: str
    """Name of the tool."""
    arguments: dict[str, Any]
    """Arguments as a dict (a JSON string of arguments is parsed)."""
    index: int
    """Position of the call in the sequence given to the check."""
    raw: Any = None
    """The call exactly as given."""


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
    # A loop, not a comprehension: on Python 3.11 a comprehension is a frame of its own, and
    # without __tracebackhide__ it would show in the failure report.
    normalized = []
    for index, call in enumerate(calls):
        normalized.append(_normalize_call(call, index))
    return normalized


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


def _check_arguments_mode(check_arguments: Any) -> None:
    if check_arguments not in ("subset", "exact", "ignore"):
        msg = f"'check_arguments' must be one of 'subset', 'exact', 'ignore' (got {check_arguments!r})."
        raise ValueError(msg)


def _ordered_rows(
    wanted: list[ObservedCall], actual: list[ObservedCall], check_arguments: ArgumentsMode
) -> tuple[list[str], int]:
    """Compare position by position: one row per position and the number of positions that differ."""
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
    return rows, problems


def _calls_agree(wanted: ObservedCall, actual: ObservedCall, check_arguments: ArgumentsMode) -> bool:
    return wanted.name == actual.name and not _argument_diff(wanted.arguments, actual.arguments, check_arguments)


def _unordered_pairs(
    wanted: list[ObservedCall], actual: list[ObservedCall], check_arguments: ArgumentsMode
) -> tuple[dict[int, int], list[ObservedCall], list[ObservedCall]]:
    """The largest one-to-one pairing, in any order: (wanted index -> actual index, unmatched wanted, extra actual)."""
    edges = [[_calls_agree(w, a, check_arguments) for a in actual] for w in wanted]
    pairs = _max_matching(edges, len(actual))
    paired = set(pairs.values())
    unmatched = [call for position, call in enumerate(wanted) if position not in pairs]
    extra = [call for position, call in enumerate(actual) if position not in paired]
    return pairs, unmatched, extra


def _closest(
    call: ObservedCall, candidates: list[ObservedCall], check_arguments: ArgumentsMode, *, reverse: bool = False
) -> str | None:
    """How the first candidate of the same name differs from `call` (`reverse`: candidates are the expected side)."""
    other = next((candidate for candidate in candidates if candidate.name == call.name), None)
    if other is None:
        return None
    if reverse:
        differences = _argument_diff(other.arguments, call.arguments, check_arguments)
        return f"closest: step [{other.index}] {'; '.join(differences)}"
    differences = _argument_diff(call.arguments, other.arguments, check_arguments)
    return f"closest: [{other.index}] {'; '.join(differences)}"


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
    _check_arguments_mode(check_arguments)
    actual = _normalize_calls(calls)
    wanted = _normalize_calls(expected, "expected")
    mode = f"{'in order' if ordered else 'any order'}, arguments: {check_arguments}"
    if ordered:
        rows, problems = _ordered_rows(wanted, actual, check_arguments)
        if problems:
            _fail(f"expected tool calls to match ({mode}), {_plural(problems, 'difference')}:\n" + "\n".join(rows))
        return
    _, unmatched, extra = _unordered_pairs(wanted, actual, check_arguments)
    if unmatched or extra:
        lines = []
        for call in unmatched:
            lines.append(f"  missing: {_format_call(call, with_index=False)}")
            closest = _closest(call, extra, check_arguments)
            if closest is not None:
                lines.append(f"    {closest}")
        lines.extend(f"  unexpected: {_format_call(call)}" for call in extra)
        _fail(
            f"expected tool calls to match ({mode}), {len(unmatched)} missing, {len(extra)} unexpected:\n"
            + "\n".join(lines)
        )
