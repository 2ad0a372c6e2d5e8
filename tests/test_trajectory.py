"""Trajectory checks and the trajectory metric: each mode passes and fails where its definition
says (checked against a brute-force reading of the definitions), failure messages word for word,
the scores on worked examples, and a gated session that records the metric and gates on it."""

from __future__ import annotations

import itertools
import json
import random
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_llmgate import checks
from pytest_llmgate.checks import CheckFailed
from pytest_llmgate.datasets import ToolCall
from pytest_llmgate.gate.records import RunResults


def failure(check: Any, *args: Any, **kwargs: Any) -> str:
    """Run a check that must fail and return its message."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


LOOKUP = {"name": "lookup_order", "arguments": {"order_id": "A-1042"}}
POLICY = {"name": "search_policy", "arguments": {"query": "refund window"}}
REFUND = {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 20.0}}
EMAIL = {"name": "send_email", "arguments": {"template": "refund"}}

# The expected steps of a refund case, as a golden set holds them.
EXPECTED = [ToolCall(name="lookup_order", arguments={"order_id": "A-1042"}), ToolCall(**REFUND)]

# The agent's calls in the SDKs' shapes: OpenAI (arguments as JSON text) and Anthropic tool_use.
OPENAI_LOOKUP = {"type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id": "A-1042"}'}}
ANTHROPIC_REFUND = SimpleNamespace(
    type="tool_use", id="toolu_1", name="issue_refund", input={"order_id": "A-1042", "amount": 20}
)

# (calls, which modes pass) for the expected steps [lookup, refund].
SCENARIOS = {
    "the same steps": ([OPENAI_LOOKUP, ANTHROPIC_REFUND], {"exact", "in_order", "any_order", "superset", "subset"}),
    "swapped": ([REFUND, LOOKUP], {"any_order", "superset", "subset"}),
    "a call in between": ([LOOKUP, POLICY, REFUND], {"in_order", "superset"}),
    "a step left out": ([LOOKUP], {"subset"}),
    "swapped, a call after": ([REFUND, LOOKUP, EMAIL], {"superset"}),
    "no call": ([], {"subset"}),
    "a step repeated": ([LOOKUP, REFUND, REFUND], {"in_order", "superset"}),
}
MODES = ["exact", "in_order", "any_order", "superset", "subset"]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_passes_exactly_where_its_definition_says(scenario: str, mode: Any) -> None:
    calls, passing = SCENARIOS[scenario]
    if mode in passing:
        assert checks.trajectory(calls, EXPECTED, mode=mode) is None
    else:
        with pytest.raises(CheckFailed):
            checks.trajectory(calls, EXPECTED, mode=mode)


# --------------------------------------------------------------------------- messages


def test_exact_names_each_step_that_differs() -> None:
    assert failure(checks.trajectory, [LOOKUP, POLICY, REFUND], EXPECTED, mode="exact") == (
        "expected the trajectory to match (mode 'exact', arguments: subset), 2 differences:\n"
        "  [0] ok: lookup_order\n"
        "  [1] expected 'issue_refund', got search_policy(query='refund window')\n"
        "  [2] unexpected: issue_refund(order_id='A-1042', amount=20.0)\n"
        "mode 'exact' wants the expected steps in this order and no other call"
    )
    wrong_amount = {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 25.0}}
    assert failure(checks.trajectory, [LOOKUP, wrong_amount], EXPECTED) == (
        "expected the trajectory to match (mode 'exact', arguments: subset), 1 difference:\n"
        "  [0] ok: lookup_order\n"
        "  [1] issue_refund: argument 'amount' expected 20.0, got 25.0\n"
        "mode 'exact' wants the expected steps in this order and no other call"
    )


def test_in_order_names_the_step_not_found_and_where_it_came_instead() -> None:
    assert failure(checks.trajectory, [REFUND, POLICY, LOOKUP], EXPECTED, mode="in_order") == (
        "expected the trajectory to match (mode 'in_order', arguments: subset), 1 of 2 steps not found in order:\n"
        "  step [0] ok: lookup_order at [2]\n"
        "  step [1] missing after [2]: issue_refund(order_id='A-1042', amount=20.0)"
        " (a matching call comes only before, at [0])\n"
        "calls (3):\n"
        "  [0] issue_refund(order_id='A-1042', amount=20.0)\n"
        "  [1] search_policy(query='refund window')\n"
        "  [2] lookup_order(order_id='A-1042')\n"
        "mode 'in_order' wants the expected steps in this order, other calls allowed before, between and after"
    )
    wrong_amount = {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 25.0}}
    assert failure(checks.trajectory, [POLICY, wrong_amount], EXPECTED, mode="in_order") == (
        "expected the trajectory to match (mode 'in_order', arguments: subset), 2 of 2 steps not found in order:\n"
        "  step [0] missing: lookup_order(order_id='A-1042')\n"
        "  step [1] missing: issue_refund(order_id='A-1042', amount=20.0)\n"
        "    closest: [1] argument 'amount' expected 20.0, got 25.0\n"
        "calls (2):\n"
        "  [0] search_policy(query='refund window')\n"
        "  [1] issue_refund(order_id='A-1042', amount=25.0)\n"
        "mode 'in_order' wants the expected steps in this order, other calls allowed before, between and after"
    )


def test_any_order_lists_missing_steps_and_unexpected_calls() -> None:
    wrong_amount = {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 25.0}}
    assert failure(checks.trajectory, [wrong_amount, LOOKUP, EMAIL], EXPECTED, mode="any_order") == (
        "expected the trajectory to match (mode 'any_order', arguments: subset), 1 missing, 2 unexpected:\n"
        "  missing: step [1] issue_refund(order_id='A-1042', amount=20.0)\n"
        "    closest: [0] argument 'amount' expected 20.0, got 25.0\n"
        "  unexpected: [0] issue_refund(order_id='A-1042', amount=25.0)\n"
        "    closest: step [1] argument 'amount' expected 20.0, got 25.0\n"
        "  unexpected: [2] send_email(template='refund')\n"
        "mode 'any_order' wants the expected steps in any order and no other call"
    )


def test_superset_lists_only_the_missing_steps() -> None:
    assert failure(checks.trajectory, [POLICY, LOOKUP, EMAIL], EXPECTED, mode="superset") == (
        "expected the trajectory to match (mode 'superset', arguments: subset), 1 of 2 steps missing:\n"
        "  missing: step [1] issue_refund(order_id='A-1042', amount=20.0)\n"
        "mode 'superset' wants every expected step in any order, other calls allowed"
    )


def test_subset_lists_only_the_unexpected_calls() -> None:
    assert failure(checks.trajectory, [LOOKUP, EMAIL, LOOKUP], EXPECTED, mode="subset") == (
        "expected the trajectory to match (mode 'subset', arguments: subset), 2 of 3 calls unexpected:\n"
        "  unexpected: [1] send_email(template='refund')\n"
        "  unexpected: [2] lookup_order(order_id='A-1042')\n"
        "mode 'subset' wants no call but expected steps, in any order, steps may be left out"
    )


def test_arguments_are_matched_as_tool_calls_match_does() -> None:
    noisy = [
        {"name": "lookup_order", "arguments": {"order_id": "A-1042", "verbose": True}},
        {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 20}},  # 20 equals 20.0
    ]
    assert checks.trajectory(noisy, EXPECTED) is None
    assert checks.trajectory(noisy, [{"name": "lookup_order"}, {"name": "issue_refund"}]) is None
    assert failure(checks.trajectory, noisy, EXPECTED, check_arguments="exact") == (
        "expected the trajectory to match (mode 'exact', arguments: exact), 1 difference:\n"
        "  [0] lookup_order: unexpected argument verbose=True\n"
        "  [1] ok: issue_refund\n"
        "mode 'exact' wants the expected steps in this order and no other call"
    )
    other_order = [{"name": "lookup_order", "arguments": {"order_id": "B-7"}}, REFUND]
    assert checks.trajectory(other_order, EXPECTED, check_arguments="ignore") is None
    flagged = [{"name": "lookup_order", "arguments": {"order_id": "A-1042", "rush": 1}}]
    with pytest.raises(CheckFailed):  # True is not 1, as JSON sees it
        checks.trajectory(flagged, [{"name": "lookup_order", "arguments": {"rush": True}}])


def test_a_repeated_step_needs_a_call_of_its_own() -> None:
    twice = [LOOKUP, LOOKUP]
    assert checks.trajectory([LOOKUP, POLICY, LOOKUP], twice, mode="in_order") is None
    assert failure(checks.trajectory, [LOOKUP, POLICY], twice, mode="superset") == (
        "expected the trajectory to match (mode 'superset', arguments: subset), 1 of 2 steps missing:\n"
        "  missing: step [1] lookup_order(order_id='A-1042')\n"
        "mode 'superset' wants every expected step in any order, other calls allowed"
    )


def test_bad_arguments_of_the_check_are_errors_naming_the_remedy() -> None:
    with pytest.raises(ValueError) as info:
        checks.trajectory([LOOKUP], EXPECTED, mode="strict")  # type: ignore[arg-type]
    assert str(info.value) == (
        "'mode' must be one of 'exact', 'in_order', 'any_order', 'superset', 'subset' (got 'strict')."
    )
    with pytest.raises(TypeError) as info:
        checks.trajectory([LOOKUP], None)  # type: ignore[arg-type]
    assert str(info.value) == "'expected' must be a sequence of tool calls (got None); pass [] to expect no call."
    with pytest.raises(ValueError) as info:
        checks.trajectory([LOOKUP], EXPECTED, check_arguments="loose")  # type: ignore[arg-type]
    assert str(info.value) == "'check_arguments' must be one of 'subset', 'exact', 'ignore' (got 'loose')."
    assert checks.trajectory(None, [], mode="exact") is None  # None is no call, as in OpenAI's message


# --------------------------------------------------------------------------- against the definitions


def _agree(want: dict[str, Any], call: dict[str, Any]) -> bool:
    return want["name"] == call["name"] and all(call["arguments"].get(k) == v for k, v in want["arguments"].items())


def _injections(left: list[Any], right: list[Any]) -> list[tuple[int, ...]]:
    """Every way to give each left item its own right item, in any order."""
    return list(itertools.permutations(range(len(right)), len(left)))


def _reference(mode: str, calls: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """The modes read literally from the docstring, by brute force."""
    if mode == "exact":
        return len(calls) == len(expected) and all(_agree(w, c) for w, c in zip(expected, calls, strict=True))
    if mode == "in_order":
        return any(
            all(_agree(w, calls[i]) for w, i in zip(expected, picks, strict=True))
            for picks in itertools.combinations(range(len(calls)), len(expected))
        )
    if mode in ("any_order", "superset"):
        if mode == "any_order" and len(calls) != len(expected):
            return False
        return any(
            all(_agree(w, calls[i]) for w, i in zip(expected, picks, strict=True))
            for picks in _injections(expected, calls)
        )
    return any(
        all(_agree(expected[i], c) for c, i in zip(calls, picks, strict=True)) for picks in _injections(calls, expected)
    )


def _largest_pairing(calls: list[dict[str, Any]], expected: list[dict[str, Any]]) -> int:
    best = 0
    for size in range(min(len(calls), len(expected)) + 1):
        for steps in itertools.combinations(range(len(expected)), size):
            for picks in itertools.permutations(range(len(calls)), size):
                if all(_agree(expected[s], calls[p]) for s, p in zip(steps, picks, strict=True)):
                    best = size
    return best


def _random_call(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(["search", "open", "buy"])
    return {"name": name, "arguments": {"q": rng.choice(["a", "b"])} if rng.random() < 0.7 else {}}


def test_modes_and_scores_agree_with_a_brute_force_reading_of_the_definitions() -> None:
    rng = random.Random(20261201)
    outcomes: dict[str, set[bool]] = {mode: set() for mode in MODES}
    for _ in range(400):
        calls = [_random_call(rng) for _ in range(rng.randint(0, 4))]
        expected = [_random_call(rng) for _ in range(rng.randint(0, 3))]
        for mode in MODES:
            want = _reference(mode, calls, expected)
            outcomes[mode].add(want)
            try:
                checks.trajectory(calls, expected, mode=mode)  # type: ignore[arg-type]
            except CheckFailed:
                got = False
            else:
                got = True
            assert got == want, (mode, calls, expected)
        scores = checks.trajectory_scores(calls, expected)
        matched = _largest_pairing(calls, expected)
        assert len(scores.matched) == matched
        assert scores.precision == (matched / len(calls) if calls else 1.0)
        assert scores.recall == (matched / len(expected) if expected else 1.0)
        assert scores.match == _reference("exact", calls, expected)
    assert all(seen == {True, False} for seen in outcomes.values())  # every mode both passed and failed


# --------------------------------------------------------------------------- scores


def test_scores_on_worked_examples() -> None:
    # 3 calls, 2 expected steps; lookup matches, the refund's amount is wrong: 1 pair.
    wrong_amount = {"name": "issue_refund", "arguments": {"order_id": "A-1042", "amount": 25.0}}
    scores = checks.trajectory_scores([LOOKUP, POLICY, wrong_amount], EXPECTED)
    assert (scores.precision, scores.recall, scores.match, scores.matched) == (1 / 3, 0.5, False, ((0, 0),))
    assert scores.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)) == pytest.approx(0.4)
    assert scores.calls == ("lookup_order", "search_policy", "issue_refund")
    assert scores.expected == ("lookup_order", "issue_refund")
    # Swapped: every call pairs with a step (order does not enter P/R/F1), but not an exact match.
    swapped = checks.trajectory_scores([REFUND, LOOKUP], EXPECTED)
    assert (swapped.precision, swapped.recall, swapped.f1, swapped.match) == (1.0, 1.0, 1.0, False)
    assert swapped.matched == ((0, 1), (1, 0))
    assert checks.trajectory_scores([REFUND, LOOKUP], EXPECTED, mode="any_order").match is True
    # One of two steps, no wrong call: precision 1, recall 1/2, F1 2/3.
    half = checks.trajectory_scores([LOOKUP], EXPECTED)
    assert (half.precision, half.recall, half.f1) == (1.0, 0.5, pytest.approx(2 / 3))


def test_scores_when_either_side_is_empty_stay_finite() -> None:
    nothing = checks.trajectory_scores([], [])
    assert (nothing.precision, nothing.recall, nothing.f1, nothing.match) == (1.0, 1.0, 1.0, True)
    uncalled = checks.trajectory_scores(None, EXPECTED)
    assert (uncalled.precision, uncalled.recall, uncalled.f1, uncalled.match) == (1.0, 0.0, 0.0, False)
    unwanted = checks.trajectory_scores([EMAIL], [])
    assert (unwanted.precision, unwanted.recall, unwanted.f1, unwanted.match) == (0.0, 1.0, 0.0, False)


# --------------------------------------------------------------------------- max_steps, no_loops


def test_max_steps_counts_tool_calls() -> None:
    assert checks.max_steps([LOOKUP, REFUND], 2) is None
    assert checks.max_steps(None, 0) is None
    assert failure(checks.max_steps, [LOOKUP, POLICY, REFUND], 2) == (
        "expected at most 2 steps (tool calls), got 3\n"
        "calls (3):\n"
        "  [0] lookup_order(order_id='A-1042')\n"
        "  [1] search_policy(query='refund window')\n"
        "  [2] issue_refund(order_id='A-1042', amount=20.0)"
    )
    assert failure(checks.max_steps, [LOOKUP], 0) == (
        "expected at most 0 steps (tool calls), got 1\ncalls (1):\n  [0] lookup_order(order_id='A-1042')"
    )
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError) as info:
            checks.max_steps([LOOKUP], bad)  # type: ignore[arg-type]
        assert str(info.value) == f"'n' must be a non-negative integer (got {bad!r})."


def test_no_loops_allows_one_repeat_by_default_and_catches_cycles() -> None:
    assert checks.no_loops([LOOKUP, LOOKUP, REFUND]) is None  # a retry
    other_order = {"name": "lookup_order", "arguments": {"order_id": "B-7"}}
    assert checks.no_loops([LOOKUP, other_order, LOOKUP, other_order]) is None  # other arguments, other call
    cycle = [POLICY, LOOKUP, POLICY, LOOKUP, POLICY, LOOKUP, REFUND]
    assert failure(checks.no_loops, cycle) == (
        "expected no call repeated more than 1 time (max_repeats=1), 2 calls looped:\n"
        "  search_policy(query='refund window') came 3 times, at [0], [2], [4]\n"
        "  lookup_order(order_id='A-1042') came 3 times, at [1], [3], [5]\n"
        "calls (7):\n"
        "  [0] search_policy(query='refund window')\n"
        "  [1] lookup_order(order_id='A-1042')\n"
        "  [2] search_policy(query='refund window')\n"
        "  [3] lookup_order(order_id='A-1042')\n"
        "  [4] search_policy(query='refund window')\n"
        "  [5] lookup_order(order_id='A-1042')\n"
        "  [6] issue_refund(order_id='A-1042', amount=20.0)"
    )
    assert checks.no_loops(cycle, max_repeats=2) is None


def test_no_loops_compares_arguments_as_json() -> None:
    as_int = {"name": "issue_refund", "arguments": {"amount": 20, "order_id": "A-1042"}}  # key order, 20 == 20.0
    assert failure(checks.no_loops, [REFUND, as_int], max_repeats=0) == (
        "expected no call repeated more than 0 times (max_repeats=0), 1 call looped:\n"
        "  issue_refund(order_id='A-1042', amount=20.0) came 2 times, at [0], [1]\n"
        "calls (2):\n"
        "  [0] issue_refund(order_id='A-1042', amount=20.0)\n"
        "  [1] issue_refund(amount=20, order_id='A-1042')"
    )
    flags = [{"name": "notify", "arguments": {"urgent": True}}, {"name": "notify", "arguments": {"urgent": 1}}]
    assert checks.no_loops(flags, max_repeats=0) is None  # True is not 1
    with pytest.raises(ValueError) as info:
        checks.no_loops([LOOKUP], max_repeats=-1)
    assert str(info.value) == "'max_repeats' must be a non-negative integer (got -1)."


# --------------------------------------------------------------------------- the recorded metric

AGENT_TEST = """
import os

