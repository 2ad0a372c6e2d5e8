"""`llmgate review`: a person writes the reference of pending cases, which makes them count.

The page shows each pending case of one golden set: its input, what the run or the trace
saw (the failing output is shown as provenance, never offered as the reference), tool calls
seen in the trace as candidates. Approving writes the reference (required), the relevant ids
and the accepted tool calls into the case's line and sets `metadata.review` to `"approved"`;
rejecting sets it to `"rejected"` (the line stays, so a later import does not bring the same
question back). Every other line of the file keeps its bytes; each write is atomic.

The HTTP side (loopback only, Host/Origin/token checks, CSP) is `pytest_llmgate.localapp`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pytest_llmgate._files import atomic_write_text
from pytest_llmgate.conversations import as_turns, transcript
from pytest_llmgate.datasets import REVIEW_KEY, Case, ToolCall, load_cases
from pytest_llmgate.outputs import display_text

from .lock import GoldenSetBusy, golden_lock
from .scrub import clean_text

__all__ = ["ReviewSession"]

_SURROGATE = re.compile("[\ud800-\udfff]")
#: Longest reference accepted from the page (the request body is capped at 64 KiB anyway).
MAX_REFERENCE = 20_000


@dataclass
class ReviewSession:
    """Review state of one golden set file; the file itself is the only store."""

    path: Path
    reviewer: str
    model: type[Case] = Case
    """The golden set's case model (a Case subclass when the set has fields of its own)."""
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    lock: threading.Lock = field(default_factory=threading.Lock)
    static_package: ClassVar[str] = "pytest_llmgate.golden"
    page: ClassVar[str] = "review.html"

    def __post_init__(self) -> None:
        if not self.reviewer.strip():
            msg = "'reviewer' must be a non-empty name (got '')."
            raise ValueError(msg)
        self.path = Path(self.path)
        load_cases(
            self.path, model=self.model, include_inactive=True
        )  # a broken file is an error before the page opens

    def pending(self) -> list[Case]:
        return [
            c
            for c in load_cases(self.path, model=self.model, include_inactive=True)
            if c.metadata.get(REVIEW_KEY) == "pending"
        ]

    def _view(self, case: Case) -> dict[str, Any]:
        provenance = case.metadata.get("provenance") or {}
        shown = {k: v for k, v in provenance.items() if k not in ("failing_output", "output", "source_reference")}
        turns = as_turns(case.input)
        return {
            "id": case.id,
            "input": transcript(case.input) if turns else display_text(case.input),
            "turns": [{"role": role, "content": content} for role, content in turns] if turns else None,
            "tags": case.tags,
            "seen_output": display_text(provenance.get("failing_output", provenance.get("output"))),
            "source_reference": display_text(provenance.get("source_reference")),
            "provenance": display_text(shown),
            "candidate_tool_calls": case.metadata.get("candidate_tool_calls") or [],
            "reference": case.reference or "",
            "relevant_ids": case.relevant_ids if isinstance(case.relevant_ids, list) else [],
        }

    def state(self) -> dict[str, Any]:
        with self.lock:
            pending = self.pending()
        return {"file": self.path.name, "reviewer": self.reviewer, "cases": [self._view(c) for c in pending]}

    def get(self, path: str) -> Any:
        if path == "/api/state":
            return self.state()
        raise LookupError(path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        if path == "/api/approve":
            return self.approve(
                body.get("id"), body.get("reference"), body.get("relevant_ids"), body.get("tool_calls", [])
            )
        if path == "/api/reject":
            return self.reject(body.get("id"))
        raise LookupError(path)

    def approve(self, case_id: Any, reference: Any, relevant_ids: Any = None, tool_calls: Any = ()) -> dict[str, Any]:
        """Write the reference (and relevant ids, accepted tool calls) and make the case count."""
        if isinstance(reference, str):
            reference = clean_text(reference)  # a lone surrogate from the page cannot be written as UTF-8
        if not isinstance(reference, str) or not reference.strip():
            msg = "'reference' must be a non-empty text: write the answer a good system gives."
            raise ValueError(msg)
        if len(reference) > MAX_REFERENCE:
            msg = f"'reference' must be at most {MAX_REFERENCE} characters (got {len(reference)})."
            raise ValueError(msg)
        ids = relevant_ids or []
        if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids):
            msg = "'relevant_ids' must be a list of non-empty ids."
            raise ValueError(msg)
        if not isinstance(tool_calls, list | tuple) or not all(isinstance(i, int) for i in tool_calls):
            msg = "'tool_calls' must list the indexes of the candidate tool calls to keep."
            raise ValueError(msg)

        def change(record: dict[str, Any]) -> None:
            record["reference"] = reference.strip()
            if ids:
                record["relevant_ids"] = [i.strip() for i in ids]
            candidates = record["metadata"].pop("candidate_tool_calls", None) or []
            kept = [candidates[i] for i in tool_calls if 0 <= i < len(candidates)]
            if kept:
                record["expected_tool_calls"] = [ToolCall.model_validate(call).model_dump() for call in kept]
            record["metadata"][REVIEW_KEY] = "approved"

        return self._rewrite(case_id, change)

    def reject(self, case_id: Any) -> dict[str, Any]:
        """Keep the case out of the set for good (its line stays, so it is not imported again)."""

        def change(record: dict[str, Any]) -> None:
            record["metadata"][REVIEW_KEY] = "rejected"

        return self._rewrite(case_id, change)

    def _rewrite(self, case_id: Any, change: Any) -> dict[str, Any]:
        if not isinstance(case_id, str):
            msg = "'id' must be the id of a pending case."
            raise ValueError(msg)
        # The file is re-read under the writer lock, which every other reviewer, import and
        # promote of this golden set also holds: a change is either written or refused.
        try:
            with self.lock, golden_lock(self.path):
                return self._rewrite_locked(case_id, change)
        except GoldenSetBusy as exc:
            raise ValueError(str(exc)) from None
        except OSError as exc:
            msg = f"{self.path.name} could not be written ({exc.strerror or exc}); nothing was saved, try again."
            raise ValueError(msg) from None

    def _rewrite_locked(self, case_id: str, change: Any) -> dict[str, Any]:
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        for index, line in enumerate(lines):
            if case_id not in line:
                continue
            record = json.loads(line)
            if record.get("id") != case_id:
                continue
            if (record.get("metadata") or {}).get(REVIEW_KEY) != "pending":
                msg = f"case {case_id!r} is not pending review (it was reviewed already)."
                raise ValueError(msg)
            change(record)
            record["metadata"]["reviewed_by"] = self.reviewer
            record["metadata"]["reviewed_on"] = _dt.date.today().isoformat()
            self.model.model_validate(record)
            line = json.dumps(record, ensure_ascii=False, sort_keys=True)
            if _SURROGATE.search(line):  # the file held a lone surrogate as a \u escape: keep it escaped
                line = json.dumps(record, sort_keys=True)
            lines[index] = line
            atomic_write_text(self.path, "\n".join(lines))
            return {"ok": True, "id": case_id, "review": record["metadata"][REVIEW_KEY]}
        msg = f"no case {case_id!r} in {self.path.name}; reload the page."
        raise ValueError(msg)
