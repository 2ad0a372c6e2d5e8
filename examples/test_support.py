"""The demo's eval suite: the support agent against its golden set, gated by pytest-llmgate.

Run `pytest --llm-gate examples/test_support.py`. Set `LLMGATE_DEMO_REGRESSION=retriever`
(or `guardrail`, or `retriever,guardrail`) to plant a regression and watch the gate fail.
"""

from __future__ import annotations

import json
import re

import pytest

from examples.support_agent import SupportAgent, lookup_order
from examples.support_agent.tools import REFUND_WINDOW_DAYS
from pytest_llmgate import checks

# Built once per process; reads LLMGATE_DEMO_REGRESSION when the module is imported.
agent = SupportAgent()


def answer(case):
    """The system under test: the agent's reply to the case's question, as the gate records it.

    The plugin calls it concurrently for every selected case (a thread pool: it is a plain
    function) and hands each test its case's return value as `output`.
    """
    return agent.answer(case.input).to_dict()


# A number: `1,250.00`, `27.80`, `30`; not the digits inside an id such as `A1012`.
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")


def numbers(text):
    """The numbers in a text, as values (`$59.00` and `59` are the same number; `2024-06-05` holds 6 and 5)."""
    return {float(found.replace(",", "")) for found in _NUMBER.findall(text.replace("-", " "))}


def sources(case, output):
    """What the agent may quote: the question, the handbook chunks it retrieved, the orders it looked
    up, its tool arguments and its refund policy."""
    texts = [case.input, *agent.chunk_texts(output["retrieved_ids"]), f"refund window {REFUND_WINDOW_DAYS} days"]
    for call in output["tool_calls"]:
        texts.append(json.dumps(call.get("arguments", {})))
        order = lookup_order(str(call.get("arguments", {}).get("order_id", "")), agent.orders)
        if call["name"] == "lookup_order" and order is not None:
            texts.append(json.dumps(order.to_dict()))
    return " ".join(texts)


# Tolerances: a 5-point drop of a mean score is material. The pass rate of the checks gets 10
# points: with 91 cases its exact McNemar test can FAIL only a drop of about 13 (its MDE column),
# and the recall floor says the retriever must never fall below 0.7 whatever the baseline.
# Primary metrics gate (one Holm family); the other retrieval and trajectory metrics are reported.
# MRR gates too: the agent answers from its top chunk, so the rank of the first relevant chunk
# matters, and recall@5 cannot see a reordered top 5 (`llmgate mutate` found that blind spot).
@pytest.mark.golden(
    "datasets/support.jsonl",
    sut=answer,
    tolerance=0.05,
    metrics={"checks_passed": {"tolerance": 0.10}, "recall@5": {"min_score": 0.7}},
    primary=["checks_passed", "judge:correctness", "judge:helpfulness", "recall@5", "mrr", "trajectory_f1"],
)
def test_support_agent(case, output, llm_gate):
    # Layer 3: ranking quality of the handbook chunks against the case's relevant ids; their
    # texts are the context that the faithfulness rubric checks the answer against.
    context = agent.chunk_texts(output["retrieved_ids"])
    llm_gate.retrieval(output["retrieved_ids"], k=5, metrics=("recall", "precision", "ndcg", "mrr"), texts=context)
    # The agent's tool calls against the expected ones. The exact match is a check below (it
    # counts in checks_passed): 32 cases are too few for a 0/1 metric to see a 5-point drop.
    tool_calls = output["tool_calls"]
    if case.expected_tool_calls is not None:
        llm_gate.trajectory(tool_calls, metrics=("precision", "recall", "f1"))

    # Layer 2: deferred judge verdicts, against the reference, the baseline's answer and the
    # retrieved context (the built-in llmgate:faithfulness; offline it is a lexical proxy).
    llm_gate.judge("correctness")
    llm_gate.judge("helpfulness", against="baseline")
    llm_gate.judge("llmgate:faithfulness")

    # Layer 1: programmatic checks; a failure marks this case failed and the gate decides.
    checks.length(output["answer"], min_words=5, max_words=120)
    # Added after `llmgate mutate` (README, Mutation testing): an answer cut off mid-sentence, and
    # a number the agent could not have read anywhere (a changed price, day count or amount).
    checks.matches(output["answer"], r"[.!?]$")
    made_up = sorted(numbers(output["answer"]) - numbers(sources(case, output)))
    assert not made_up, f"numbers in the answer found in no source the agent read: {made_up}"
    checks.no_banned_phrases(output["answer"], ["as an AI", "I cannot help", "language model"])
    checks.max_steps(tool_calls, 3)
    checks.no_loops(tool_calls)
    if case.expected_tool_calls is not None:
        checks.trajectory(tool_calls, case.expected_tool_calls, mode="exact")
    if any(call["name"] == "issue_refund" for call in tool_calls):
        checks.tools_called_in_order(tool_calls, ["lookup_order", "issue_refund"])
        checks.tool_argument_constraint(
            tool_calls,
            "issue_refund",
            agent.refund_within_limit,
            description="refund amount <= what is left to refund on the order",
        )