import pytest

from pytest_llmgate import checks

MODE = os.environ.get("AGENT_MODE", "good")


def agent(case):
    calls = [dict(call) for call in case.metadata["calls"]]
    number = int(case.id.split("-")[1])
    if MODE == "detour" and number % 2 == 0:
        calls.insert(0, {"name": "search_policy", "arguments": {"query": "refunds"}})
    return calls


@pytest.mark.golden("datasets/agent.jsonl", metrics={"trajectory_f1": {"tolerance": 0.05}})
def test_agent(case, llm_gate):
    calls = agent(case)
    llm_gate.output({"calls": calls})
    if case.expected_tool_calls is not None:
        llm_gate.trajectory(calls, mode="in_order")
    checks.max_steps(calls, 5)
    checks.no_loops(calls)
"""


def _agent_project(pytester: pytest.Pytester, n: int = 30) -> None:
    lines = []
    for i in range(n):
        calls = [
            {"name": "lookup_order", "arguments": {"order_id": f"A-{i}"}},
            {"name": "issue_refund", "arguments": {"order_id": f"A-{i}", "amount": 10.0 + i}},
        ]
        case: dict[str, Any] = {"id": f"r-{i}", "input": f"refund order A-{i}", "metadata": {"calls": calls}}
        if i != 0:  # r-0 has no expected calls: it is not scored on trajectory
            case["expected_tool_calls"] = calls
        lines.append(json.dumps(case))
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir(exist_ok=True)
    (pytester.path / "datasets/agent.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pytester.makepyfile(test_agent=AGENT_TEST)


GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


def test_the_metric_is_recorded_baselined_and_gated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MODE", "good")
    _agent_project(pytester)
    update = pytester.runpytest(*GATE, "--llm-gate-update")
    assert update.ret == 0, update.stdout.str()
    baseline = json.loads((pytester.path / "baselines/test_agent/test_agent.json").read_text(encoding="utf-8"))
    assert baseline["cases"]["r-1"]["metrics"]["trajectory_f1"] == 1.0
    assert "trajectory_f1" not in baseline["cases"]["r-0"]["metrics"]
    assert baseline["aggregates"]["trajectory_match"] == {"mean": 1.0, "n": 29.0}

    # In order with a detour: still an in_order match, but precision drops to 2/3 on every other case.
    monkeypatch.setenv("AGENT_MODE", "detour")
    result = pytester.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    results = RunResults.model_validate_json((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    statuses = {m.metric: m.status for m in results.verdicts[0].metrics}
    assert statuses["trajectory_precision"] == "fail" and statuses["trajectory_f1"] == "fail"
    # Recall did not move, but the outputs did: on 29 cases "no change" cannot show a drop within
    # the tolerance (an app breaking 3 % of its cases shows none on 29 cases 41 % of the time).
    assert statuses["trajectory_recall"] == "inconclusive"
    (suite,) = results.suites.values()
    specs = suite.metrics
    assert specs["trajectory_match"].kind == "binary" and specs["trajectory_f1"].kind == "continuous"
    detoured = suite.cases["r-2"]
    assert detoured.metrics["trajectory_precision"] == pytest.approx(2 / 3)
    assert detoured.metrics["trajectory_f1"] == pytest.approx(0.8)
    assert detoured.metrics["trajectory_match"] == 1.0
    assert detoured.details["trajectory"] == {
        "mode": "in_order",
        "check_arguments": "subset",
        "calls": ["search_policy", "lookup_order", "issue_refund"],
        "expected": ["lookup_order", "issue_refund"],
        "matched": [[0, 1], [1, 2]],
    }
    assert "trajectory_precision" in result.stdout.str()


def test_a_case_without_expected_calls_is_an_error_naming_the_remedy(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/agent.jsonl").write_text('{"id": "r-1", "input": "hi"}\n', encoding="utf-8")
    pytester.makepyfile(
        test_agent=textwrap.dedent("""
            import pytest


            @pytest.mark.golden("datasets/agent.jsonl")
            def test_agent(case, llm_gate):
                llm_gate.trajectory([{"name": "lookup_order"}])
            """)
    )
    result = pytester.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "E *ValueError: case 'r-1' has no 'expected_tool_calls'; add them to the golden set"
            " (an empty list expects no call) or pass expected=."
        ]
    )


def test_expected_and_metrics_can_be_given(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/agent.jsonl").write_text('{"id": "r-1", "input": "hi"}\n', encoding="utf-8")
    pytester.makepyfile(
        test_agent=textwrap.dedent("""
            import pytest


            @pytest.mark.golden("datasets/agent.jsonl")
            def test_agent(case, llm_gate):
                values = llm_gate.trajectory(
                    [{"name": "lookup_order"}, {"name": "search"}], expected=[{"name": "lookup_order"}], metrics=["f1"]
                )
                assert values == {"trajectory_f1": pytest.approx(2 / 3)}
                with pytest.raises(ValueError) as info:
                    llm_gate.trajectory([], expected=[], metrics=["recall@5"])
                assert str(info.value) == (
                    "'metrics' must be a non-empty list of 'precision', 'recall', 'f1', 'match' (got ['recall@5'])."
                )
            """)
    )
    result = pytester.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    results = RunResults.model_validate_json((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    (suite,) = results.suites.values()
    assert sorted(suite.cases["r-1"].metrics) == ["checks_passed", "trajectory_f1"]


def test_a_call_with_broken_arguments_fails_the_case_as_a_check(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    case = {"id": "r-1", "input": "hi", "expected_tool_calls": [{"name": "lookup_order"}]}
    (pytester.path / "datasets/agent.jsonl").write_text(json.dumps(case) + "\n", encoding="utf-8")
    pytester.makepyfile(
        test_agent=textwrap.dedent("""
            import pytest


            @pytest.mark.golden("datasets/agent.jsonl")
            def test_agent(case, llm_gate):
                llm_gate.trajectory([{"name": "lookup_order", "arguments": "{order"}])
            """)
    )
    result = pytester.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 check failed*"])
    results = RunResults.model_validate_json((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    (suite,) = results.suites.values()
    record = suite.cases["r-1"]
    assert record.passed is False
    assert record.failure is not None
    assert record.failure.startswith("expected the arguments of tool call [0] 'lookup_order' to be JSON")
