"""Mutation operators: each plants one small, realistic regression in one case's output.

An operator sees a `Target` (the output, where its text, tool calls and retrieved ids sit, the
case's relevant ids and context, another case's output, a seeded random generator) and returns
the mutated output, or None when it does not apply to that case (no number to change, a single
tool call to swap). Operators never change their input: they build a new value. Given the same
target and seed they return the same output, so a second `llmgate mutate` with the same seed
plants byte-identical outputs and its judge calls all come from the cache.

Users add operators with the `mutation_operator` decorator in a `conftest.py`.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Group = Literal["text", "tools", "retrieval", "json", "user"]


@dataclass(frozen=True)
class Shape:
    """Where a suite's outputs hold what the operators change (found from the outputs and the results)."""

    text: str | None = None
    """Key of the answer text in a dict output, "" when the output is the text itself, None when there is none."""
    tools: str | None = None
    """Key of the list of tool calls (dicts with a "name"), "" when the output is that list, None when none."""
    retrieval: str | None = None
    """Key of the list of retrieved ids the suite scores, None when the suite records no retrieval."""
    json: bool = False
    """Whether outputs are JSON objects (a dict, or a string that holds one)."""
    required: tuple[str, ...] = ()
    """Fields every case's JSON output has (the ones a schema would require)."""


@dataclass(frozen=True)
class Target:
    """One case's output as an operator sees it."""

    case_id: str
    output: Any
    """The output (one run's); operators return a new value and never change this one."""
    shape: Shape
    rng: random.Random
    """Seeded by (seed, suite, operator, case, run): the operator's only source of randomness."""
    relevant_ids: tuple[str, ...] = ()
    """The case's relevant document ids (retrieval operators)."""
    context: str = ""
    """The case's input, reference and retrieved texts: a planted entity must be absent from it."""
    donor: Any = None
    """Another case's output of the same suite, chosen with the seed ("answer of another case")."""


Apply = Callable[[Target], Any]


@dataclass(frozen=True)
class Operator:
    """A named mutation operator of one group."""

    name: str
    """Its name on the command line (`--operators`) and in the reports, e.g. `text.empty`."""
    group: Group
    apply: Apply = field(compare=False)
    """`apply(target)` -> the mutated output, or None when the operator does not apply to this case."""
    description: str = ""
    """One line for the reports: the regression it plants."""

    def applies_to(self, shape: Shape) -> bool:
        """Whether the suite's outputs have what this operator changes."""
        if self.group == "text":
            return shape.text is not None
        if self.group == "tools":
            return shape.tools is not None
        if self.group == "retrieval":
            return shape.retrieval is not None
        if self.group == "json":
            return shape.json and bool(shape.required)
        return True


# -- where the parts of an output are -----------------------------------------------------------


def _get(output: Any, key: str | None) -> Any:
    if key is None:
        return None
    if key == "":
        return output
    return output.get(key) if isinstance(output, dict) else None


def _put(output: Any, key: str, value: Any) -> Any:
    if key == "":
        return value
    new = dict(output)
    new[key] = value
    return new


def _with_text(target: Target, change: Callable[[str], str | None]) -> Any:
    text = _get(target.output, target.shape.text)
    if not isinstance(text, str) or target.shape.text is None:
        return None
    changed = change(text)
    if changed is None or changed == text:
        return None
    return _put(target.output, target.shape.text, changed)


def _with_calls(target: Target, change: Callable[[list[Any]], list[Any] | None]) -> Any:
    calls = _get(target.output, target.shape.tools)
    if not isinstance(calls, list) or target.shape.tools is None:
        return None
    changed = change(copy.deepcopy(calls))
    if changed is None or changed == calls:
        return None
    return _put(target.output, target.shape.tools, changed)


def _with_ids(target: Target, change: Callable[[list[Any]], list[Any] | None]) -> Any:
    ids = _get(target.output, target.shape.retrieval)
    if not isinstance(ids, list) or target.shape.retrieval is None:
        return None
    changed = change(list(ids))
    if changed is None or changed == ids:
        return None
    return _put(target.output, target.shape.retrieval, changed)


