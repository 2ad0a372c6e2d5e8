"""Golden sets: JSONL files of cases, validated by a pydantic model, with file:line errors.

One case per line, a JSON object per case. Every problem in a file (bad JSON, a missing or
wrongly typed field, an unknown field, a duplicate id, a BOM, a blank line between cases,
invalid UTF-8, an id pytest cannot use) is a `DatasetError` naming the file, the line and
the field, with the one remedy. No case is ever skipped silently.

Case ids become pytest ids (`test_answer[refund-017]`): a case without an `id` gets a
content hash, so its id is stable across runs and across reformatting of the line.

A case whose `metadata.review` is `"pending"` or `"rejected"` (one promoted from a failing
run or imported from traces, waiting for a person to write its reference) is validated like
any other but is not part of the set: `load_cases` leaves it out unless asked, and the
dataset fingerprint is computed without its line, so adding one changes no baseline.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from pytest_llmgate.conversations import Message

__all__ = [
    "INACTIVE_REVIEW",
    "REVIEW_KEY",
    "Case",
    "DatasetError",
    "ToolCall",
    "case_to_record",
    "dataset_fingerprint",
    "is_active",
    "load_cases",
]

#: `metadata` key that marks a case's review state (written by `llmgate promote` / `import` / `review`).
REVIEW_KEY = "review"
#: Review states that keep a case out of the set: waiting for a person, or turned down by one.
INACTIVE_REVIEW = ("pending", "rejected")

_ID_ALLOWED = re.compile(r"[A-Za-z0-9._:-]+")
_ID_RULE = "use only letters, digits and . _ : -"
_BOM = b"\xef\xbb\xbf"
#: Longest rendering of an offending value inside a message.
_GOT_MAX = 60


class ToolCall(BaseModel):
    """A tool call the system under test is expected to make."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Tool name, e.g. `lookup_order`."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Arguments the call is expected to carry (JSON object)."""


class Case(BaseModel):
    """Default golden case; users subclass it to add typed fields.

    Unknown fields are an error (a typo such as `refrence` must not vanish): put free-form
    data under `metadata`, or subclass `Case` and declare the field.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable case id, used as the pytest id; `case-<hash>` of the line when absent."""
    input: str | dict[str, Any] | Annotated[list[Message], Field(min_length=1)]
    """What the system under test receives: a prompt, a JSON object of arguments, or a
    conversation so far (a list of `{"role", "content"}` messages)."""
    reference: str | None = None
    """The reference (gold) answer, for checks and pairwise judging."""
    relevant_ids: list[str] | dict[str, Annotated[int, Strict()]] | None = None
    """Relevant document ids: a list (binary relevance) or `{id: grade}` (graded, for nDCG)."""
    expected_tool_calls: list[ToolCall] | None = None
    """Tool calls the system is expected to make."""
    tags: list[str] = Field(default_factory=list)
    """Free labels for selecting and slicing cases."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data that the loader does not check."""
    cluster: str | None = None
    """Cases that share noise (paraphrases of one question, turns of one conversation, questions
    on one document) name one cluster: the gate flips or resamples them together."""

    @field_validator("id")
    @classmethod
    def _id_is_a_pytest_id(cls, value: str) -> str:
        """Reject ids that pytest would mangle or that break `-k` and node ids."""
        if _ID_ALLOWED.fullmatch(value):
            return value
        if not value:
            msg = "must not be empty (give it a value, or drop `id` to get a content hash)"
            raise ValueError(msg)
        bad = sorted({ch for ch in value if not _ID_ALLOWED.fullmatch(ch)}, key=value.index)
        named = [repr(ch) for ch in bad if not ch.isspace()]
        if any(ch.isspace() for ch in bad):
            named.insert(0, "whitespace")
        msg = f"{json.dumps(value, ensure_ascii=False)} contains {', '.join(named)} ({_ID_RULE})"
        raise ValueError(msg)

    @property
    def conversation(self) -> list[Message] | None:
        """The input as a conversation, or None when the input is a prompt or an object."""
        return self.input if isinstance(self.input, list) else None


