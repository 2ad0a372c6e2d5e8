"""Rubrics: what a judge is asked, loaded from YAML files in `rubrics/` and validated.

A rubric file holds one rubric:

```yaml
name: correctness
version: "1"
kind: pointwise            # pointwise | pass_fail | pairwise
scale: {min: 1, max: 5}    # pointwise only
criteria: |
  Is the answer factually consistent with the reference?
both_orders: true          # ask reference-first and answer-first (default: true for pairwise)
examples:                  # optional few-shot examples
  - candidate: "Refunds take 5 days."
    reference: "Refunds are processed within 5 business days."
    answer: 5
    reason: "Same fact."
template: null             # optional Jinja2 template replacing the built-in prompt
needs: [context]           # optional: what a case must supply (context, reference)
mode: single               # single | claims (claim-level faithfulness)
offline: reference         # how the offline judge serves it: reference | grounding | relevance | context_relevance | none
aggregate: null            # jury aggregation: mean | majority (default: the llm_gate_jury_aggregate setting)
doc: "What it measures, in one line."
show_reference: true       # show the case's reference to the judge (off for faithfulness)
```
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from pytest_llmgate.judge.prompts import check_template
from pytest_llmgate.judge.rubric_model import (
    _NAME_PATTERN,
    Aggregate,
    OfflineMethod,
    Rubric,
    RubricExample,
    RubricKind,
    RubricMode,
    RubricNeed,
)

__all__ = [
    "Rubric",
    "RubricError",
    "RubricExample",
    "RubricKind",
    "check_rubrics",
    "load_rubric_file",
    "load_rubrics",
    "parse_rubric",
]


class RubricError(Exception):
    """A rubric file is invalid; the message names the file and the field.

    `problems` holds every problem found in the file (the message is the first).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class _Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int
    max: int

    @field_validator("max")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if low is not None and value <= low:
            msg = f"must be greater than scale.min (got min={low}, max={value})"
            raise ValueError(msg)
        return value


class _RubricFile(BaseModel):
    """The YAML layout of a rubric file; field paths in errors follow it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME_PATTERN)
    version: str | int | float
    kind: RubricKind
    scale: _Scale | None = None
    criteria: str = Field(min_length=1)
    examples: list[RubricExample] = Field(default_factory=list)
    template: str | None = None
    both_orders: bool | None = None
    pass_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    needs: list[RubricNeed] = Field(default_factory=list)
    mode: RubricMode = "single"
    offline: OfflineMethod = "reference"
    aggregate: Aggregate | None = None
    doc: str = ""
    show_reference: bool = True

    @field_validator("criteria")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def _field_error(path: str, field: str, message: str, lines: dict[str, int] | None = None) -> RubricError:
    line = _line_of(field, lines or {})
    where = f"{path}:{line}" if line else path
    return RubricError(f"{where}: field '{field}': {message}")


def _line_of(field: str, lines: dict[str, int]) -> int | None:
    """The YAML line of `field` (`a.0.b`), or of its nearest parent that has one."""
    parts = field.split(".")
    while parts:
        line = lines.get(".".join(parts))
        if line:
            return line
        parts.pop()
    return None


def key_lines(text: str) -> dict[str, int]:
    """1-based line of every mapping key and sequence item of a YAML document, by dotted path."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    found: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                found.setdefault(name, key.start_mark.line + 1)
                walk(value, name + ".")
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found.setdefault(f"{prefix}{index}", item.start_mark.line + 1)
                walk(item, f"{prefix}{index}.")

    walk(root, "")
    return found


_KNOWN_KEYS: dict[str, list[str]] = {
    "": list(_RubricFile.model_fields),
    "scale": list(_Scale.model_fields),
    "examples": list(RubricExample.model_fields),
}


def _unknown_key_message(loc: tuple[Any, ...]) -> str:
    """'unknown key' with the closest known key at that level, when one is close."""
    parent = "examples" if loc[:1] == ("examples",) else ".".join(str(p) for p in loc[:-1])
    known = _KNOWN_KEYS.get(parent, [])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(known)}."
    return f"unknown key; {hint}"


def _check_examples(rubric: Rubric, path: str, lines: dict[str, int] | None) -> None:
    for index, example in enumerate(rubric.examples):
        field = f"examples.{index}.answer"
        answer = example.answer
        if rubric.kind == "pointwise":
            if not isinstance(answer, int) or not rubric.scale_min <= answer <= rubric.scale_max:
                msg = f"must be an integer from {rubric.scale_min} to {rubric.scale_max} (got {answer!r})."
                raise _field_error(path, field, msg, lines)
        elif rubric.kind == "pass_fail":
            if answer not in ("pass", "fail"):
                raise _field_error(path, field, f"must be 'pass' or 'fail' (got {answer!r}).", lines)
        else:
            if answer not in ("A", "B", "tie"):
                raise _field_error(path, field, f"must be 'A', 'B' or 'tie' (got {answer!r}).", lines)
            if example.other is None:
                msg = "pairwise examples need 'other' (response B)."
                raise _field_error(path, f"examples.{index}.other", msg, lines)


