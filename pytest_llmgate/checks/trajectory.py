"""Checks on an agent's trajectory: its tool calls compared with the expected steps, its length, its loops.

A step is one tool call. A call matches an expected step when the names are equal and the
arguments agree under `check_arguments`, exactly as in `tool_calls_match`. Steps and calls
pair one to one: an expected step repeated twice needs two matching calls.

The recorded metric (`LLMGate.trajectory`) uses `trajectory_scores`: tool-call precision,
recall and F1 over that one-to-one pairing, in any order, plus whether the trajectory passes
`trajectory(calls, expected, mode=...)`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pytest_llmgate.checks._format import _fail, _plural
from pytest_llmgate.checks.tools import (
    ArgumentsMode,
    ObservedCall,
    _calls_agree,
    _check_arguments_mode,
    _closest,
    _format_call,
    _listing,
    _normalize_calls,
    _ordered_rows,
    _unordered_pairs,
)

__all__ = ["TrajectoryScores", "max_steps", "no_loops", "trajectory", "trajectory_scores"]

TrajectoryMode = Literal["exact", "in_order", "any_order", "subset", "superset"]

#: What each mode requires, as the failure message and the README say it.
MODE_RULES: dict[str, str] = {
    "exact": "the expected steps in this order and no other call",
    "in_order": "the expected steps in this order, other calls allowed before, between and after",
    "any_order": "the expected steps in any order and no other call",
    "superset": "every expected step in any order, other calls allowed",
    "subset": "no call but expected steps, in any order, steps may be left out",
}


def _require_mode(mode: Any) -> None:
    if not isinstance(mode, str) or mode not in MODE_RULES:
        msg = f"'mode' must be one of {', '.join(repr(name) for name in MODE_RULES)} (got {mode!r})."
        raise ValueError(msg)


def _expected_steps(expected: Any) -> list[ObservedCall]:
    __tracebackhide__ = True
    if expected is None:
        # A case without `expected_tool_calls` must not pass as "no call expected".
        msg = "'expected' must be a sequence of tool calls (got None); pass [] to expect no call."
        raise TypeError(msg)
    return _normalize_calls(expected, "expected")


def _step(call: ObservedCall) -> str:
    return f"step [{call.index}] {_format_call(call, with_index=False)}"


def _in_order_rows(
    wanted: list[ObservedCall], actual: list[ObservedCall], check_arguments: ArgumentsMode
) -> tuple[list[str], int]:
    """Match the steps as a subsequence of the calls: one row per step and the number not found.

    Taking the earliest matching call for each step finds a full match whenever one exists:
    any other choice leaves fewer calls for the steps after it.
    """
    rows = []
    missing = 0
    position = 0
    previous: ObservedCall | None = None
    for step in wanted:
        found = next(
            (call for call in actual[position:] if _calls_agree(step, call, check_arguments)),
            None,
        )
        if found is not None:
            rows.append(f"  step [{step.index}] ok: {step.name} at [{found.index}]")
            position = found.index + 1
            previous = found
            continue
        missing += 1
        after = "" if previous is None else f" after [{previous.index}]"
        row = f"  step [{step.index}] missing{after}: {_format_call(step, with_index=False)}"
        earlier = [f"[{call.index}]" for call in actual[:position] if _calls_agree(step, call, check_arguments)]
        if earlier:
            row += f" (a matching call comes only before, at {', '.join(earlier)})"
        rows.append(row)
        closest = _closest(step, actual[position:], check_arguments)
        if closest is not None:
            rows.append(f"    {closest}")
    return rows, missing


def trajectory(
    calls: Iterable[Any] | None,
    expected: Sequence[Any],
    *,
    mode: TrajectoryMode = "exact",
    check_arguments: ArgumentsMode = "subset",
) -> None:
    """Require the tool calls to follow the expected steps under `mode`.

    - "exact": the calls are the expected steps, one for one, in the same order, and nothing else.
    - "in_order": every expected step comes, in the expected order; other calls may come before,
      between and after them.
    - "any_order": the calls are the expected steps, one for one, in any order, and nothing else.
    - "superset": every expected step comes, in any order; other calls are allowed.
    - "subset": every call is one of the expected steps (one call per step), in any order;
      steps may be left out.

    `check_arguments` is "subset", "exact" or "ignore", as in `tool_calls_match`.
    """
    __tracebackhide__ = True
    _require_mode(mode)
    _check_arguments_mode(check_arguments)
    actual = _normalize_calls(calls)
    wanted = _expected_steps(expected)
    header = f"expected the trajectory to match (mode {mode!r}, arguments: {check_arguments})"
    rule = f"mode {mode!r} wants {MODE_RULES[mode]}"
    if mode == "exact":
        rows, problems = _ordered_rows(wanted, actual, check_arguments)
        if problems:
            _fail(f"{header}, {_plural(problems, 'difference')}:\n" + "\n".join(rows) + f"\n{rule}")
        return
    if mode == "in_order":
        rows, missing = _in_order_rows(wanted, actual, check_arguments)
        if missing:
            _fail(
                f"{header}, {missing} of {_plural(len(wanted), 'step')} not found in order:\n"
                + "\n".join(rows)
                + f"\n{_listing(actual)}\n{rule}"
            )
        return
    _, unmatched, extra = _unordered_pairs(wanted, actual, check_arguments)
    lines = []
    if mode != "subset":
        for step in unmatched:
            lines.append(f"  missing: {_step(step)}")
            closest = _closest(step, extra, check_arguments)
            if closest is not None:
                lines.append(f"    {closest}")
    if mode != "superset":
        for call in extra:
            lines.append(f"  unexpected: {_format_call(call)}")
            closest = _closest(call, unmatched, check_arguments, reverse=True)
            if closest is not None:
                lines.append(f"    {closest}")
    if not lines:
        return
    lines.append(rule)
    if mode == "superset":
        _fail(f"{header}, {len(unmatched)} of {_plural(len(wanted), 'step')} missing:\n" + "\n".join(lines))
    if mode == "subset":
        _fail(f"{header}, {len(extra)} of {_plural(len(actual), 'call')} unexpected:\n" + "\n".join(lines))
    _fail(f"{header}, {len(unmatched)} missing, {len(extra)} unexpected:\n" + "\n".join(lines))


def _require_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{name!r} must be a non-negative integer (got {value!r})."
        raise ValueError(msg)
    return value


def max_steps(calls: Iterable[Any] | None, n: int) -> None:
    """Require at most `n` steps (tool calls)."""
    __tracebackhide__ = True
    _require_count(n, "n")
    actual = _normalize_calls(calls)
    if len(actual) > n:
        _fail(f"expected at most {_plural(n, 'step')} (tool calls), got {len(actual)}\n{_listing(actual)}")


def _canonical(value: Any) -> Any:
    """A JSON-comparable form: 1.0 and 1 are one value, True stays apart from 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def _call_key(call: ObservedCall) -> str:
    return json.dumps([call.name, _canonical(call.arguments)], sort_keys=True, default=repr)


