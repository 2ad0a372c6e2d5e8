"""Adding cases to a golden set file: ids that never collide, de-duplication, atomic appends.

A `GoldenSetFile` is read and written under the golden set's writer lock (`golden.lock`):
open it inside `golden_lock(path)` and call `write()` before leaving, so no other writer's
change lands between the read and the write.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import jsonlines
from pydantic import BaseModel

from pytest_llmgate._files import atomic_write_text
from pytest_llmgate.datasets import REVIEW_KEY, Case, load_cases

__all__ = ["GoldenSetFile", "new_id", "normalize_input"]

_SPACE = re.compile(r"\s+")
#: One case per line as the golden-set writers write it: sorted keys, UTF-8 text kept as is.
_LINE = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def normalize_input(value: Any) -> str:
    """The comparison form of an input: Unicode NFKC, case-folded, white space collapsed.

    Two questions that differ only in case, spacing or Unicode form are the same question;
    an object or a conversation is compared as canonical JSON of its normalized strings.
    """
    if isinstance(value, str):
        return _SPACE.sub(" ", unicodedata.normalize("NFKC", value)).strip().casefold()
    if isinstance(value, dict):
        return json.dumps({k: normalize_input(v) for k, v in value.items()}, sort_keys=True, ensure_ascii=False)
    if isinstance(value, list):
        return json.dumps([normalize_input(v) for v in value], ensure_ascii=False)
    if isinstance(value, BaseModel):  # a conversation's `Message`: compared as the dict it was read from
        return normalize_input(value.model_dump(mode="json"))
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def new_id(prefix: str, value: Any, taken: set[str]) -> str:
    """`<prefix>-<10 hex of sha256(normalized input)>`, with `-2`, `-3`... if that id is taken.

    The same input always asks for the same id, so a re-import proposes the id it proposed
    before; an id already in the set is never reused.
    """
    digest = hashlib.sha256(normalize_input(value).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    candidate = f"{prefix}-{digest}"
    suffix = 2
    while candidate in taken:
        candidate = f"{prefix}-{digest}-{suffix}"
        suffix += 1
    return candidate


class GoldenSetFile:
    """One golden set on disk, read once: its ids and inputs, and the cases to append to it."""

    def __init__(self, path: Path, *, model: type[Case] = Case):
        self.path = Path(path)
        self.model = model
        self.cases: list[Case] = []
        if self.path.exists():
            self.cases = load_cases(self.path, model=model, include_inactive=True)
        self.ids = {case.id for case in self.cases}
        self.inputs = {normalize_input(case.input): case.id for case in self.cases}
        self.added: list[dict[str, Any]] = []

    def duplicate_of(self, value: Any) -> str | None:
        """The id of a case (in the file or added in this run) with the same normalized input."""
        return self.inputs.get(normalize_input(value))

    def add(self, prefix: str, case: dict[str, Any]) -> str:
        """Queue a pending case (a dict without `id`); returns the id it gets."""
        case_id = new_id(prefix, case["input"], self.ids)
        record = {"id": case_id, **case}
        record.setdefault("metadata", {})[REVIEW_KEY] = "pending"
        self.model.model_validate(record)  # what we write must load
        self.ids.add(case_id)
        self.inputs[normalize_input(case["input"])] = case_id
        self.added.append(record)
        return case_id

    def write(self) -> None:
        """Append the queued cases at the end of the file in one atomic replace (nothing on error)."""
        if not self.added:
            return
        old = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        buffer = io.StringIO()
        with jsonlines.Writer(buffer, dumps=_LINE.encode) as writer:
            writer.write_all(self.added)
        atomic_write_text(self.path, old + buffer.getvalue())
