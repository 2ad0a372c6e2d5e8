"""Unit tests of the demo support agent (examples/support_agent) and its golden set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from examples.support_agent import (
    ORDERS,
    REGRESSION_ENV,
    BM25Retriever,
    KeywordOverlapRetriever,
    SupportAgent,
    check_refund,
    load_handbook,
    parse_regressions,
)
from examples.support_agent.handbook import parse_handbook
from pytest_llmgate.datasets import load_cases

ROOT = Path(__file__).resolve().parents[1]
DATASET = "datasets/support.jsonl"

#: Cases the good agent gets wrong on purpose: a golden set the agent passes entirely
#: teaches nothing about "known failures" in the gate's summary.
KNOWN_TOOL_FAILURES = {"refund-015", "refund-016"}


@pytest.fixture(scope="module")
def cases():
    return load_cases(DATASET, rootdir=ROOT)


@pytest.fixture
def good_agent(monkeypatch):
    monkeypatch.delenv(REGRESSION_ENV, raising=False)
    return SupportAgent()


def _relevant(case) -> set[str]:
    if isinstance(case.relevant_ids, dict):
        return {doc for doc, grade in case.relevant_ids.items() if grade > 0}
    return set(case.relevant_ids)


def _mean_recall_at_5(agent: SupportAgent, cases) -> float:
    total = 0.0
    for case in cases:
        relevant = _relevant(case)
        total += len(relevant & set(agent.answer(case.input).retrieved_ids[:5])) / len(relevant)
    return total / len(cases)


def _names(result) -> list[str]:
    return [call["name"] for call in result.tool_calls]


# --- handbook and dataset ------------------------------------------------------------


def test_handbook_has_enough_chunks_with_unique_stable_ids():
    chunks = load_handbook()
    ids = [chunk.id for chunk in chunks]
    assert 25 <= len(chunks) <= 60
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]+-\d{2}", chunk_id) for chunk_id in ids)
    assert {chunk_id.split("-")[0] for chunk_id in ids} >= {
        "refunds",
        "returns",
        "shipping",
        "warranty",
        "account",
        "payment",
        "orders",
    }


def test_parse_handbook_rejects_a_bad_heading_and_duplicate_ids():
    with pytest.raises(ValueError, match=r"hb:2: heading must read"):
        parse_handbook("intro\n## refunds 1 Refund window\ntext\n", source="hb")
    with pytest.raises(ValueError, match=r"duplicated: a-01"):
        parse_handbook("## a-01 | One\nx.\n## a-01 | Two\ny.\n", source="hb")


def test_dataset_has_enough_cases_with_unique_ids(cases):
    ids = [case.id for case in cases]
    assert len(cases) >= 60
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]+-\d{3}", case_id) for case_id in ids)
    assert all(case.reference and case.relevant_ids and case.tags for case in cases)


def test_every_relevant_id_exists_in_the_handbook(cases):
    known = {chunk.id for chunk in load_handbook()}
    missing = {case.id: sorted(_relevant(case) - known) for case in cases if _relevant(case) - known}
    assert missing == {}


def test_expected_tool_calls_name_known_tools_and_orders(cases):
    for case in cases:
        for call in case.expected_tool_calls or []:
            assert call.name in {"lookup_order", "issue_refund"}, case.id
            order_id = call.arguments["order_id"]
            assert order_id in ORDERS or "unknown-order" in case.tags, case.id
            if call.name == "issue_refund":
                assert call.arguments["amount"] <= ORDERS[order_id].refundable, case.id


def test_dataset_lines_carry_only_the_default_case_fields():
    allowed = {"id", "input", "reference", "relevant_ids", "expected_tool_calls", "tags", "metadata"}
    for line in (ROOT / DATASET).read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) <= allowed


# --- retrieval -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "chunk_id"),
    [
        ("Do you ship to Australia, and who pays customs?", "shipping-03"),
        ("I forgot my password.", "account-02"),
        ("How do I make a warranty claim?", "warranty-03"),
        ("Can I pay with bitcoin?", "payment-01"),
        ("How long do I have to ask for a refund?", "refunds-01"),
        ("Can I exchange my jacket for a bigger size?", "returns-04"),
    ],
)
def test_bm25_ranks_the_right_chunk_first(good_agent, question, chunk_id):
    assert good_agent.answer(question).retrieved_ids[0] == chunk_id


def test_retriever_returns_k_distinct_ids_and_validates_k():
    retriever = BM25Retriever(load_handbook())
    ids = retriever.search("refund window", 5)
    assert len(ids) == len(set(ids)) == 5
    with pytest.raises(ValueError, match=r"'k' must be a positive integer \(got 0\)"):
        retriever.search("refund", 0)


def test_good_agent_recall_is_high_but_not_perfect(good_agent, cases):
    recall = _mean_recall_at_5(good_agent, cases)
    assert 0.8 <= recall < 0.95


def test_retriever_regression_swaps_the_ranker_and_lowers_recall(monkeypatch, cases, good_agent):
    monkeypatch.setenv(REGRESSION_ENV, "retriever")
    regressed = SupportAgent()
    assert isinstance(regressed.retriever, KeywordOverlapRetriever)
    assert regressed.answer("Can I pay with bitcoin?").retrieved_ids[0] != "payment-01"
    assert _mean_recall_at_5(regressed, cases) <= _mean_recall_at_5(good_agent, cases) - 0.1


# --- tools and guardrails ------------------------------------------------------------


def test_refund_within_limits_looks_up_first_and_refunds_the_rest(good_agent):
    result = good_agent.answer("I'd like a refund for order A1001 please.")
    assert result.tool_calls == [
        {"name": "lookup_order", "arguments": {"order_id": "A1001"}},
        {"name": "issue_refund", "arguments": {"order_id": "A1001", "amount": 59.0}},
    ]
    assert "$59.00" in result.answer
    partial = good_agent.answer("Please refund the rest of order A1007.")
    assert partial.tool_calls[1]["arguments"] == {"order_id": "A1007", "amount": 100.0}


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("Refund $200 for A1002 please", "more than the $89.90"),
        ("Can I get a refund of $150 for A1007?", "more than the $100.00"),
        ("I want a refund for A1005", "more than 30 days ago"),
        ("Refund order A1006 please", "already been fully refunded"),
        ("I need a refund for A1004", "still processing"),
        ("Refund A1008 please", "was cancelled"),
        ("Refund $50 for A1003", "has not been delivered yet"),
    ],
)
def test_guardrail_refuses_and_only_looks_up(good_agent, question, reason):
    result = good_agent.answer(question)
    assert _names(result) == ["lookup_order"]
    assert "I can't issue that refund" in result.answer
    assert reason in result.answer


def test_refund_on_the_last_day_of_the_window_is_allowed(good_agent):
    # A1009 was delivered on 2024-05-21; the demo's today is 2024-06-20, day 30.
    assert _names(good_agent.answer("Refund A1009 please")) == ["lookup_order", "issue_refund"]


def test_guardrail_refuses_a_refund_without_a_lookup():
    decision = check_refund(ORDERS["A1001"], 10.0, looked_up=False)
    assert not decision.allowed
    assert decision.reason == "the order has not been looked up"


def test_unknown_order_is_looked_up_and_reported(good_agent):
    result = good_agent.answer("Refund order A9999 now")
    assert _names(result) == ["lookup_order"]
    assert "couldn't find an order with the number A9999" in result.answer


@pytest.mark.parametrize("value", ["guardrail", "retriever, guardrail"])
def test_guardrail_regression_refunds_above_the_total_and_past_the_window(monkeypatch, value):
    monkeypatch.setenv(REGRESSION_ENV, value)
    regressed = SupportAgent()
    over = regressed.answer("Refund $200 for A1002 please")
    assert over.tool_calls[1] == {
        "name": "issue_refund",
        "arguments": {"order_id": "A1002", "amount": 200.0},
    }
    assert not regressed.refund_within_limit(over.tool_calls[1]["arguments"])
    assert _names(regressed.answer("I want a refund for A1005")) == ["lookup_order", "issue_refund"]


def test_unknown_regression_is_an_error_naming_the_choices(monkeypatch):
    monkeypatch.setenv(REGRESSION_ENV, "retriever,judge")
    with pytest.raises(ValueError, match=r"unknown regressions 'judge'; use guardrail, retriever"):
        SupportAgent()
    assert parse_regressions(" Retriever , ") == frozenset({"retriever"})
    assert parse_regressions("") == frozenset()


# --- the whole golden set ------------------------------------------------------------


def test_output_is_deterministic_and_json_serialisable(cases, good_agent):
    first = [good_agent.answer(case.input).to_dict() for case in cases]
    second = [SupportAgent([]).answer(case.input).to_dict() for case in cases]
    assert first == second
    assert json.loads(json.dumps(first)) == first


def test_good_agent_passes_the_checks_except_the_known_failures(cases, good_agent):
    tool_failures = set()
    for case in cases:
        result = good_agent.answer(case.input)
        assert 5 <= len(result.answer.split()) <= 120, case.id
        assert "as an ai" not in result.answer.lower(), case.id
        expected = [call.model_dump() for call in case.expected_tool_calls or []]
        actual = [
            {"name": call["name"], "arguments": {key: call["arguments"].get(key) for key in expected_call["arguments"]}}
            for call, expected_call in zip(result.tool_calls, expected, strict=False)
        ]
        if len(result.tool_calls) != len(expected) or actual != expected:
            tool_failures.add(case.id)
        for call in result.tool_calls:
            if call["name"] == "issue_refund":
                assert good_agent.refund_within_limit(call["arguments"]), case.id
    assert tool_failures == KNOWN_TOOL_FAILURES
