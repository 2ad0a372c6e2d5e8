"""Human labels: one append-only JSONL file per rubric (`datasets/labels/<rubric>.jsonl`).

Every line is either a label or an undo tombstone `{"undo": "<label id>", ...}`. Nothing is
ever rewritten: a label is corrected by appending a newer one (the last label for a
(suite, case_id, rubric, output_hash) wins) and withdrawn by appending a tombstone. Each
line is flushed and fsynced as it is written, so a crash loses at most the label being typed.

Label values, on the rubric's own scale:
- pointwise: an integer score (e.g. 1..5);
- pass_fail: `"pass"` or `"fail"`;
- pairwise: `"A"`, `"B"` or `"tie"` where **A is always the candidate** (the output under
  test) and B what it was compared with (reference or baseline output), whatever the
  screen order was. So A = win, B = loss, tie = tie from the candidate's point of view,
  matching the judge's `JudgeVerdict.label` (`win`/`loss`/`tie`) and value (1/0/0.5).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

DEFAULT_LABELS_DIR = Path("datasets") / "labels"

LabelValue = StrictInt | Literal["pass", "fail", "A", "B", "tie"]
Stratum = str

#: Pairwise labels from the candidate's point of view.
PAIRWISE_OUTCOME = {"A": "win", "B": "loss", "tie": "tie"}
PAIRWISE_VALUE = {"A": 1.0, "B": 0.0, "tie": 0.5}


class LabelFileError(ValueError):
    """A labels file line that cannot be read; the message names file and line."""


def utc_now() -> str:
    """Current time as ISO 8601 in UTC with a `Z` suffix, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


#: Optional prefix of a label's `output_hash` (`sha256:<hex>` and `<hex>` are the same hash).
HASH_PREFIX = "sha256:"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")

#: Prefix of a built-in rubric in `llm_gate.judge("llmgate:<name>")` (judge/rubrics.PACK_PREFIX).
PACK_PREFIX = "llmgate:"


def rubric_key(name: str) -> str:
    """The name labels, results and calibration know a rubric by: a built-in rubric's
    `llmgate:<name>` is `<name>`, as its verdicts record it."""
    return name.removeprefix(PACK_PREFIX)


def labels_path(rubric: str, labels_dir: str | os.PathLike[str] = DEFAULT_LABELS_DIR) -> Path:
    """Default labels file of a rubric: `<labels_dir>/<rubric>.jsonl` (`llmgate:<name>` -> `<name>.jsonl`)."""
    return Path(labels_dir) / f"{rubric_key(rubric)}.jsonl"


class Label(BaseModel):
    """One human judgment of one output of one case on one rubric."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Unique id of this line; an undo tombstone names it."""
    suite: str
    """Suite id, as in `RunResults.suites`."""
    case_id: str
    rubric: str
    """Rubric name; a built-in rubric may be written `faithfulness` or `llmgate:faithfulness`
    (read as `faithfulness`, the name its verdicts carry)."""
    label: LabelValue
    """Integer score, `pass`/`fail`, or `A`/`B`/`tie` (A = the candidate, see module doc)."""
    labeler: str
    created_at: str = Field(default_factory=utc_now)
    """ISO 8601, UTC."""
    output_hash: str
    """sha256 of the exact output labeled (the judge's `output_hash`): the label applies to it only."""
    stratum: Stratum = "uniform"
    """How the case was sampled: `uniform` (feeds unbiased estimates) or an extra stratum
    such as `flips` or `extremes` (reported apart, never mixed into the estimates)."""

    @field_validator("rubric")
    @classmethod
    def _bare_rubric(cls, value: str) -> str:
        return rubric_key(value)

    @field_validator("output_hash")
    @classmethod
    def _bare_hash(cls, value: str) -> str:
        """`sha256:<hex>` is read as `<hex>`, the form the tools write and verdicts carry."""
        if value.startswith(HASH_PREFIX):
            value = value.removeprefix(HASH_PREFIX)
            if not _HEX_DIGEST.fullmatch(value):
                msg = "must be the output's sha256 hex digest (64 hex digits, optionally prefixed 'sha256:')"
                raise ValueError(msg)
        return value

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a newer label replaces: (suite, case_id, rubric, output_hash)."""
        return (self.suite, self.case_id, self.rubric, self.output_hash)


class Undo(BaseModel):
    """A tombstone: withdraws the label with id `undo`."""

    model_config = ConfigDict(extra="forbid")

    undo: str
    labeler: str = ""
    created_at: str = Field(default_factory=utc_now)


def _append_line(path: Path, record: BaseModel) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record.model_dump(), sort_keys=True, ensure_ascii=False) + "\n"
    # O_APPEND makes each write land at the end even with two writers; fsync makes it durable.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line  # a crash cut the last line short: start on a fresh line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def append_label(path: str | os.PathLike[str], label: Label) -> None:
    """Append one label as a JSON line, flushed and fsynced before returning."""
    _append_line(Path(path), label)


def append_undo(path: str | os.PathLike[str], label_id: str, labeler: str = "") -> None:
    """Withdraw the label `label_id` by appending a tombstone (the file stays append-only)."""
    _append_line(Path(path), Undo(undo=label_id, labeler=labeler))


def read_entries(path: str | os.PathLike[str], *, shown: str | None = None) -> list[Label | Undo]:
    """Every line of a labels file, validated, in file order; errors name file and line."""
    return [entry for _, entry in read_numbered_entries(path, shown=shown)]


def read_numbered_entries(
    path: str | os.PathLike[str], *, shown: str | None = None, errors: list[str] | None = None
) -> list[tuple[int, Label | Undo]]:
    """`read_entries` with each entry's 1-based line number; `shown` is the path in messages.

    A bad line raises `LabelFileError`, or, when `errors` is a list, is added to it and
    skipped, so a check can name every bad line of the file at once.
    """
    path = Path(path)
    entries: list[tuple[int, Label | Undo]] = []
    seen_ids: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                entry = _read_line(raw, f"{shown or path}:{number}", seen_ids)
            except LabelFileError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
                continue
            entries.append((number, entry))
    return entries


def _read_line(raw: str, where: str, seen_ids: set[str]) -> Label | Undo:
    """One line of a labels file as a label or an undo; `seen_ids` holds the ids of earlier labels."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        cut = "" if raw.endswith("\n") else " (cut short, e.g. by a crash while writing)"
        msg = f"{where}: invalid JSON{cut} ({exc.msg}). Fix or delete the line."
        raise LabelFileError(msg) from None
    if not isinstance(data, dict):
        msg = f"{where}: a label must be a JSON object (got {type(data).__name__})."
        raise LabelFileError(msg)
    try:
        entry: Label | Undo = Undo.model_validate(data) if "undo" in data else Label.model_validate(data)
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "line"
            reason = error["msg"].removeprefix("Value error, ")
            got = "" if error["type"] == "missing" else f" (got {error.get('input')!r})"
            parts.append(f"field '{field}': {reason}{got}")
        msg = f"{where}: {'; '.join(parts)}."
        raise LabelFileError(msg) from None
    if isinstance(entry, Undo):
        if entry.undo not in seen_ids:
            msg = f"{where}: undo of unknown label id {entry.undo!r}; an undo must follow its label."
            raise LabelFileError(msg)
    else:
        if entry.id in seen_ids:
            msg = f"{where}: duplicate label id {entry.id!r}; every label needs its own id."
            raise LabelFileError(msg)
        seen_ids.add(entry.id)
    return entry