def no_loops(calls: Iterable[Any] | None, *, max_repeats: int = 1) -> None:
    """Require no call (the same tool with the same arguments) to be repeated more than `max_repeats` times.

    A repeat is any later occurrence of an identical call, next to it or not, so a cycle
    (search, open, search, open, ...) is caught too. Arguments compare as JSON values. The
    default allows one repeat (a retry after a tool error); `max_repeats=0` forbids any.
    """
    __tracebackhide__ = True
    _require_count(max_repeats, "max_repeats")
    actual = _normalize_calls(calls)
    positions: dict[str, list[ObservedCall]] = {}
    for call in actual:
        positions.setdefault(_call_key(call), []).append(call)
    loops = [same for same in positions.values() if len(same) - 1 > max_repeats]
    if loops:
        lines = [
            f"  {_format_call(same[0], with_index=False)} came {len(same)} times,"
            f" at {', '.join(f'[{call.index}]' for call in same)}"
            for same in loops
        ]
        _fail(
            f"expected no call repeated more than {_plural(max_repeats, 'time')} (max_repeats={max_repeats}),"
            f" {_plural(len(loops), 'call')} looped:\n" + "\n".join(lines) + f"\n{_listing(actual)}"
        )


@dataclasses.dataclass(frozen=True)
class TrajectoryScores:
    """How well the tool calls match the expected steps (`LLMGate.trajectory` records these)."""

    __module__ = "pytest_llmgate.checks"

    precision: float
    """Matched calls / calls (1.0 when no call was made: nothing made was wrong)."""
    recall: float
    """Matched steps / expected steps (1.0 when no step was expected: nothing was missed)."""
    f1: float
    """Harmonic mean of precision and recall (0.0 when both are 0)."""
    match: bool
    """Whether `trajectory(calls, expected, mode=mode)` passes."""
    matched: tuple[tuple[int, int], ...]
    """The one-to-one pairing the scores count: (expected step index, call index), by step."""
    calls: tuple[str, ...] = ()
    """Tool names of the calls, in order."""
    expected: tuple[str, ...] = ()
    """Tool names of the expected steps, in order."""


def trajectory_scores(
    calls: Iterable[Any] | None,
    expected: Sequence[Any],
    *,
    mode: TrajectoryMode = "exact",
    check_arguments: ArgumentsMode = "subset",
) -> TrajectoryScores:
    """Tool-call precision, recall and F1 over the largest one-to-one pairing of calls and steps, in any order.

    Order does not enter these three (a swapped pair of calls keeps them at 1.0); `match`
    says whether the trajectory passes `mode`, order included where the mode asks for it.
    """
    __tracebackhide__ = True
    _require_mode(mode)
    _check_arguments_mode(check_arguments)
    actual = _normalize_calls(calls)
    wanted = _expected_steps(expected)
    pairs, _, _ = _unordered_pairs(wanted, actual, check_arguments)
    precision = len(pairs) / len(actual) if actual else 1.0
    recall = len(pairs) / len(wanted) if wanted else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    try:
        trajectory(actual, wanted, mode=mode, check_arguments=check_arguments)
    except AssertionError:
        match = False
    else:
        match = True
    return TrajectoryScores(
        precision=precision,
        recall=recall,
        f1=f1,
        match=match,
        matched=tuple(sorted(pairs.items())),
        calls=tuple(call.name for call in actual),
        expected=tuple(step.name for step in wanted),
    )