def parse_rubric(data: Any, path: str, lines: dict[str, int] | None = None) -> Rubric:
    """Validate one rubric's YAML data; `path` (and `lines`, from `key_lines`) are used in error messages."""
    if not isinstance(data, dict):
        msg = f"{path}: a rubric file must hold a mapping (got {type(data).__name__})."
        raise RubricError(msg)
    try:
        raw = _RubricFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        typos = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"]
        found = []
        for error in errors:
            field = ".".join(str(part) for part in error["loc"]) or "(root)"
            if error["type"] == "extra_forbidden":
                message = _unknown_key_message(error["loc"])
            elif error["type"] == "missing" and difflib.get_close_matches(
                str(error["loc"][-1]), typos, n=1, cutoff=0.6
            ):
                continue  # a typo'd key makes the real one "missing": the typo is named, it is the cause
            else:
                message = error["msg"].removeprefix("Value error, ").rstrip(".") + "."
            found.append((_line_of(field, lines or {}) or 0, str(_field_error(path, field, message, lines))))
        problems = [text for _, text in sorted(found, key=lambda item: item[0])]
        raise RubricError(problems[0], problems) from None
    if raw.scale is not None and raw.kind != "pointwise":
        msg = f"only pointwise rubrics have a scale (kind is {raw.kind!r})."
        raise _field_error(path, "scale", msg, lines)
    scale = raw.scale or _Scale(min=1, max=5)
    if raw.mode == "claims" and raw.kind != "pointwise":
        raise _field_error(path, "mode", f"claims mode needs kind 'pointwise' (kind is {raw.kind!r}).")
    if raw.mode == "claims" and "context" not in raw.needs:
        raise _field_error(path, "needs", "claims mode verifies claims against the context: add needs: [context].")
    rubric = Rubric(
        name=raw.name,
        version=str(raw.version),
        kind=raw.kind,
        scale_min=scale.min,
        scale_max=scale.max,
        criteria=raw.criteria,
        examples=raw.examples,
        template=raw.template,
        both_orders=raw.both_orders if raw.both_orders is not None else raw.kind == "pairwise",
        pass_threshold=raw.pass_threshold,
        source=path,
        needs=sorted(set(raw.needs)),
        mode=raw.mode,
        offline=raw.offline,
        aggregate=raw.aggregate,
        doc=raw.doc,
        show_reference=raw.show_reference,
    )
    _check_examples(rubric, path, lines)
    if rubric.template is not None:
        problem = check_template(rubric)
        if problem is not None:
            raise _field_error(path, "template", problem, lines)
    return rubric


def load_rubric_file(file: Path, shown: str) -> Rubric:
    """Read and validate one rubric file; `shown` is its path in messages."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        msg = f"{shown}: not UTF-8 text; save the rubric as UTF-8."
        raise RubricError(msg) from None
    except OSError as exc:
        msg = f"{shown}: cannot be read ({exc.strerror or exc})."
        raise RubricError(msg) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{shown}: invalid YAML{where}: {problem}."
        raise RubricError(msg) from None
    return parse_rubric(data, shown, key_lines(text))


def _rubric_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def check_rubrics(directory: Path) -> tuple[dict[str, Rubric], list[str]]:
    """Every rubric of `directory` that is valid, and one problem line per file that is not."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}, []
    rubrics: dict[str, Rubric] = {}
    problems: list[str] = []
    for file in _rubric_files(directory):
        shown = f"{directory.name}/{file.name}"
        try:
            rubric = load_rubric_file(file, shown)
        except RubricError as exc:
            problems.extend(exc.problems)
            continue
        if rubric.name in rubrics:
            msg = f"rubric {rubric.name!r} is already defined in {rubrics[rubric.name].source}; rename one."
            problems.append(str(_field_error(shown, "name", msg)))
            continue
        rubrics[rubric.name] = rubric
    return rubrics, problems


def load_rubrics(directory: Path) -> dict[str, Rubric]:
    """Load every `*.yaml` / `*.yml` rubric in `directory` (not recursive); missing dir -> {}.

    Raises `RubricError` naming the first bad file.
    """
    rubrics, problems = check_rubrics(directory)
    if problems:
        raise RubricError(problems[0])
    return rubrics


#: Folder of the built-in rubric pack (package data), used by `llmgate:<name>`.
PACK_DIR = Path(__file__).parent / "pack"
#: Prefix naming a built-in rubric in `llm_gate.judge(...)`.
PACK_PREFIX = "llmgate:"


def load_pack() -> dict[str, Rubric]:
    """The built-in rubrics, keyed `llmgate:<name>`."""
    rubrics = load_rubrics(PACK_DIR)
    return {PACK_PREFIX + name: rubric for name, rubric in rubrics.items()}


def pack_file(name: str) -> Path:
    """The YAML file of built-in rubric `name` (with or without the `llmgate:` prefix)."""
    bare = name.removeprefix(PACK_PREFIX)
    path = PACK_DIR / f"{bare}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PACK_DIR.glob("*.yaml")))
        msg = f"no built-in rubric {bare!r} (built-in: {known})."
        raise RubricError(msg)
    return path
