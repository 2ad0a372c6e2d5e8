"""The demo's eval suite: the support agent against its golden set, gated by pytest-llmgate.

Run `pytest --llm-gate examples/test_support.py`. Set `LLMGATE_DEMO_REGRESSION=retriever`
(or `guardrail`, or `retriever,guardrail`) to plant a regression and watch the gate fail.
"""

from __future__ import annotations

import pytest

from examples.support_agent import SupportAgent
from pytest_llmgate import checks

# Built once per process; reads LLMGATE_DEMO_REGRESSION when the module is imported.
agent = SupportAgent()


@pytest.mark.golden(
    "datasets/support.jsonl", metrics={"recall@5": {"tolerance": 0.05}}, tolerance=0.05
)
def test_support_agent(case, llm_gate):
    result = agent.answer(case.input)
    llm_gate.output(result.to_dict())

    # Layer 3: ranking quality of the handbook chunks against the case's relevant ids.
    llm_gate.retrieval(result.retrieved_ids, k=(1, 3, 5))

    # Layer 2: deferred judge verdicts, against the reference and against the baseline's answer.
    llm_gate.judge("correctness")
    llm_gate.judge("helpfulness", against="baseline")

    # Layer 1: programmatic checks; a failure marks this case failed and the gate decides.
    checks.length(result.answer, min_words=5, max_words=120)
    checks.no_banned_phrases(result.answer, ["as an AI", "I cannot help", "language model"])
    if case.expected_tool_calls is not None:
        checks.tool_calls_match(
            result.tool_calls,
            [call.model_dump() for call in case.expected_tool_calls],
            ordered=True,
            check_arguments="subset",
        )
    if any(call["name"] == "issue_refund" for call in result.tool_calls):
        checks.tools_called_in_order(result.tool_calls, ["lookup_order", "issue_refund"])
        checks.tool_argument_constraint(
            result.tool_calls,
            "issue_refund",
            agent.refund_within_limit,
            description="refund amount <= what is left to refund on the order",
        )
