"""The validated rubric record: what a judge is asked, below both the YAML loader
(`rubrics.py`) and the prompt renderer (`prompts.py`), so neither imports the other back.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RubricKind = Literal["pointwise", "pass_fail", "pairwise"]
RubricNeed = Literal["context", "reference"]
RubricMode = Literal["single", "claims"]
OfflineMethod = Literal["reference", "grounding", "relevance", "context_relevance", "none"]
Aggregate = Literal["mean", "majority"]

#: Fields added after rubrics were first fingerprinted: left out of the content hash while
#: they hold their default, so the hash of an existing rubric file does not change.
_LATER_DEFAULTS: dict[str, Any] = {
    "needs": [],
    "mode": "single",
    "offline": "reference",
    "aggregate": None,
    "doc": "",
    "show_reference": True,
}

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class RubricExample(BaseModel):
    """One few-shot example shown to the judge (rubric content, not user data)."""

    model_config = ConfigDict(extra="forbid")

    input: str | None = None
    """The question the example answers, if any."""
    candidate: str
    """The answer being judged (response A for pairwise rubrics)."""
    other: str | None = None
    """Response B (pairwise rubrics only)."""
    reference: str | None = None
    """The reference answer, if any."""
    answer: int | str
    """The expected judgment: a score (pointwise), `pass`/`fail`, or `A`/`B`/`tie`."""
    reason: str = ""
    """Why, in a sentence."""


class Rubric(BaseModel):
    """A validated rubric. `content_hash` goes into the suite's baseline fingerprint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_PATTERN)
    """Unique name; the metric is `judge:<name>` unless the test says otherwise."""
    version: str
    """Bump when the meaning changes; part of every cache key."""
    kind: RubricKind
    scale_min: int = 1
    """Lowest score of a pointwise rubric."""
    scale_max: int = 5
    """Highest score of a pointwise rubric."""
    criteria: str = Field(min_length=1)
    """What the judge looks for, in plain words."""
    examples: list[RubricExample] = Field(default_factory=list)
    template: str | None = None
    """Jinja2 template replacing the built-in user prompt (see `prompts.py` for variables)."""
    both_orders: bool = False
    """Ask in both presentation orders. Defaults to True for pairwise rubrics, False
    otherwise; pointwise rubrics use it only when the case has a reference."""
    pass_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Offline judge only: token-overlap F1 at or above which a pass/fail rubric passes."""
    source: str = Field(default="", exclude=True)
    """File the rubric came from (for messages; not part of the content hash)."""
    needs: list[RubricNeed] = Field(default_factory=list)
    """What a case must supply: `context` (retrieved chunks) and/or `reference`."""
    mode: RubricMode = "single"
    """`single`: one judgment per order; `claims`: list the answer's claims, then verify
    each against the context (score = supported / total)."""
    offline: OfflineMethod = "reference"
    """How the offline judge serves this rubric: token overlap with the `reference`,
    `grounding` (share of the answer's words found in the context), `relevance` (overlap
    with the input), `context_relevance` (the context's overlap with the input), or `none`."""
    aggregate: Aggregate | None = None
    """How a jury of several judges is combined (None: the `llm_gate_jury_aggregate` setting)."""
    doc: str = ""
    """One line saying what the rubric measures (listed by `llmgate rubrics list`)."""
    show_reference: bool = True
    """Show the case's reference to the judge when it has one; off for rubrics that judge
    something else (faithfulness judges against the context only)."""

    @model_validator(mode="before")
    @classmethod
    def _default_both_orders(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("both_orders") is None:
            data = {**data, "both_orders": data.get("kind") == "pairwise"}
        return data

    @model_validator(mode="after")
    def _scale_ordered(self) -> Rubric:
        if self.scale_max <= self.scale_min:
            msg = f"scale_max must be greater than scale_min (got {self.scale_min}, {self.scale_max})."
            raise ValueError(msg)
        if self.mode == "claims" and (self.kind != "pointwise" or "context" not in self.needs):
            msg = "claims mode needs kind 'pointwise' and needs: [context]."
            raise ValueError(msg)
        return self

    @property
    def content_hash(self) -> str:
        """sha256 of the rubric's content (everything but its source path)."""
        data = self.model_dump(mode="json")
        for key, default in _LATER_DEFAULTS.items():
            if data.get(key) == default:
                del data[key]
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def metric(self) -> str:
        """Default metric name filled by this rubric."""
        return f"judge:{self.name}"
