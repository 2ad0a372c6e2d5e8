"""The offline judge: deterministic token overlap, no key, no model.

It is a stand-in that lets a gate run anywhere; it measures lexical agreement, not quality,
and every report names it (`offline:overlap-v1`). Each rubric says what it overlaps with
(`offline`): the reference (default), the retrieved context (`grounding`: the share of the
answer's content words found in the context, a lexical proxy for faithfulness that cannot
tell a paraphrase from a fabrication or notice a contradiction), the question (`relevance`),
or the question against the context (`context_relevance`); `none` means it cannot serve
the rubric (a refusal policy needs understanding) and says so as a judge error.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from pytest_llmgate.judge.spec import OFFLINE_NAME as OFFLINE_NAME

if TYPE_CHECKING:
    from pytest_llmgate.judge.prompts import RenderedPrompt
    from pytest_llmgate.judge.rubrics import Rubric

#: Overlap differences at or below this are a tie in pairwise judgments.
TIE_EPSILON = 0.02

_TOKEN = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
#: Share of a claim's content words that must appear in the context for `supported`.
CLAIM_SUPPORT = 0.7
#: Function words left out of grounding and relevance (they are in every text).
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def content_tokens(text: str) -> list[str]:
    """Word tokens without function words."""
    return [token for token in tokens(text) if token not in STOP_WORDS]


def covered(text: str, source: str) -> float:
    """Share of `text`'s content words that occur in `source` (1.0 when `text` has none)."""
    words = content_tokens(text)
    if not words:
        return 1.0
    vocabulary = set(tokens(source))
    return sum(word in vocabulary for word in words) / len(words)


def split_claims(answer_text: str) -> list[str]:
    """Sentences that state something checkable: a number, or three content words; no questions."""
    claims = []
    for sentence in _SENTENCE_END.split(answer_text):
        sentence = sentence.strip()
        if not sentence or sentence.endswith("?"):
            continue
        words = content_tokens(sentence)
        if any(word.isdigit() for word in words) or len(words) >= 3:
            claims.append(sentence)
    return claims


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


def _question(prompt: RenderedPrompt) -> str:
    data = prompt.data
    if data.conversation:
        users = [content for role, content in data.conversation if role == "user"]
        return users[-1] if users else ""
    return data.input or ""


def _needs(rubric: Rubric, what: str, present: bool) -> None:
    if not present:
        msg = f"the offline judge needs {what} for rubric {rubric.name!r}; give the case {what} or configure an LLM judge."
        raise OfflineJudgeError(msg)


def _claims_answer(rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
    data = prompt.data
    if prompt.schema == "claims":
        claims = split_claims(data.candidate or "")
        return {"reason": f"lexical: {len(claims)} sentence(s) with content words", "claims": claims}
    context = "\n".join(data.context or ())
    verdicts = []
    for number, claim in enumerate(data.claims or (), start=1):
        share = covered(claim, context)
        verdict = "supported" if share >= CLAIM_SUPPORT else "unsupported"
        verdicts.append(
            {"claim": number, "reason": f"lexical: {share:.0%} of its words are in the context", "verdict": verdict}
        )
    return {"verdicts": verdicts}


def _quality(rubric: Rubric, prompt: RenderedPrompt, text: str) -> tuple[float, str]:
    """(a number in [0, 1], what it is) for one response under the rubric's offline method."""
    data = prompt.data
    method = rubric.offline
    if method == "none":
        msg = (
            f"the offline judge cannot judge rubric {rubric.name!r} (it needs an understanding of the "
            "answer, not word overlap); configure an LLM judge with --llm-gate-judge."
        )
        raise OfflineJudgeError(msg)
    if method == "grounding":
        _needs(rubric, "retrieved context", bool(data.context))
        return covered(text, "\n".join(data.context or ())), "share of the answer's words found in the context"
    if method == "relevance":
        question = _question(prompt)
        _needs(rubric, "an input", bool(question))
        return covered(question, text), "share of the question's words found in the answer"
    if method == "context_relevance":
        question = _question(prompt)
        _needs(rubric, "retrieved context", bool(data.context))
        return covered(question, "\n".join(data.context or ())), "share of the question's words found in the context"
    if data.reference is None:
        msg = (
            f"the offline judge needs a reference (rubric {rubric.name!r}); "
            "give the case a reference or configure an LLM judge."
        )
        raise OfflineJudgeError(msg)
    return overlap_f1(text, data.reference), "token-overlap F1 with the reference"


def answer(rubric: Rubric, prompt: RenderedPrompt) -> dict[str, Any]:
    """The offline judge's structured answer for one call (same shape as an LLM's)."""
    if prompt.schema in ("claims", "claim_verdicts"):
        return _claims_answer(rubric, prompt)
    data = prompt.data
    if rubric.kind == "pairwise":
        f1_a, what = _quality(rubric, prompt, data.response_a or "")
        f1_b, _ = _quality(rubric, prompt, data.response_b or "")
        preference = "tie" if abs(f1_a - f1_b) <= TIE_EPSILON else "A" if f1_a > f1_b else "B"
        reason = f"{what}: A={f1_a:.3f}, B={f1_b:.3f}"
        return {"reason": reason, "preference": preference}
    f1, what = _quality(rubric, prompt, data.candidate or "")
    reason = f"{what}: {f1:.3f}"
    if rubric.kind == "pass_fail":
        verdict = "pass" if f1 >= rubric.pass_threshold else "fail"
        return {"reason": f"{reason} (threshold {rubric.pass_threshold})", "verdict": verdict}
    return {"reason": reason, "score": scale_score(f1, rubric.scale_min, rubric.scale_max)}