class DatasetError(Exception):
    """A golden set that cannot be loaded: where (path, line, field) and what is wrong.

    `line` is 1-based, or None for whole-file problems. `field` names the field at fault
    (the first one when a line has several problems; all are in `problems`).
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        field: str | None,
        message: str,
        problems: list[tuple[str | None, str]] | None = None,
    ) -> None:
        super().__init__(path, line, field, message, problems)
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        self.problems: list[tuple[str | None, str]] = problems or [(field, message)]

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


def is_active(case: Case) -> bool:
    """Whether a case is part of the set (not pending review, not rejected)."""
    return case.metadata.get(REVIEW_KEY) not in INACTIVE_REVIEW


def load_cases(
    path: str | os.PathLike[str],
    *,
    model: type[Case] = Case,
    rootdir: Path | None = None,
    include_inactive: bool = False,
) -> list[Case]:
    """Load a JSONL golden set as `model` instances, in file order.

    A relative `path` resolves against `rootdir` (the current directory when None).
    Raises `DatasetError` on the first bad line, naming every problem of that line.
    Cases pending review or rejected are validated but left out unless `include_inactive`.
    """
    if not (isinstance(model, type) and issubclass(model, Case)):
        msg = f"'model' must be Case or a subclass of it (got {model!r})."
        raise TypeError(msg)
    shown = os.fspath(path)
    data = _read_bytes(shown, rootdir)
    lines = _decode_lines(shown, data)

    # The loop allocates a few objects per case and frees none, which makes the cyclic
    # garbage collector rescan every live case again and again: pausing it (nothing here
    # forms cycles) makes a 100,000-case load nearly twice as fast.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        cases = _load_lines(shown, lines, model)
    finally:
        if gc_was_enabled:
            gc.enable()
    return cases if include_inactive else [case for case in cases if is_active(case)]


def _load_lines(shown: str, lines: list[str], model: type[Case]) -> list[Case]:
    """Parse and validate each line; stop at the first bad one.

    jsonlines reads the lines (one `read` per line, in step with `lineno`); this function
    checks what it would let pass silently (blank lines between cases).
    """
    import jsonlines

    reader = jsonlines.Reader(lines, loads=_decode_json)
    validate = model.model_validate
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    hashed: set[str] = set()
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            msg = "blank line between cases; remove it (blank lines are allowed only at the end)."
            raise DatasetError(shown, lineno, None, msg)
        obj = _parse_line(shown, lineno, text, reader)
        generated = "id" not in obj
        if generated:
            obj["id"] = _content_id(obj)
        try:
            case = validate(obj)
        except ValidationError as exc:
            raise _validation_error(shown, lineno, model, exc) from None
        if case.id in first_line:
            same_content = generated and case.id in hashed
            raise _duplicate_error(shown, lineno, first_line[case.id], case.id, same_content)
        if generated:
            hashed.add(case.id)
        first_line[case.id] = lineno
        cases.append(case)
    return cases


def dataset_fingerprint(path: str | os.PathLike[str], *, rootdir: Path | None = None) -> str:
    """`sha256:<hex>` of the file's bytes; baselines store it to notice a changed golden set.

    Lines of cases pending review or rejected are left out of the hash, so appending them
    (at the end, as `llmgate promote` and `llmgate import` do) keeps the fingerprint.
    """
    data = _read_bytes(os.fspath(path), rootdir)
    return "sha256:" + hashlib.sha256(_active_bytes(data)).hexdigest()


def _active_bytes(data: bytes) -> bytes:
    """The file's bytes without the lines of inactive cases (the bytes themselves when there are none)."""
    needle = f'"{REVIEW_KEY}"'.encode()
    if needle not in data:
        return data
    lines = data.split(b"\n")
    kept = [line for line in lines if needle not in line or not _inactive_line(line)]
    return data if len(kept) == len(lines) else b"\n".join(kept)


