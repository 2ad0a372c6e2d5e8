"""The offline judge: deterministic token overlap with the reference, no key, no model.

It is a stand-in that lets a gate run anywhere; it measures lexical agreement with the
reference, not quality, and every report names it (`offline:overlap-v1`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmgate.judge.prompts import RenderedPrompt
    from pytest_llmgate.judge.rubrics import Rubric

OFFLINE_NAME = "offline:overlap-v1"

#: Overlap differences at or below this are a tie in pairwise judgments.
TIE_EPSILON = 0.02

_TOKEN = re.compile(r"\w+", re.UNICODE)


class OfflineJudgeError(Exception):
    """The offline judge cannot answer this request (e.g. no reference)."""


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _TOKEN.findall(text.lower())


def overlap_f1(candidate: str, reference: str) -> float:
    """SQuAD-style token F1 of two texts (multiset overlap); two empty texts score 1."""
    cand, ref = tokens(candidate), tokens(reference)
    if not cand and not ref:
        return 1.0
    common = sum((Counter(cand) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(cand), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def scale_score(f1: float, scale_min: int, scale_max: int) -> int:
    """Map an F1 in [0, 1] onto the nearest point of an integer scale (halves round up)."""
    return scale_min + int(f1 * (scale_max - scale_min) + 0.5)


def answer(rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
    """The offline judge's structured answer for one call (same shape as an LLM's)."""
    data = prompt.data
    if data.reference is None:
        msg = (
            f"the offline judge needs a reference (rubric {rubric.name!r}); "
            "give the case a reference or configure an LLM judge."
        )
        raise OfflineJudgeError(msg)
    if rubric.kind == "pairwise":
        f1_a = overlap_f1(data.response_a or "", data.reference)
        f1_b = overlap_f1(data.response_b or "", data.reference)
        preference = "tie" if abs(f1_a - f1_b) <= TIE_EPSILON else "A" if f1_a > f1_b else "B"
        reason = f"token-overlap F1 with the reference: A={f1_a:.3f}, B={f1_b:.3f}"
        return {"reason": reason, "preference": preference}
    f1 = overlap_f1(data.candidate or "", data.reference)
    reason = f"token-overlap F1 with the reference: {f1:.3f}"
    if rubric.kind == "pass_fail":
        verdict = "pass" if f1 >= rubric.pass_threshold else "fail"
        return {"reason": f"{reason} (threshold {rubric.pass_threshold})", "verdict": verdict}
    return {"reason": reason, "score": scale_score(f1, rubric.scale_min, rubric.scale_max)}
