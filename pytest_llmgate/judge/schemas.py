"""Structured answers asked of a judge: one pydantic schema per rubric kind.

The reason comes first so that a model writes its reasoning before its judgment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class PointwiseAnswer(BaseModel):
    """A score on the rubric's scale."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    score: int


class PassFailAnswer(BaseModel):
    """A pass/fail judgment."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    verdict: Literal["pass", "fail"]


class PairwiseAnswer(BaseModel):
    """A preference between response A and response B, as positioned in the prompt."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    preference: Literal["A", "B", "tie"]


class ClaimList(BaseModel):
    """Claims mode, first call: the answer's checkable factual claims (possibly none)."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    claims: list[str]


class ClaimCheck(BaseModel):
    """Claims mode, second call: the verdict on one numbered claim."""

    model_config = ConfigDict(extra="forbid")

    claim: int
    reason: str
    verdict: Literal["supported", "unsupported", "contradicted"]


class ClaimVerdicts(BaseModel):
    """Claims mode, second call: one verdict per claim shown."""

    model_config = ConfigDict(extra="forbid")

    verdicts: list[ClaimCheck]


JudgeAnswer = PointwiseAnswer | PassFailAnswer | PairwiseAnswer

SCHEMAS: dict[str, type[BaseModel]] = {
    "pointwise": PointwiseAnswer,
    "pass_fail": PassFailAnswer,
    "pairwise": PairwiseAnswer,
    "claims": ClaimList,
    "claim_verdicts": ClaimVerdicts,
}
