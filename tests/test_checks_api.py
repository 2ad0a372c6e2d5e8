"""The checks package keeps its public paths: every name imports where the README says, and a
failing check's traceback names `pytest_llmgate.checks.CheckFailed` and hides the package's frames."""

from __future__ import annotations

import pickle
import textwrap

import pytest

import pytest_llmgate
from pytest_llmgate import checks

PUBLIC = [
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


def test_all_lists_the_public_names() -> None:
    assert sorted(checks.__all__) == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_imports_through_its_documented_path(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from pytest_llmgate.checks import {name}", namespace)
    assert namespace[name] is getattr(checks, name)
    assert callable(namespace[name])


def test_the_package_and_its_top_level_names_are_the_same_objects() -> None:
    assert pytest_llmgate.checks is checks
    assert pytest_llmgate.CheckFailed is checks.CheckFailed
    assert issubclass(checks.CheckFailed, AssertionError)


def test_classes_carry_the_documented_module_name() -> None:
    assert checks.CheckFailed.__module__ == "pytest_llmgate.checks"
    assert checks.ObservedCall.__module__ == "pytest_llmgate.checks"
    assert checks.TrajectoryScores.__module__ == "pytest_llmgate.checks"
    error = pickle.loads(pickle.dumps(checks.CheckFailed("expected 'refund'")))
    assert type(error) is checks.CheckFailed
    assert str(error) == "expected 'refund'"
    call = checks.ObservedCall(name="lookup_order", arguments={"order_id": "A-1"}, index=0)
    assert pickle.loads(pickle.dumps(call)) == call


def test_a_failing_check_hides_every_frame_of_the_package(pytester: pytest.Pytester) -> None:
    # One check of each module, each through a helper of another module (_fail, _normalize_calls).
    pytester.makepyfile(
        test_reply=textwrap.dedent("""
            from pytest_llmgate import checks


            def test_json():
                checks.valid_json("{'a': 1}")


            def test_text():
                checks.length("ok", min_words=3)


            def test_tools():
                checks.tool_called([{"name": "search", "arguments": "{bad"}], "search")
            """)
    )
    result = pytester.runpytest("-p", "no:llmgate", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    output = result.stdout.str()
    assert output.count("\nE       pytest_llmgate.checks.CheckFailed: expected") == 3
    assert output.count("\ntest_reply.py:") == 3  # one frame each: the test's own line
    assert "pytest_llmgate/checks/" not in output
    assert "__tracebackhide__" not in output
    assert "During handling" not in output
