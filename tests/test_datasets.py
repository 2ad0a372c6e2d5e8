"""Golden-set loading: valid files, stable ids, fingerprints and every error message."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ConfigDict, ValidationError, model_validator

from pytest_llmgate.datasets import (
    Case,
    DatasetError,
    ToolCall,
    case_to_record,
    dataset_fingerprint,
    load_cases,
)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str | bytes, name: str = "set.jsonl") -> Path:
    """Write a golden set byte for byte (no newline translation) and return its path."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def load_error(path: Path, **kwargs) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_cases(path, **kwargs)
    return info.value


def reference_id(obj: dict) -> str:
    """The documented content hash, computed independently of the module."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "case-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]


# -- valid files --------------------------------------------------------------------------


def test_loads_every_field_in_file_order(tmp_path: Path) -> None:
    lines = [
        {
            "id": "z-last-sorted",
            "input": "Where is my order?",
            "reference": "In transit.",
            "tags": ["orders"],
            "metadata": {"source": "ticket-9", "note": None},
        },
        {
            "id": "a-first-sorted",
            "input": {"question": "Refund?", "order": 17},
            "relevant_ids": ["doc-1", "doc-4"],
            "expected_tool_calls": [{"name": "lookup_order", "arguments": {"order": 17}}, {"name": "noop"}],
        },
        {"id": "m.mid:1_x", "input": ""},
    ]
    path = write(tmp_path, "".join(json.dumps(line) + "\n" for line in lines))

    cases = load_cases(path)

    assert [case.id for case in cases] == ["z-last-sorted", "a-first-sorted", "m.mid:1_x"]
    first, second, third = cases
    assert first.input == "Where is my order?"
    assert first.reference == "In transit."
    assert first.tags == ["orders"]
    assert first.metadata == {"source": "ticket-9", "note": None}
    assert first.relevant_ids is None and first.expected_tool_calls is None
    assert second.input == {"question": "Refund?", "order": 17}
    assert second.relevant_ids == ["doc-1", "doc-4"]
    assert second.expected_tool_calls == [
        ToolCall(name="lookup_order", arguments={"order": 17}),
        ToolCall(name="noop", arguments={}),
    ]
    assert third.input == "" and third.tags == [] and third.metadata == {}


def test_graded_relevant_ids_keep_their_grades(tmp_path: Path) -> None:
    line = {"id": "g", "input": "q", "relevant_ids": {"doc-1": 3, "doc-2": 0, "doc-3": 1}}
    path = write(tmp_path, json.dumps(line) + "\n")

    (case,) = load_cases(path)

    assert case.relevant_ids == {"doc-1": 3, "doc-2": 0, "doc-3": 1}
    assert all(type(grade) is int for grade in case.relevant_ids.values())


def test_order_is_kept_for_many_cases(tmp_path: Path) -> None:
    ids = [f"c{(i * 7919) % 1000:03d}" for i in range(1000)]  # a permutation, not sorted
    path = write(tmp_path, "".join(json.dumps({"id": i, "input": "x"}) + "\n" for i in ids))

    assert [case.id for case in load_cases(path)] == ids


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "a", "input": "x"}',  # no newline at the end
        '{"id": "a", "input": "x"}\n',
        '{"id": "a", "input": "x"}\n\n',  # a trailing blank final line
        '{"id": "a", "input": "x"}\n  \n\n',
        '{"id": "a", "input": "x"}\r\n',  # Windows line endings
    ],
)
def test_trailing_newlines_and_blank_final_lines_are_fine(tmp_path: Path, text: str) -> None:
    assert [case.id for case in load_cases(write(tmp_path, text))] == ["a"]


def test_unicode_line_separators_inside_strings_do_not_split_lines(tmp_path: Path) -> None:
    line = json.dumps({"id": "u", "input": "one\u2028two\x85three café"}, ensure_ascii=False)
    path = write(tmp_path, line + "\n" + json.dumps({"id": "v", "input": "y"}) + "\n")

    cases = load_cases(path)

    assert [case.id for case in cases] == ["u", "v"]
    assert cases[0].input == "one\u2028two\x85three café"


def test_relative_path_resolves_against_rootdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "datasets").mkdir()
    write(tmp_path / "datasets", '{"id": "a", "input": "x"}\n', "support.jsonl")
    monkeypatch.chdir(tmp_path / "datasets")  # the cwd must not matter when rootdir is given

    cases = load_cases("datasets/support.jsonl", rootdir=tmp_path)

    assert [case.id for case in cases] == ["a"]
    assert dataset_fingerprint("datasets/support.jsonl", rootdir=tmp_path).startswith("sha256:")


def test_absolute_path_ignores_rootdir(tmp_path: Path) -> None:
    path = write(tmp_path, '{"id": "a", "input": "x"}\n')

    assert [case.id for case in load_cases(path.resolve(), rootdir=Path("/nonexistent"))] == ["a"]


# -- content-hash ids ---------------------------------------------------------------------


def test_missing_id_is_the_content_hash_of_the_line(tmp_path: Path) -> None:
    obj = {"input": "How do I reset my password?", "reference": "Use the link.", "tags": ["auth"]}
    path = write(tmp_path, json.dumps(obj) + "\n")

    (case,) = load_cases(path)

    assert case.id == reference_id(obj)
    # Pinned: the id must never change between versions, or every baseline would break.
    assert case.id == "case-431edeaae2"


def test_hash_id_ignores_key_order_and_whitespace_but_not_content(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"input": "q", "tags": ["a"]}\n'
        '{ "tags" : [ "a" ] ,  "input" : "q" ,"reference":"r"}\n'
        '{"tags": ["a"], "input": "q2"}\n',
    )
    same = write(tmp_path, '{"tags":["a"],"input":"q"}\n', "reformatted.jsonl")

    ids = [case.id for case in load_cases(path)]

    assert ids[0] == load_cases(same)[0].id
    assert len(set(ids)) == 3
    assert all(i.startswith("case-") and len(i) == len("case-") + 10 for i in ids)


def test_hash_id_is_stable_across_processes(tmp_path: Path) -> None:
    path = write(tmp_path, '{"input": {"q": "x", "n": [1, 2.5, true, null]}}\n{"input": "é"}\n')
    script = (
        "import sys; from pytest_llmgate.datasets import load_cases; "
        "print(' '.join(c.id for c in load_cases(sys.argv[1])))"
    )
    runs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True, check=True
        )
        runs.append(out.stdout.split())

    assert runs[0] == runs[1] == [case.id for case in load_cases(path)]


# -- fingerprint ----------------------------------------------------------------------------


def test_fingerprint_is_sha256_of_the_bytes_and_tracks_changes(tmp_path: Path) -> None:
    text = '{"id": "a", "input": "x"}\n'
    path = write(tmp_path, text)

    before = dataset_fingerprint(path)

    assert before == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert dataset_fingerprint(str(path)) == before
    write(tmp_path, text)
    assert dataset_fingerprint(path) == before
    write(tmp_path, '{"id": "a", "input": "y"}\n')
    assert dataset_fingerprint(path) != before
    write(tmp_path, text + "\n")
    assert dataset_fingerprint(path) != before


def test_fingerprint_of_a_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="golden set not found"):
        dataset_fingerprint(tmp_path / "nope.jsonl")


# -- subclasses -----------------------------------------------------------------------------


class PersonaCase(Case):
    persona: str
    difficulty: int = 1


class LooseCase(Case):
    model_config = ConfigDict(extra="allow")


def test_subclass_loads_its_typed_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"id": "p1", "input": "hi", "persona": "angry customer", "difficulty": 3}\n'
        '{"id": "p2", "input": "hi", "persona": "new user"}\n',
    )

    cases = load_cases(path, model=PersonaCase)

    assert all(type(case) is PersonaCase for case in cases)
    assert [(c.persona, c.difficulty) for c in cases] == [("angry customer", 3), ("new user", 1)]


def test_subclass_errors_name_the_subclass(tmp_path: Path) -> None:
    path = write(tmp_path, '{"id": "p1", "input": "hi", "persona": 5, "mood": "x"}\n')

    error = load_error(path, model=PersonaCase)

    assert str(error) == (
        f"{path}:1: 2 problems: field 'persona': Input should be a valid string (got 5); "
        "field 'mood': unknown field (put it under `metadata`, or declare it in PersonaCase)."
    )
    assert error.problems == [
        ("persona", "Input should be a valid string (got 5)"),
        ("mood", "unknown field (put it under `metadata`, or declare it in PersonaCase)"),
    ]


def test_subclass_may_allow_extra_fields(tmp_path: Path) -> None:
    path = write(tmp_path, '{"id": "l1", "input": "hi", "channel": "email"}\n')

    (case,) = load_cases(path, model=LooseCase)

    assert case.model_extra == {"channel": "email"}
    assert case_to_record(case)["channel"] == "email"


def test_model_must_be_a_case_subclass(tmp_path: Path) -> None:
    path = write(tmp_path, '{"id": "a", "input": "x"}\n')

    with pytest.raises(TypeError) as info:
        load_cases(path, model=ToolCall)  # type: ignore[arg-type]

    assert str(info.value) == (
        "'model' must be Case or a subclass of it (got <class 'pytest_llmgate.datasets.ToolCall'>)."
    )


# -- records --------------------------------------------------------------------------------


def test_case_to_record_drops_unset_optionals_and_is_json_ready() -> None:
    case = Case(
        id="r1",
        input={"q": "x"},
        relevant_ids={"d": 2},
        expected_tool_calls=[ToolCall(name="t")],
        metadata={"kept": None},
    )

    record = case_to_record(case)

    assert record == {
        "id": "r1",
        "input": {"q": "x"},
        "relevant_ids": {"d": 2},
        "expected_tool_calls": [{"name": "t", "arguments": {}}],
        "tags": [],
        "metadata": {"kept": None},
    }
    assert json.loads(json.dumps(record)) == record
    assert Case.model_validate(record) == case


# -- errors -------------------------------------------------------------------------------


GOOD = '{"id": "ok", "input": "x"}\n'

LINE_ERRORS = [
    pytest.param(
        GOOD + '{"id": "b", "input": "x", "reference": 42}\n',
        2,
        "reference",
        "field 'reference': Input should be a valid string (got 42).",
        id="wrong-type",
    ),
    pytest.param(
        '{"id": "b", "reference": "r"}\n',
        1,
        "input",
        "field 'input': required field is missing.",
        id="missing-field",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "refrence": "r"}\n',
        1,
        "refrence",
        "field 'refrence': unknown field; did you mean 'reference'? (or put it under `metadata`, or declare it in "
        "a subclass of Case).",
        id="unknown-field",
    ),
    pytest.param(
        '{"id": "b", "reference": 42, "tags": ["a", 1], "refrence": "r"}\n',
        1,
        "input",
        "4 problems: field 'input': required field is missing; "
        "field 'reference': Input should be a valid string (got 42); "
        "field 'tags[1]': Input should be a valid string (got 1); "
        "field 'refrence': unknown field; did you mean 'reference'? (or put it under `metadata`, or declare it in "
        "a subclass of Case).",
        id="several-problems-in-one-message",
    ),
    pytest.param(
        '{"id": "b", "input": 42}\n',
        1,
        "input",
        'field \'input\': Input should be a string, a JSON object or a list of {"role", "content"} messages (got 42).',
        id="union-input",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "relevant_ids": "doc-1"}\n',
        1,
        "relevant_ids",
        "field 'relevant_ids': Input should be a list of ids or an object mapping each id "
        'to an integer grade (got "doc-1").',
        id="relevant-ids-wrong-shape",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "relevant_ids": ["doc-1", 7]}\n',
        1,
        "relevant_ids[1]",
        "field 'relevant_ids[1]': Input should be a valid string (got 7).",
        id="relevant-ids-list-item",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "relevant_ids": {"doc-1": 2, "doc-2": "high"}}\n',
        1,
        "relevant_ids.doc-2",
        "field 'relevant_ids.doc-2': Input should be a valid integer (got \"high\").",
        id="relevant-ids-grade-not-int",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "relevant_ids": {"doc-1": true}}\n',
        1,
        "relevant_ids.doc-1",
        "field 'relevant_ids.doc-1': Input should be a valid integer (got true).",
        id="relevant-ids-grade-bool",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "expected_tool_calls": [{"name": "t"}, {"name": 3, "args": {}}]}\n',
        1,
        "expected_tool_calls[1].name",
        "2 problems: field 'expected_tool_calls[1].name': Input should be a valid string (got 3); "
        "field 'expected_tool_calls[1].args': unknown field (check its spelling).",
        id="tool-call",
    ),
    pytest.param(
        '{"id": "b", "input": "' + "x" * 100 + '", "tags": "' + "y" * 100 + '"}\n',
        1,
        "tags",
        "field 'tags': Input should be a valid list (got \"" + "y" * 56 + "...).",
        id="long-value-cut-short",
    ),
    pytest.param(
        GOOD + '{"id": "b" "input": "x"}\n',
        2,
        None,
        "invalid JSON at column 12: Expecting ',' delimiter; write each case as one JSON object on one line.",
        id="invalid-json",
    ),
    pytest.param(
        '{\n  "id": "b", "input": "x"\n}\n',
        1,
        None,
        "invalid JSON at column 2: Expecting property name enclosed in double quotes; "
        "write each case as one JSON object on one line.",
        id="pretty-printed-json",
    ),
    pytest.param(
        '{"id": "b", "input": "x", "metadata": {"score": NaN}}\n',
        1,
        None,
        "invalid JSON: NaN is not valid JSON; use null or a number.",
        id="nan",
    ),
    pytest.param(
        GOOD + '["b", "x"]\n',
        2,
        None,
        "expected a JSON object {...}, got an array; write each case as one JSON object.",
        id="array-not-object",
    ),
    pytest.param(
        '"just a string"\n',
        1,
        None,
        "expected a JSON object {...}, got a string; write each case as one JSON object.",
        id="string-not-object",
    ),
    pytest.param(
        GOOD + "\n" + '{"id": "b", "input": "x"}\n',
        2,
        None,
        "blank line between cases; remove it (blank lines are allowed only at the end).",
        id="blank-line-in-middle",
    ),
    pytest.param(
        GOOD + "   \t\n" + '{"id": "b", "input": "x"}\n',
        2,
        None,
        "blank line between cases; remove it (blank lines are allowed only at the end).",
        id="whitespace-line-in-middle",
    ),
    pytest.param(
        GOOD + '{"id": "b", "input": "x"}\n{"id": "ok", "input": "y"}\n',
        3,
        "id",
        "field 'id': duplicate id 'ok' (also on line 1); ids must be unique.",
        id="duplicate-id",
    ),
    pytest.param(
        '{"input": "same"}\n' + GOOD + '{"input":"same"}\n',
        3,
        "id",
        f"same content as line 1 (both get the id '{reference_id({'input': 'same'})}'); "
        "remove the duplicate or give each case its own `id`.",
        id="duplicate-content-without-id",
    ),
    pytest.param(
        '{"id": "", "input": "x"}\n',
        1,
        "id",
        "field 'id': must not be empty (give it a value, or drop `id` to get a content hash).",
        id="empty-id",
    ),
    pytest.param(
        '{"id": "refund 017", "input": "x"}\n',
        1,
        "id",
        "field 'id': \"refund 017\" contains whitespace (use only letters, digits and . _ : -).",
        id="id-with-space",
    ),
    pytest.param(
        '{"id": "refund/017[a]", "input": "x"}\n',
        1,
        "id",
        "field 'id': \"refund/017[a]\" contains '/', '[', ']' (use only letters, digits and . _ : -).",
        id="id-with-bad-characters",
    ),
    pytest.param(
        '{"id": "re fund/é", "input": "x"}\n',
        1,
        "id",
        "field 'id': \"re fund/é\" contains whitespace, '/', 'é' (use only letters, digits and . _ : -).",
        id="id-with-both",
    ),
    pytest.param(
        '{"id": 17, "input": "x"}\n',
        1,
        "id",
        "field 'id': Input should be a valid string (got 17).",
        id="id-not-string",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), LINE_ERRORS)
def test_line_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None, message: str
) -> None:
    path = write(tmp_path, text)

    error = load_error(path)

    assert (error.path, error.line, error.field, error.message) == (str(path), line, field, message)
    assert str(error) == f"{path}:{line}: {message}"


def test_error_path_is_shown_as_given(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    write(tmp_path / "datasets", '{"id": "a", "input": "x", "reference": 42}\n', "support.jsonl")

    error = load_error(Path("datasets/support.jsonl"), rootdir=tmp_path)

    assert str(error) == "datasets/support.jsonl:1: field 'reference': Input should be a valid string (got 42)."


def test_bom_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())

    error = load_error(path)

    assert str(error) == (
        f"{path}:1: file starts with a UTF-8 byte order mark; remove the BOM (save as UTF-8 without BOM)."
    )
    assert (error.line, error.field) == (1, None)


def test_invalid_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.encode() + b'{"id": "b", "input": "caf\xe9"}\n')

    error = load_error(path)

    assert str(error) == f"{path}:2: invalid UTF-8 at byte column 26 (byte 0xe9); save the file as UTF-8."
    assert error.line == 2


@pytest.mark.parametrize(
    ("content", "what"),
    [(b"", "the file is empty"), (b"\n  \n\n", "the file holds only blank lines")],
)
def test_file_without_cases_is_an_error(tmp_path: Path, content: bytes, what: str) -> None:
    path = write(tmp_path, content)

    error = load_error(path)

    assert str(error) == f'{path}: no cases ({what}); add one JSON object per line, e.g. {{"input": "..."}}.'
    assert error.line is None


def test_missing_file_names_path_as_given_and_where_it_looked(tmp_path: Path) -> None:
    error = load_error(Path("datasets/nope.jsonl"), rootdir=tmp_path)

    assert str(error) == (
        f"datasets/nope.jsonl: golden set not found (looked for {tmp_path / 'datasets/nope.jsonl'}); "
        f"fix the path (relative paths resolve against the rootdir {tmp_path})."
    )
    assert (error.path, error.line, error.field) == ("datasets/nope.jsonl", None, None)


def test_missing_file_without_rootdir_uses_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    error = load_error("nope.jsonl")

    assert str(error) == (
        f"nope.jsonl: golden set not found (looked for {tmp_path / 'nope.jsonl'}); "
        f"fix the path (relative paths resolve against the current directory {tmp_path})."
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    error = load_error(tmp_path)

    assert str(error) == f"{tmp_path}: is a directory ({tmp_path}); point to a .jsonl file."


def test_first_bad_line_is_reported_even_when_later_lines_are_bad_too(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '{"id": "b"}\n{not json}\n')

    assert load_error(path).line == 2


def test_dataset_error_survives_pickling(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, '{"id": "b", "input": 1, "tags": 2}\n'))

    clone = pickle.loads(pickle.dumps(error))

    assert str(clone) == str(error)
    assert (clone.path, clone.line, clone.field, clone.problems) == (
        error.path,
        error.line,
        error.field,
        error.problems,
    )


def test_id_rule_also_applies_when_building_a_case_in_code() -> None:
    with pytest.raises(ValidationError, match=r"contains whitespace \(use only letters"):
        Case(id="a b", input="x")
    assert Case(id="Az09._:-", input="x").id == "Az09._:-"


class CheckedCase(Case):
    answer_style: int | list[int] = 1

    @model_validator(mode="after")
    def _reference_needs_a_string_input(self) -> CheckedCase:
        if self.reference is not None and not isinstance(self.input, str):
            msg = "a reference needs a string input."
            raise ValueError(msg)
        return self


def test_subclass_model_validator_problem_names_the_line_not_a_field(tmp_path: Path) -> None:
    path = write(tmp_path, '{"id": "c", "input": {"q": 1}, "reference": "r"}\n')

    error = load_error(path, model=CheckedCase)

    assert str(error) == f"{path}:1: a reference needs a string input."
    assert error.field is None


def test_subclass_union_field_gets_one_error_naming_the_type(tmp_path: Path) -> None:
    path = write(tmp_path, '{"id": "c", "input": "x", "answer_style": "short"}\n')

    error = load_error(path, model=CheckedCase)

    assert error.message == ("field 'answer_style': Input should be one of int | list[int] (got \"short\").")


def test_explicit_id_equal_to_a_hash_id_is_a_plain_duplicate(tmp_path: Path) -> None:
    hashed = reference_id({"input": "x"})
    path = write(tmp_path, '{"input": "x"}\n' + json.dumps({"id": hashed, "input": "y"}) + "\n")

    error = load_error(path)

    assert error.message == f"field 'id': duplicate id '{hashed}' (also on line 1); ids must be unique."


@pytest.mark.parametrize("text", [GOOD, '{"id": 1}\n'])
def test_garbage_collector_state_is_restored(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert gc.isenabled()

    with contextlib.suppress(DatasetError):
        load_cases(path)

    assert gc.isenabled()
    gc.disable()
    try:
        with contextlib.suppress(DatasetError):
            load_cases(path)
        assert not gc.isenabled()  # a caller's disabled collector stays disabled
    finally:
        gc.enable()