def _inactive_line(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    return isinstance(metadata, dict) and metadata.get(REVIEW_KEY) in INACTIVE_REVIEW


def case_to_record(case: Case) -> dict[str, Any]:
    """The case as a JSON-ready dict for results files (unset optional fields left out)."""
    return case.model_dump(mode="json", exclude_none=True)


# -- reading ------------------------------------------------------------------------------


def _resolve(shown: str, rootdir: Path | None) -> Path:
    path = Path(shown)
    if rootdir is not None and not path.is_absolute():
        path = Path(rootdir) / path
    return path


def _read_bytes(shown: str, rootdir: Path | None) -> bytes:
    """The file's bytes, or a DatasetError that says where we looked."""
    resolved = _resolve(shown, rootdir)
    try:
        return resolved.read_bytes()
    except FileNotFoundError:
        base = f"the rootdir {rootdir}" if rootdir is not None else f"the current directory {Path.cwd()}"
        msg = (
            f"golden set not found (looked for {resolved.absolute()}); "
            f"fix the path (relative paths resolve against {base})."
        )
    except IsADirectoryError:
        msg = f"is a directory ({resolved.absolute()}); point to a .jsonl file."
    except OSError as exc:
        msg = f"cannot read {resolved.absolute()} ({exc.strerror or exc}); check its permissions."
    raise DatasetError(shown, None, None, msg)


def _decode_lines(shown: str, data: bytes) -> list[str]:
    """The case lines of the file: UTF-8 without BOM, trailing blank lines dropped."""
    if data.startswith(_BOM):
        msg = "file starts with a UTF-8 byte order mark; remove the BOM (save as UTF-8 without BOM)."
        raise DatasetError(shown, 1, None, msg)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        lineno = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - line_start + 1
        msg = f"invalid UTF-8 at byte column {column} (byte 0x{data[exc.start]:02x}); save the file as UTF-8."
        raise DatasetError(shown, lineno, None, msg) from None
    # Split on "\n" only: str.splitlines() would also split inside JSON strings that hold
    # U+2028 or other Unicode line separators verbatim.
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        what = "the file is empty" if not data else "the file holds only blank lines"
        msg = f'no cases ({what}); add one JSON object per line, e.g. {{"input": "..."}}.'
        raise DatasetError(shown, None, None, msg)
    return lines


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not, and other tools would choke.
    msg = f"{name} is not valid JSON; use null or a number."
    raise ValueError(msg)


#: Built once: `json.loads` with options builds a new decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)

_JSON_TYPE_NAMES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


#: Characters jsonlines drops from the start of a line without a word (a byte order mark, a
#: record separator); JSON allows neither, so such a line is decoded as JSON and refused.
_JSONLINES_SKIPS = ("\ufeff", "\x1e")


def _decode_json(line: str | bytes) -> Any:
    return _DECODER.decode(line if isinstance(line, str) else line.decode("utf-8"))


def _read_line(reader: Any, text: str) -> Any:
    """The next line of `reader` (which is `text`) as JSON; a bad line raises what the JSON decoder raised."""
    import jsonlines

    if text.startswith(_JSONLINES_SKIPS):
        _DECODER.decode(text)  # raises: JSON refuses what jsonlines would drop
    try:
        return reader.read(allow_none=True)
    except jsonlines.InvalidLineError as exc:
        if isinstance(exc.__cause__, ValueError):
            raise exc.__cause__ from None
        raise


def _parse_line(shown: str, lineno: int, text: str, reader: Any) -> dict[str, Any]:
    try:
        obj = _read_line(reader, text)
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON at column {exc.colno}: {exc.msg}; write each case as one JSON object on one line."
        raise DatasetError(shown, lineno, None, msg) from None
    except ValueError as exc:
        raise DatasetError(shown, lineno, None, f"invalid JSON: {exc}") from None
    except RecursionError:
        msg = "invalid JSON: arrays or objects nested too deeply; write each case as one JSON object on one line."
        raise DatasetError(shown, lineno, None, msg) from None
    if type(obj) is not dict:
        got = _JSON_TYPE_NAMES.get(type(obj), type(obj).__name__)
        msg = f"expected a JSON object {{...}}, got {got}; write each case as one JSON object."
        raise DatasetError(shown, lineno, None, msg)
    return obj


#: Built once: `json.dumps` with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _content_id(obj: dict[str, Any]) -> str:
    """`case-` + 10 hex of the sha256 of the line's canonical JSON (sorted keys, compact)."""
    canonical = _CANONICAL.encode(obj)
    return "case-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]


# -- messages -----------------------------------------------------------------------------


def _duplicate_error(shown: str, lineno: int, first: int, case_id: str, same_content: bool) -> DatasetError:
    if same_content:
        msg = (
            f"same content as line {first} (both get the id '{case_id}'); "
            "remove the duplicate or give each case its own `id`."
        )
    else:
        msg = f"field 'id': duplicate id '{case_id}' (also on line {first}); ids must be unique."
    return DatasetError(shown, lineno, "id", msg)


def _validation_error(shown: str, lineno: int, model: type[Case], exc: ValidationError) -> DatasetError:
    """One DatasetError naming every problem pydantic found on the line."""
    problems = _problems(model, exc.errors(include_url=False))
    listed = "; ".join(text if field is None else f"field '{field}': {text}" for field, text in problems)
    message = f"{listed}." if len(problems) == 1 else f"{len(problems)} problems: {listed}."
    return DatasetError(shown, lineno, problems[0][0], message, problems)


#: What Case's own union fields accept, in words (pydantic would list one error per branch).
_UNION_EXPECTED = {
    "input": 'a string, a JSON object or a list of {"role", "content"} messages',
    "relevant_ids": "a list of ids or an object mapping each id to an integer grade",
}


def _problems(model: type[Case], errors: list[Any]) -> list[tuple[str | None, str]]:
    """(field path, text) per problem, with each union field's branch errors merged.

    The field is None for a problem of the whole line (a subclass's model validator).
    """
    by_field: dict[Any, list[Any]] = {}
    for error in errors:
        key = error["loc"][0] if error["loc"] else None
        by_field.setdefault(key, []).append(error)
    problems: list[tuple[str | None, str]] = []
    for name, group in by_field.items():
        field_info = model.model_fields.get(name) if isinstance(name, str) else None
        annotation = field_info.annotation if field_info is not None else None
        if _is_union(annotation) and group[0]["type"] != "missing":
            problems.extend(_union_problems(name, annotation, group))
        else:
            problems.extend((_loc(error["loc"]) or None, _text(model, error)) for error in group)
    return problems


def _is_union(annotation: Any) -> bool:
    """True for a union of two or more non-None types (pydantic tags its errors per branch)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return False
    return len([arg for arg in typing.get_args(annotation) if arg is not type(None)]) > 1


def _union_problems(name: str, annotation: Any, group: list[Any]) -> list[tuple[str | None, str]]:
    """Errors of the one branch whose outer type matched, or a single 'should be' error."""
    branches: dict[str, list[Any]] = {}
    for error in group:
        branches.setdefault(str(error["loc"][1]) if len(error["loc"]) > 1 else "", []).append(error)
    deep = [errs for errs in branches.values() if all(len(e["loc"]) > 2 for e in errs)]
    if len(deep) == 1:
        return [(_loc((name, *e["loc"][2:])), _text(None, e)) for e in deep[0]]
    expected = _UNION_EXPECTED.get(name)
    if expected is None:
        expected = "one of " + str(annotation).replace("typing.", "")
    return [(name, f"Input should be {expected} (got {_got(group[0]['input'])})")]


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _text(model: type[Case] | None, error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden" and len(error["loc"]) > 1:
        return "unknown field (check its spelling)"
    if kind == "extra_forbidden":
        owner = "a subclass of Case" if model is None or model is Case else model.__name__
        close = difflib.get_close_matches(str(error["loc"][0]), list((model or Case).model_fields), n=1)
        if close:
            return f"unknown field; did you mean '{close[0]}'? (or put it under `metadata`, or declare it in {owner})"
        return f"unknown field (put it under `metadata`, or declare it in {owner})"
    if kind == "model_type" and error["loc"][:1] == ("input",):
        return f'Input should be a {{"role", "content"}} message (got {_got(error["input"])})'
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ").rstrip(".")
    return f"{error['msg']} (got {_got(error['input'])})"


def _got(value: Any) -> str:
    """The offending value as JSON, cut short so a long answer cannot flood the message."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _GOT_MAX else text[: _GOT_MAX - 3] + "..."


def check_cases(
    path: str | os.PathLike[str], *, model: type[Case] = Case, rootdir: Path | None = None
) -> list[DatasetError]:
    """Every problem of a golden set, one `DatasetError` per bad line (`load_cases` stops at the first)."""
    import jsonlines

    shown = os.fspath(path)
    try:
        lines = _decode_lines(shown, _read_bytes(shown, rootdir))
    except DatasetError as exc:
        return [exc]
    found: list[DatasetError] = []
    first_line: dict[str, int] = {}
    hashed: set[str] = set()
    for lineno, text in enumerate(lines, start=1):
        try:
            if not text.strip():
                msg = "blank line between cases; remove it (blank lines are allowed only at the end)."
                raise DatasetError(shown, lineno, None, msg)
            # A reader per line: a bad line here does not stop the listing, so no shared reader to keep in step.
            obj = _parse_line(shown, lineno, text, jsonlines.Reader([text], loads=_decode_json))
            generated = "id" not in obj
            if generated:
                obj["id"] = _content_id(obj)
            try:
                case = model.model_validate(obj)
            except ValidationError as exc:
                raise _validation_error(shown, lineno, model, exc) from None
            if case.id in first_line:
                raise _duplicate_error(shown, lineno, first_line[case.id], case.id, generated and case.id in hashed)
            if generated:
                hashed.add(case.id)
            first_line[case.id] = lineno
        except DatasetError as exc:
            found.append(exc)
    return found