# -- text answers ---------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")
_NEGATABLE = re.compile(
    r"\b(?P<verb>is|are|was|were|can|will|does|do|did|should|must|has|have|could|would)(?P<neg> not)?\b",
    re.IGNORECASE,
)
_CONTRACTED = re.compile(
    r"\b(?P<neg>cannot|can't|won't|don't|doesn't|didn't|isn't|aren't|wasn't|weren't|shouldn't|mustn't|"
    r"hasn't|haven't|couldn't|wouldn't)\b",
    re.IGNORECASE,
)
_POSITIVE = {
    "cannot": "can",
    "can't": "can",
    "won't": "will",
    "don't": "do",
    "doesn't": "does",
    "didn't": "did",
    "isn't": "is",
    "aren't": "are",
    "wasn't": "was",
    "weren't": "were",
    "shouldn't": "should",
    "mustn't": "must",
    "hasn't": "has",
    "haven't": "have",
    "couldn't": "could",
    "wouldn't": "would",
}
_ENTITY = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)*\b")
#: Invented names, one of which is planted where the answer named something: none is a real
#: product, place or person, so a faithful answer never holds one.
FICTIONAL_ENTITIES = ("Quorvane", "Brellick", "Zanthor", "Mivelle", "Oskatra", "Tembrook", "Vaskelund", "Pirrow")
#: The boilerplate an assistant must not say; most banned-phrase lists hold a part of it.
BANNED_PHRASE = "As an AI language model, I cannot help with that."


def drop_last_sentence(target: Target) -> Any:
    """Drop the answer's last sentence: `"Refunds take 5 days. Keep the receipt."` -> `"Refunds take 5 days."`."""

    def change(text: str) -> str | None:
        sentences = _SENTENCE_END.split(text.strip())
        return " ".join(sentences[:-1]) if len(sentences) > 1 else None

    return _with_text(target, change)


