"""Mutation operators: what each changes, that it leaves its input alone, that it is seeded and
deterministic, and that it says when it does not apply; output shapes; seeded planting."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.mutate import operators as ops
from pytest_llmgate.mutate.operators import BUILTIN, Shape, Target
from pytest_llmgate.mutate.plant import (
    OutputRow,
    SuiteCases,
    detect_shape,
    plant,
    read_outputs,
    share,
    write_outputs,
)

TEXT = Shape(text="answer", tools="tool_calls", retrieval="retrieved_ids", json=True, required=("answer", "n"))
ANSWER = "Refunds take 5 days. The link is valid for 1 hour. Open Account settings, Privacy."
CALLS: list[dict[str, Any]] = [
    {"name": "lookup_order", "arguments": {"order_id": "A1012"}},
    {"name": "issue_refund", "arguments": {"order_id": "A1012", "amount": 27.8}},
]
OUTPUT = {"answer": ANSWER, "tool_calls": CALLS, "retrieved_ids": ["d1", "d2", "d3", "d4"], "n": 3}


def target(output: Any = None, *, seed: int = 0, shape: Shape = TEXT, **fields: Any) -> Target:
    return Target(
        case_id="c-1",
        output=copy.deepcopy(OUTPUT if output is None else output),
        shape=shape,
        rng=random.Random(f"{seed}:c-1"),
        **fields,
    )


def apply(function: Any, output: Any = None, **kw: Any) -> Any:
    t = target(output, **kw)
    before = copy.deepcopy(t.output)
    result = function(t)
    assert t.output == before, "an operator must not change its input"
    return result


# -- text ----------------------------------------------------------------------------------------


def test_drop_last_sentence() -> None:
    assert apply(ops.drop_last_sentence)["answer"] == "Refunds take 5 days. The link is valid for 1 hour."
    assert apply(ops.drop_last_sentence, {"answer": "One sentence only."}) is None


def test_truncate_half_keeps_the_first_half_of_the_words() -> None:
    assert apply(ops.truncate_half, {"answer": "one two three four five"})["answer"] == "one two"
    assert apply(ops.truncate_half, {"answer": "single"}) is None


def test_empty_answer() -> None:
    assert apply(ops.empty_answer)["answer"] == ""
    assert apply(ops.empty_answer, {"answer": ""}) is None


def test_other_case_answer_takes_the_donors_text() -> None:
    mutated = apply(ops.other_case_answer, donor={"answer": "Shipping is free."})
    assert mutated == {**OUTPUT, "answer": "Shipping is free."}
    assert apply(ops.other_case_answer) is None  # no donor


def test_change_numbers_moves_every_number_keeping_its_form() -> None:
    mutated = apply(ops.change_numbers, {"answer": "Within 30 days, 49 dollars, or $27.80; order A1012."})
    text = mutated["answer"]
    assert "A1012" in text  # part of an id, not a number
    numbers = [w.strip("$,.;") for w in text.split() if any(ch.isdigit() for ch in w) and "A1012" not in w]
    assert len(numbers) == 3 and "30" not in numbers and "49" not in numbers and "27.80" not in numbers
    assert all(n.count(".") == (1 if i == 2 else 0) for i, n in enumerate(numbers))
    assert len(numbers[2].split(".")[1]) == 2
    assert apply(ops.change_numbers, {"answer": "no digits here"}) is None


def test_negate_inserts_or_removes_a_negation() -> None:
    assert apply(ops.negate_claim, {"answer": "The link is valid."})["answer"] == "The link is not valid."
    assert apply(ops.negate_claim, {"answer": "We cannot refund it."})["answer"] == "We can refund it."
    assert apply(ops.negate_claim, {"answer": "It is not free."})["answer"] == "It is free."
    assert apply(ops.negate_claim, {"answer": "Hello there."}) is None


def test_swap_entity_plants_a_name_absent_from_the_context() -> None:
    mutated = apply(ops.swap_entity, {"answer": "Open Account settings, Privacy."}, context="Quorvane is a place")
    assert mutated["answer"] in ("Open Brellick settings, Privacy.", "Open Account settings, Brellick.")
    assert apply(ops.swap_entity, {"answer": "all lower case."}) is None


def test_banned_phrase_and_padding() -> None:
    assert apply(ops.add_banned_phrase)["answer"] == f"{ops.BANNED_PHRASE} {ANSWER}"
    assert apply(ops.pad_double)["answer"] == f"{ANSWER} {ANSWER}"


def test_a_text_output_is_its_own_text() -> None:
    assert apply(ops.drop_last_sentence, "A. B.", shape=Shape(text="")) == "A."


# -- tool calls -----------------------------------------------------------------------------------


def test_drop_call_and_drop_last() -> None:
    dropped = apply(ops.drop_call)["tool_calls"]
    assert len(dropped) == 1 and dropped[0] in CALLS
    assert apply(ops.drop_last_call)["tool_calls"] == CALLS[:1]
    assert apply(ops.drop_last_call, {**OUTPUT, "tool_calls": []}) is None


def test_add_unexpected_call() -> None:
    calls = apply(ops.add_unexpected_call)["tool_calls"]
    assert len(calls) == 3 and {"name": ops.UNEXPECTED_TOOL, "arguments": {}} in calls
    assert [c for c in calls if c["name"] != ops.UNEXPECTED_TOOL] == CALLS


def test_swap_calls_of_different_tools() -> None:
    assert apply(ops.swap_calls)["tool_calls"] == CALLS[::-1]
    same = [CALLS[0], CALLS[0]]
    assert apply(ops.swap_calls, {**OUTPUT, "tool_calls": same}) is None


def test_change_argument_changes_one_value() -> None:
    calls = apply(ops.change_argument)["tool_calls"]
    changed = [
        (i, k)
        for i, call in enumerate(calls)
        for k in call["arguments"]
        if call["arguments"][k] != CALLS[i]["arguments"][k]
    ]
    assert len(changed) == 1
    i, k = changed[0]
    value = calls[i]["arguments"][k]
    assert value == "2101A" if k == "order_id" else (isinstance(value, float) and value != 27.8)


def test_repeat_call_makes_a_loop() -> None:
    calls = apply(ops.repeat_call)["tool_calls"]
    assert len(calls) == 3 and any(calls[i] == calls[i + 1] for i in range(2))


# -- retrieval and JSON ---------------------------------------------------------------------------


def test_retrieval_operators() -> None:
    assert apply(ops.drop_relevant, relevant_ids=("d1", "d3"))["retrieved_ids"] == ["d2", "d4"]
    assert apply(ops.drop_relevant, relevant_ids=("zz",)) is None
    assert apply(ops.reverse_ranking)["retrieved_ids"] == ["d4", "d3", "d2", "d1"]
    donor = {**OUTPUT, "retrieved_ids": ["x9"]}
    assert apply(ops.other_case_ranking, donor=donor)["retrieved_ids"] == ["x9"]


def test_json_operators() -> None:
    deleted = apply(ops.delete_field)
    assert set(OUTPUT) - set(deleted) in ({"answer"}, {"n"})
    changed = apply(ops.change_field_type)
    assert changed["n"] == "3" or changed["answer"] == [ANSWER]
    as_text = apply(ops.delete_field, json.dumps({"answer": "x", "n": 1}), shape=Shape(json=True, required=("n",)))
    assert json.loads(as_text) == {"answer": "x"}


@pytest.mark.parametrize("operator", BUILTIN, ids=lambda op: op.name)
def test_every_operator_is_deterministic_given_the_seed(operator: ops.Operator) -> None:
    kw = {"relevant_ids": ("d2",), "donor": {**OUTPUT, "answer": "Other.", "retrieved_ids": ["x"]}}
    first = [apply(operator.apply, seed=seed, **kw) for seed in range(8)]
    again = [apply(operator.apply, seed=seed, **kw) for seed in range(8)]
    assert first == again
    assert all(result is not None and result != OUTPUT for result in first)
    assert operator.description and operator.apply.__doc__ and "->" in operator.apply.__doc__  # an example


@pytest.mark.parametrize(
    "name", ["text.change_numbers", "text.negate", "tools.drop_call", "tools.add_unexpected", "tools.repeat"]
)
def test_seeded_operators_vary_with_the_seed(name: str) -> None:
    operator = next(op for op in BUILTIN if op.name == name)
    output = {**OUTPUT, "answer": "It is 5, 6 and 7 and it can be 8, it will not be 9. It does work."}
    results = {json.dumps(apply(operator.apply, output, seed=seed), sort_keys=True) for seed in range(12)}
    assert len(results) > 1


# -- shapes and planting -----------------------------------------------------------------------


def test_shape_found_from_the_outputs_and_the_scored_ranking() -> None:
    outputs = [OUTPUT, {**OUTPUT, "answer": "Other."}]
    shape = detect_shape(outputs, {"c-1": ["d1", "d2", "d3", "d4"]})
    assert shape == Shape(
        text="answer",
        tools="tool_calls",
        retrieval="retrieved_ids",
        json=True,
        required=("answer", "n", "retrieved_ids", "tool_calls"),
    )
    # no retrieval metric recorded: no retrieval operator
    assert detect_shape(outputs, {}).retrieval is None
    assert detect_shape(["plain text", "more"]) == Shape(text="")
    assert not next(op for op in BUILTIN if op.name == "retrieval.reverse").applies_to(detect_shape(outputs, {}))


def _rows(n: int) -> list[OutputRow]:
    return [OutputRow(id=f"q-{i:02d}", suite="s", outputs=[{"answer": f"Answer {i} is 4{i}."}]) for i in range(n)]


def test_plant_mutates_a_seeded_share_and_nothing_else() -> None:
    rows = _rows(30)
    suites = {"s": SuiteCases(suite="s", case_ids=[r.id for r in rows])}
    shapes = {"s": detect_shape([r.outputs[0] for r in rows])}
    operator = next(op for op in BUILTIN if op.name == "text.change_numbers")
    mutated, planted = plant(rows, suites, operator, rate=0.2, seed=3, shapes=shapes)
    again, planted_again = plant(rows, suites, operator, rate=0.2, seed=3, shapes=shapes)
    other, planted_other = plant(rows, suites, operator, rate=0.2, seed=4, shapes=shapes)
    assert [r.line() for r in mutated] == [r.line() for r in again]
    assert planted[0].cases == planted_again[0].cases != planted_other[0].cases
    assert len(planted[0].cases) == share(0.2, 30) == 6
    changed = [m.id for m, r in zip(mutated, rows, strict=True) if m.outputs != r.outputs]
    assert changed == planted[0].cases
    assert rows == _rows(30)  # the input rows are left alone


def test_outputs_files_round_trip_one_line_per_case(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_text(
        '{"id": "a", "output": 1}\n{"id": "b", "outputs": [1, 2]}\n{"id": "c", "output": 1}\n{"id": "c", "output": 2}\n',
        encoding="utf-8",
    )
    rows = read_outputs(path)
    write_outputs(tmp_path / "w.jsonl", rows)
    assert (tmp_path / "w.jsonl").read_text(encoding="utf-8").splitlines() == [
        '{"id":"a","output":1}',
        '{"id":"b","outputs":[1,2]}',
        '{"id":"c","outputs":[1,2]}',
    ]
