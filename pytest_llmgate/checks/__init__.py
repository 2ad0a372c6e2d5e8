"""Programmatic checks (layer 1): assert helpers for the bodies of eval tests.

Each check raises `CheckFailed` (an `AssertionError`) with a message that says what was
expected and what came, and hides its own frames (`__tracebackhide__`) so pytest points at
the line of the test that called it. On success a check returns what the test is likely to
use next (the parsed JSON, the validated model, the regex match, the matching tool calls).

The checks live in modules by job: `text` (regexes, substrings, phrases, length),
`structured` (JSON, JSON Schema and pydantic validation, fields), `tools` (tool calls) and
`trajectory` (an agent's steps against the expected ones, step limits, loops).
Import them from here: `from pytest_llmgate import checks; checks.valid_json(...)`.
"""

from __future__ import annotations

from pytest_llmgate.checks._format import PREVIEW_CHARS as PREVIEW_CHARS
from pytest_llmgate.checks._format import CheckFailed
from pytest_llmgate.checks.structured import Schema as Schema
from pytest_llmgate.checks.structured import has_fields, matches_schema, valid_json
from pytest_llmgate.checks.text import CONTEXT_CHARS as CONTEXT_CHARS
from pytest_llmgate.checks.text import contains, length, matches, no_banned_phrases, not_contains, not_matches
from pytest_llmgate.checks.tools import MAX_LISTED_CALLS as MAX_LISTED_CALLS
from pytest_llmgate.checks.tools import ArgumentsMode as ArgumentsMode
from pytest_llmgate.checks.tools import (
    ObservedCall,
    tool_argument_constraint,
    tool_arguments,
    tool_called,
    tool_calls_match,
    tool_not_called,
    tools_called_in_order,
)
from pytest_llmgate.checks.trajectory import MODE_RULES as MODE_RULES
from pytest_llmgate.checks.trajectory import TrajectoryMode as TrajectoryMode
from pytest_llmgate.checks.trajectory import TrajectoryScores, max_steps, no_loops, trajectory, trajectory_scores

__all__ = [
    "CheckFailed",
    "ObservedCall",
    "TrajectoryScores",
    "contains",
    "has_fields",
    "length",
    "matches",
    "matches_schema",
    "max_steps",
    "no_banned_phrases",
    "no_loops",
    "not_contains",
    "not_matches",
    "tool_argument_constraint",
    "tool_arguments",
    "tool_called",
    "tool_calls_match",
    "tool_not_called",
    "tools_called_in_order",
    "trajectory",
    "trajectory_scores",
    "valid_json",
]