def truncate_half(target: Target) -> Any:
    """Keep the first half of the answer's words: `"one two three four"` -> `"one two"`."""

    def change(text: str) -> str | None:
        words = text.split()
        return " ".join(words[: len(words) // 2]) if len(words) > 1 else None

    return _with_text(target, change)


def empty_answer(target: Target) -> Any:
    """Replace the answer with the empty string: `"Refunds take 5 days."` -> `""`."""
    return _with_text(target, lambda text: "" if text else None)


def other_case_answer(target: Target) -> Any:
    """Give the answer of another case (drawn with the seed): `"Refunds take 5 days."` -> `"Shipping is free."`."""
    donor = _get(target.donor, target.shape.text) if target.donor is not None else None
    return _with_text(target, lambda text: donor if isinstance(donor, str) else None)


def change_numbers(target: Target) -> Any:
    """Change every number by a seeded non-zero step: `"within 30 days, 49 dollars"` -> `"within 33 days, 56 dollars"`.

    Integers stay integers and decimals keep their places, so the answer still reads right.
    """

    def change(text: str) -> str | None:
        if not _NUMBER.search(text):
            return None

        def bump(match: re.Match[str]) -> str:
            number = match.group(0)
            step = target.rng.randint(1, 9)
            if "." in number:
                places = len(number.split(".")[1])
                return f"{float(number) + step:.{places}f}"
            return str(int(number) + step)

        return _NUMBER.sub(bump, text)

    return _with_text(target, change)


def negate_claim(target: Target) -> Any:
    """Insert or remove one negation (chosen with the seed): `"The link is valid for one hour."` ->
    `"The link is not valid for one hour."`; `"We cannot refund it."` -> `"We can refund it."`."""

    def change(text: str) -> str | None:
        spots: list[tuple[int, int, str]] = []
        for match in _CONTRACTED.finditer(text):
            word = match.group("neg")
            positive = _POSITIVE[word.lower()]
            spots.append((match.start(), match.end(), positive.capitalize() if word[0].isupper() else positive))
        for match in _NEGATABLE.finditer(text):
            verb = match.group("verb")
            replacement = verb if match.group("neg") else f"{verb} not"
            spots.append((match.start(), match.end(), replacement))
        if not spots:
            return None
        start, end, replacement = spots[target.rng.randrange(len(spots))]
        return text[:start] + replacement + text[end:]

    return _with_text(target, change)


def swap_entity(target: Target) -> Any:
    """Replace a name (a capitalised word inside a sentence) with an invented one absent from the
    context (unfaithful): `"Open Account settings, Privacy."` -> `"Open Account settings, Quorvane."`."""

    def change(text: str) -> str | None:
        names = sorted({m.group(0) for m in _ENTITY.finditer(text)})
        if not names:
            return None
        name = names[target.rng.randrange(len(names))]
        seen = (target.context + " " + text).lower()
        planted = next((f for f in FICTIONAL_ENTITIES if f.lower() not in seen), None)
        if planted is None:
            return None
        return re.sub(rf"\b{re.escape(name)}\b", planted, text)

    return _with_text(target, change)


def add_banned_phrase(target: Target) -> Any:
    """Prepend assistant boilerplate: `"Refunds take 5 days."` ->
    `"As an AI language model, I cannot help with that. Refunds take 5 days."`."""
    return _with_text(target, lambda text: f"{BANNED_PHRASE} {text}".strip())


def pad_double(target: Target) -> Any:
    """Pad the answer to twice its length by saying it again: `"Refunds take 5 days."` ->
    `"Refunds take 5 days. Refunds take 5 days."`."""
    return _with_text(target, lambda text: f"{text} {text}" if text.strip() else None)


# -- tool calls and trajectories ------------------------------------------------------------------

#: The name of the planted call: no real tool is called this, so any expectation can notice it.
UNEXPECTED_TOOL = "unexpected_tool"
_ARGUMENT_KEYS = ("arguments", "args", "input", "parameters", "params")


def _arguments_key(call: Any) -> str | None:
    if not isinstance(call, dict):
        return None
    return next((key for key in _ARGUMENT_KEYS if isinstance(call.get(key), dict)), None)


def drop_call(target: Target) -> Any:
    """Drop one call (chosen with the seed): `[lookup_order, issue_refund]` -> `[issue_refund]`."""

    def change(calls: list[Any]) -> list[Any] | None:
        if not calls:
            return None
        del calls[target.rng.randrange(len(calls))]
        return calls

    return _with_calls(target, change)


def drop_last_call(target: Target) -> Any:
    """Drop the last call: `[lookup_order, issue_refund]` -> `[lookup_order]`."""
    return _with_calls(target, lambda calls: calls[:-1] if calls else None)


def add_unexpected_call(target: Target) -> Any:
    """Insert a call of a tool nobody expects, at a seeded place: `[lookup_order]` ->
    `[unexpected_tool, lookup_order]` (its arguments are empty, in the calls' own argument key)."""

    def change(calls: list[Any]) -> list[Any] | None:
        key = next((k for k in map(_arguments_key, calls) if k), "arguments")
        calls.insert(target.rng.randint(0, len(calls)), {"name": UNEXPECTED_TOOL, key: {}})
        return calls

    return _with_calls(target, change)


def swap_calls(target: Target) -> Any:
    """Swap two calls of different tools: `[lookup_order, issue_refund]` -> `[issue_refund, lookup_order]`."""

    def change(calls: list[Any]) -> list[Any] | None:
        pairs = [
            (i, j) for i in range(len(calls)) for j in range(i + 1, len(calls)) if _name(calls[i]) != _name(calls[j])
        ]
        if not pairs:
            return None
        i, j = pairs[target.rng.randrange(len(pairs))]
        calls[i], calls[j] = calls[j], calls[i]
        return calls

    return _with_calls(target, change)


def _name(call: Any) -> Any:
    return call.get("name") if isinstance(call, dict) else call


def _changed_value(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.randint(1, 9)
    if isinstance(value, float):
        return round(value * 2 + rng.randint(1, 9), 2)
    if isinstance(value, str):
        return value[::-1] if value[::-1] != value else value + "-x"
    return None


def change_argument(target: Target) -> Any:
    """Change one argument value of one call: `issue_refund(order_id="A1012", amount=27.8)` ->
    `issue_refund(order_id="A1012", amount=60.6)` (numbers move by a seeded step, strings are reversed)."""

    def change(calls: list[Any]) -> list[Any] | None:
        spots = []
        for index, call in enumerate(calls):
            key = _arguments_key(call)
            if key is None:
                continue
            for name in sorted(call[key]):
                if _changed_value(call[key][name], random.Random(0)) is not None:
                    spots.append((index, key, name))
        if not spots:
            return None
        index, key, name = spots[target.rng.randrange(len(spots))]
        calls[index][key][name] = _changed_value(calls[index][key][name], target.rng)
        return calls

    return _with_calls(target, change)


def repeat_call(target: Target) -> Any:
    """Repeat one call right after itself (a loop): `[lookup_order, issue_refund]` ->
    `[lookup_order, lookup_order, issue_refund]`."""

    def change(calls: list[Any]) -> list[Any] | None:
        if not calls:
            return None
        index = target.rng.randrange(len(calls))
        calls.insert(index + 1, copy.deepcopy(calls[index]))
        return calls

    return _with_calls(target, change)


# -- retrieval ------------------------------------------------------------------------------------


def drop_relevant(target: Target) -> Any:
    """Drop the case's relevant ids from the ranking: `[a*, b, c*, d]` (relevant starred) -> `[b, d]`."""
    relevant = set(target.relevant_ids)
    return _with_ids(target, lambda ids: [i for i in ids if i not in relevant] if relevant & set(ids) else None)


def reverse_ranking(target: Target) -> Any:
    """Reverse the ranking: `[a, b, c]` -> `[c, b, a]`."""
    return _with_ids(target, lambda ids: ids[::-1] if len(ids) > 1 else None)


def other_case_ranking(target: Target) -> Any:
    """Replace the ranking with another case's (drawn with the seed): `[refunds-01, ...]` -> `[shipping-04, ...]`."""
    donor = _get(target.donor, target.shape.retrieval) if target.donor is not None else None
    return _with_ids(target, lambda ids: list(donor) if isinstance(donor, list) else None)


# -- structured outputs (JSON) --------------------------------------------------------------------


def _with_object(target: Target, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Any:
    output = target.output
    if isinstance(output, str):
        try:
            parsed = json.loads(output)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        changed = change(dict(parsed))
        return None if changed is None else json.dumps(changed, ensure_ascii=False)
    if isinstance(output, dict):
        return change(dict(output))
    return None


def delete_field(target: Target) -> Any:
    """Delete one required field (one every case's output has, chosen with the seed):
    `{"answer": "...", "tool_calls": []}` -> `{"answer": "..."}`."""

    def change(obj: dict[str, Any]) -> dict[str, Any] | None:
        present = [key for key in target.shape.required if key in obj]
        if not present:
            return None
        del obj[present[target.rng.randrange(len(present))]]
        return obj

    return _with_object(target, change)


def _other_type(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return 0  # null


def change_field_type(target: Target) -> Any:
    """Change one required field's type, keeping its content: `{"amount": 27.8}` -> `{"amount": "27.8"}`;
    a string becomes a one-item list, a list or object its JSON text."""

    def change(obj: dict[str, Any]) -> dict[str, Any] | None:
        present = [key for key in target.shape.required if key in obj]
        if not present:
            return None
        key = present[target.rng.randrange(len(present))]
        obj[key] = _other_type(obj[key])
        return obj

    return _with_object(target, change)


def _doc(apply: Apply) -> str:
    return (apply.__doc__ or "").split(":")[0].strip().rstrip(".")


_BUILTIN: tuple[tuple[str, Group, Apply], ...] = (
    ("text.drop_last_sentence", "text", drop_last_sentence),
    ("text.truncate_half", "text", truncate_half),
    ("text.empty", "text", empty_answer),
    ("text.other_case", "text", other_case_answer),
    ("text.change_numbers", "text", change_numbers),
    ("text.negate", "text", negate_claim),
    ("text.swap_entity", "text", swap_entity),
    ("text.banned_phrase", "text", add_banned_phrase),
    ("text.pad_double", "text", pad_double),
    ("tools.drop_call", "tools", drop_call),
    ("tools.drop_last", "tools", drop_last_call),
    ("tools.add_unexpected", "tools", add_unexpected_call),
    ("tools.swap", "tools", swap_calls),
    ("tools.change_argument", "tools", change_argument),
    ("tools.repeat", "tools", repeat_call),
    ("retrieval.drop_relevant", "retrieval", drop_relevant),
    ("retrieval.reverse", "retrieval", reverse_ranking),
    ("retrieval.other_case", "retrieval", other_case_ranking),
    ("json.delete_field", "json", delete_field),
    ("json.change_type", "json", change_field_type),
)
BUILTIN: tuple[Operator, ...] = tuple(
    Operator(name=name, group=group, apply=apply, description=_doc(apply)) for name, group, apply in _BUILTIN
)

_USER: dict[str, Operator] = {}


def mutation_operator(name: str | None = None) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register a function `output -> output` as a mutation operator (use it in a `conftest.py`).

    ```python
    from pytest_llmgate.mutate import mutation_operator

    @mutation_operator("answer.shout")
    def shout(output):
        return {**output, "answer": output["answer"].upper()}
    ```

    It is applied to the cases chosen with the seed among those it changes (an output it returns
    unchanged, or None, means it does not apply to that case); it must not change its argument
    and should be deterministic. `llmgate mutate` runs it with the built-in operators, or alone
    with `--operators answer.shout`.
    """

    def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        label = name or f"user.{function.__name__}"
        if any(op.name == label for op in BUILTIN):
            msg = f"mutation operator '{label}' is a built-in operator's name; choose another name."
            raise ValueError(msg)

        def apply(target: Target) -> Any:
            return function(copy.deepcopy(target.output))

        description = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else "user operator"
        _USER[label] = Operator(name=label, group="user", apply=apply, description=description.rstrip("."))
        return function

    return register


def user_operators() -> tuple[Operator, ...]:
    """The operators registered with `mutation_operator`, by name."""
    return tuple(_USER[name] for name in sorted(_USER))


def all_operators() -> tuple[Operator, ...]:
    """The built-in operators, then the registered ones."""
    return BUILTIN + user_operators()