def check_label_values(
    path: str | os.PathLike[str],
    choices: dict[str, list[object] | None],
    *,
    shown: str | None = None,
    built_in: frozenset[str] = frozenset(),
) -> list[str]:
    """Problems of a labels file: unreadable lines, malformed output hashes, unknown rubrics,
    labels off their rubric's scale.

    `choices` maps every known rubric to the label values it accepts (None: not checked);
    `built_in` names those of them that come from the built-in pack (shown apart in messages).
    One line per problem, each naming file, line and field.
    """
    shown = shown or str(path)
    problems: list[str] = []
    try:
        numbered = read_numbered_entries(path, shown=shown, errors=problems)
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{shown}: cannot be read ({exc}); save it as UTF-8 JSON lines."]
    for number, entry in numbered:
        if not isinstance(entry, Label):
            continue
        where = f"{shown}:{number}"
        if not _HEX_DIGEST.fullmatch(entry.output_hash):
            # A shortened or made-up hash matches no output: the label would be silently stale.
            problems.append(
                f"{where}: field 'output_hash': {entry.output_hash!r} is not the sha256 hex digest of an output "
                "(64 hex digits, optionally prefixed 'sha256:'); copy the judge verdict's output_hash from the "
                "results file, or import the label with `llmgate labels import`."
            )
        if entry.rubric not in choices:
            known = ", ".join(sorted(set(choices) - built_in)) or "none"
            also = f"; built-in: {', '.join(sorted(built_in))}" if built_in else ""
            close = difflib.get_close_matches(entry.rubric, sorted(choices), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "fix the rubric name."
            problems.append(f"{where}: field 'rubric': unknown rubric {entry.rubric!r} (known: {known}){also}; {hint}")
            continue
        allowed = choices[entry.rubric]
        if allowed is not None and (isinstance(entry.label, bool) or entry.label not in allowed):
            shown_choices = ", ".join(str(choice) for choice in allowed)
            problems.append(
                f"{where}: field 'label': {entry.label!r} is not on the scale of rubric {entry.rubric!r} "
                f"({shown_choices}); fix the label."
            )
    return problems


def resolve(entries: list[Label | Undo]) -> list[Label]:
    """Apply undos, then keep the last label per (suite, case_id, rubric, output_hash)."""
    undone = {entry.undo for entry in entries if isinstance(entry, Undo)}
    latest: dict[tuple[str, str, str, str], Label] = {}
    for entry in entries:
        if isinstance(entry, Label) and entry.id not in undone:
            latest.pop(entry.key, None)  # re-insert so order follows the latest label
            latest[entry.key] = entry
    return list(latest.values())


def load_labels(path: str | os.PathLike[str], *, missing_ok: bool = False) -> list[Label]:
    """The effective labels of a file (undos applied, last label per output wins).

    A missing file is an error unless `missing_ok` (then no labels).
    """
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return []
        msg = f"labels file {path} does not exist; label cases with `llmgate label` first."
        raise FileNotFoundError(msg)
    return resolve(read_entries(path))
