"""Claim-level faithfulness (`mode: claims`): list the answer's factual claims, then verify
them against the retrieved context; the score is supported / total.

Two kinds of calls, both structured and cached like every judge call: one extraction call
per answer (schema `claims`), then verification calls of at most `CLAIMS_PER_CALL` claims
each (schema `claim_verdicts`). Claims are model output, so they go into data blocks
(`claim_1` ...) like any other untrusted text. An answer with no checkable claim is the
counted outcome `no claims`: it has no value (it is neither faithful nor unfaithful), so the
gate leaves the case out of this metric's comparison and the run reports how many there were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_llmgate.gate.records import ClaimVerdict
from pytest_llmgate.judge.prompts import PromptData, RenderedPrompt, _finish, block, data_tag

if TYPE_CHECKING:
    from pytest_llmgate.judge.rubric_model import Rubric

#: Claims verified in one call; more are split into several calls of this size.
CLAIMS_PER_CALL = 16
#: The label of an answer without a checkable claim.
NO_CLAIMS = "no claims"

EXTRACT_TEMPLATE = """\
List the factual claims that the candidate answer makes.
A claim is one self-contained statement of fact that could be checked against a source: \
split compound sentences into single facts, resolve pronouns so each claim stands alone, \
and keep numbers, names, dates and conditions exactly as the answer states them.
Do not list questions, greetings, apologies, offers of help, opinions, instructions to the \
reader or statements about the conversation itself. Do not add facts the answer does not state.
If the answer makes no checkable factual claim (for example a refusal, a question back or \
small talk), return an empty list.
{%- if has_conversation %}
The conversation so far is in the blocks named turn_N_ROLE, in order; the candidate answer is the next assistant turn.
{%- endif %}

{{ data_blocks }}

Reply with a JSON object: {"reason": "<one sentence>", "claims": ["<claim>", ...]}.
"""

VERIFY_TEMPLATE = """\
Verify each claim against the retrieved context, by these criteria:
{{ criteria }}

The retrieved context is in the blocks named context_1 to context_{{ n_context }}; the claims \
are in the blocks named claim_1 to claim_{{ n_claims }}.
For each claim answer "supported" when the context states it or directly implies it, \
"contradicted" when the context states something incompatible with it, and "unsupported" \
otherwise. Use only the context, not your own knowledge.

{{ data_blocks }}

Reply with a JSON object: {"verdicts": [{"claim": <claim number>, "reason": "<one sentence>", \
"verdict": "supported", "unsupported" or "contradicted"}, ...]} with one entry for each of the \
{{ n_claims }} claims.
"""


def render_extraction(rubric: Rubric, data: PromptData) -> RenderedPrompt:
    """The first call: the answer (and the question or conversation) in, claims out."""
    shown = PromptData(input=data.input, conversation=data.conversation, candidate=data.candidate or "")
    parts: list[tuple[str, str]] = []
    if shown.conversation is not None:
        parts += [(f"turn_{i}_{role}", text) for i, (role, text) in enumerate(shown.conversation, start=1)]
    elif shown.input is not None:
        parts.append(("input", shown.input))
    parts.append(("candidate", shown.candidate or ""))
    tag = data_tag([("schema", "claims"), *parts])
    blocks = {name: block(tag, name, text) for name, text in parts}
    return _finish(rubric, shown, "forward", tag, blocks, EXTRACT_TEMPLATE, schema="claims")


def render_verification(rubric: Rubric, data: PromptData, claims: list[str]) -> RenderedPrompt:
    """A verification call: the context and up to `CLAIMS_PER_CALL` numbered claims."""
    shown = PromptData(context=data.context or (), claims=tuple(claims))
    parts = [(f"context_{i}", chunk) for i, chunk in enumerate(shown.context or (), start=1)]
    parts += [(f"claim_{i}", claim) for i, claim in enumerate(claims, start=1)]
    tag = data_tag([("schema", "claim_verdicts"), *parts])
    blocks = {name: block(tag, name, text) for name, text in parts}
    return _finish(
        rubric,
        shown,
        "forward",
        tag,
        blocks,
        VERIFY_TEMPLATE,
        schema="claim_verdicts",
        expect_items=len(claims),
        n_claims=len(claims),
    )


def batches(claims: list[str]) -> list[list[str]]:
    """Claims in groups of at most `CLAIMS_PER_CALL`, in order."""
    return [claims[i : i + CLAIMS_PER_CALL] for i in range(0, len(claims), CLAIMS_PER_CALL)]


def extracted_claims(answer: dict[str, Any]) -> list[str]:
    """The non-blank claims of an extraction answer, stripped, duplicates dropped."""
    seen: dict[str, None] = {}
    for claim in answer.get("claims", []):
        text = str(claim).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


def check_verdicts(answer: dict[str, Any], expected: int) -> str | None:
    """Why a verification answer is unusable (not exactly one verdict per claim 1..expected)."""
    numbers = sorted(item.get("claim") for item in answer.get("verdicts", []))
    if numbers != list(range(1, expected + 1)):
        return f"expected one verdict for each claim 1..{expected} (got claims {numbers})"
    return None


def claim_verdicts(claims: list[str], answer: dict[str, Any]) -> list[ClaimVerdict]:
    """One batch's verdicts, in claim order."""
    by_number = {item["claim"]: item for item in answer["verdicts"]}
    return [
        ClaimVerdict(claim=claim, verdict=by_number[i]["verdict"], reason=str(by_number[i].get("reason", "")))
        for i, claim in enumerate(claims, start=1)
    ]


def score(verdicts: list[ClaimVerdict]) -> tuple[float | None, str]:
    """(supported / total, label); (None, "no claims") when there is nothing to check."""
    if not verdicts:
        return None, NO_CLAIMS
    supported = sum(v.verdict == "supported" for v in verdicts)
    return supported / len(verdicts), f"{supported}/{len(verdicts)} claims supported"
