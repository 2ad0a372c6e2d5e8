"""The demo's customer-support agent: deterministic, offline, no model and no key.

It answers from the handbook (BM25 retrieval, the best chunk's most relevant sentences)
and uses two tools, `lookup_order` and `issue_refund`, behind a refund guardrail.
`LLMGATE_DEMO_REGRESSION` plants a realistic regression so the gate has something to catch.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .handbook import Chunk, load_handbook
from .retriever import BM25Retriever, KeywordOverlapRetriever, Retriever, tokenize
from .tools import (
    ORDERS,
    TODAY,
    Order,
    RefundDecision,
    check_refund,
    check_refund_regressed,
    format_date,
    lookup_order,
)

#: Environment variable that plants regressions: `retriever`, `guardrail`, or both, comma-separated.
REGRESSION_ENV = "LLMGATE_DEMO_REGRESSION"
#: The regressions the switch knows.
REGRESSIONS = ("guardrail", "retriever")

_ORDER_ID = re.compile(r"\b[Aa]\d{4}\b")
_REFUND_REQUEST = re.compile(r"\brefund", re.IGNORECASE)
_AMOUNT = re.compile(r"\$\s?(\d+(?:\.\d{1,2})?)|\b(\d+(?:\.\d{1,2})?)\s?(?:dollars|usd)\b", re.IGNORECASE)


def parse_regressions(value: str | None) -> frozenset[str]:
    """The regressions named in a switch value like `retriever,guardrail` (empty when unset)."""
    if value is None or not value.strip():
        return frozenset()
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = sorted(names - set(REGRESSIONS))
    if unknown:
        msg = (
            f"{REGRESSION_ENV} names unknown regressions {', '.join(map(repr, unknown))}; "
            f"use {', '.join(REGRESSIONS)}, comma-separated, or leave it unset."
        )
        raise ValueError(msg)
    return frozenset(names)


@dataclass(frozen=True)
class AgentResult:
    """What the agent returns for one question."""

    answer: str
    """The reply shown to the customer."""
    retrieved_ids: list[str]
    """Handbook chunk ids the retriever ranked, best first."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls in the order made, each `{"name": ..., "arguments": {...}}`."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view, as recorded by the gate."""
        return {
            "answer": self.answer,
            "retrieved_ids": list(self.retrieved_ids),
            "tool_calls": [{"name": call["name"], "arguments": dict(call["arguments"])} for call in self.tool_calls],
        }


class SupportAgent:
    """Answers customer questions for Larkspur Home & Trail, deterministically.

    `regressions=None` reads the `LLMGATE_DEMO_REGRESSION` environment variable.
    """

    def __init__(
        self,
        regressions: Iterable[str] | None = None,
        *,
        k: int = 5,
        chunks: Sequence[Chunk] | None = None,
        orders: Mapping[str, Order] | None = None,
        today: dt.date = TODAY,
    ) -> None:
        if regressions is None:
            self.regressions = parse_regressions(os.environ.get(REGRESSION_ENV))
        else:
            self.regressions = parse_regressions(",".join(regressions))
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            msg = f"'k' must be a positive integer (got {k!r})."
            raise ValueError(msg)
        self.k = k
        self.chunks = tuple(chunks if chunks is not None else load_handbook())
        self._by_id = {chunk.id: chunk for chunk in self.chunks}
        self.orders = dict(orders if orders is not None else ORDERS)
        self.today = today
        # IDF of each word over the handbook, to weigh the words a sentence shares with a question.
        document_frequency = Counter(
            word for chunk in self.chunks for word in set(tokenize(f"{chunk.title} {chunk.text}"))
        )
        self._idf = {word: math.log(len(self.chunks) / count) for word, count in document_frequency.items()}
        self.retriever: Retriever = (
            KeywordOverlapRetriever(self.chunks) if "retriever" in self.regressions else BM25Retriever(self.chunks)
        )

    def chunk_texts(self, chunk_ids: Iterable[str]) -> list[str]:
        """The handbook texts of retrieved chunk ids, in order (the context a judge checks the answer against)."""
        return [f"{self._by_id[chunk_id].title}: {self._by_id[chunk_id].text}" for chunk_id in chunk_ids]

    def order_total(self, order_id: str) -> float | None:
        """The total paid for an order, or None for an unknown id (for eval predicates)."""
        order = self.orders.get(str(order_id).upper())
        return None if order is None else order.total

    def refund_within_limit(self, arguments: Mapping[str, Any]) -> bool:
        """Whether `issue_refund` arguments stay within what is left to refund (total minus refunds)."""
        order = self.orders.get(str(arguments.get("order_id", "")).upper())
        amount = arguments.get("amount")
        if order is None or not isinstance(amount, int | float):
            return False
        return 0 < amount <= order.refundable

    def answer(self, question: str) -> AgentResult:
        """Answer one customer message: retrieve, maybe call tools, compose the reply."""
        retrieved = self.retriever.search(question, self.k)
        calls: list[dict[str, Any]] = []
        tool_sentences: list[str] = []

        order_ids = [match.upper() for match in _ORDER_ID.findall(question)]
        if order_ids:
            order_id = order_ids[0]
            calls.append({"name": "lookup_order", "arguments": {"order_id": order_id}})
            order = lookup_order(order_id, self.orders)
            if order is None:
                tool_sentences.append(
                    f"I couldn't find an order with the number {order_id}. Please check the "
                    "number in your confirmation email; order numbers start with A."
                )
            elif _REFUND_REQUEST.search(question):
                tool_sentences.extend(self._refund(order, question, calls))
            else:
                tool_sentences.append(_describe(order))

        handbook = self._key_sentences(question, retrieved[0]) if retrieved else []
        reply = " ".join(tool_sentences + handbook)
        return AgentResult(answer=reply, retrieved_ids=retrieved, tool_calls=calls)

    def _refund(self, order: Order, question: str, calls: list[dict[str, Any]]) -> list[str]:
        """Decide on a refund for a looked-up order; add the `issue_refund` call when allowed."""
        amount = _requested_amount(question)
        if amount is None:
            amount = order.refundable if order.refundable > 0 else order.total
        guardrail = check_refund_regressed if "guardrail" in self.regressions else check_refund
        decision: RefundDecision = guardrail(order, amount, looked_up=True, today=self.today)
        if not decision.allowed:
            return [f"I can't issue that refund: {decision.reason}."]
        calls.append({"name": "issue_refund", "arguments": {"order_id": order.order_id, "amount": amount}})
        return [
            f"I have issued a refund of ${amount:,.2f} for order {order.order_id}; "
            "it goes back to your original payment method."
        ]

    def _key_sentences(self, question: str, chunk_id: str, limit: int = 2) -> list[str]:
        """The best chunk's sentences that share the most with the question, in text order.

        Shared words are weighed by their IDF over the handbook, so a sentence about
        "shipping costs" beats one that only repeats "order"; ties keep text order.
        """
        sentences = self._by_id[chunk_id].sentences()
        query = set(tokenize(question))
        scores = [sum(self._idf.get(word, 0.0) for word in query & set(tokenize(sentence))) for sentence in sentences]
        best = sorted(range(len(sentences)), key=lambda index: (-scores[index], index))[:limit]
        return [sentences[index] for index in sorted(best)]


def _requested_amount(question: str) -> float | None:
    """A dollar amount the customer asked for (`$20`, `20 dollars`), or None."""
    match = _AMOUNT.search(question)
    if match is None:
        return None
    return round(float(match.group(1) or match.group(2)), 2)


def _describe(order: Order) -> str:
    """One sentence on an order's status, as the lookup tool reported it."""
    items = ", ".join(order.items)
    if order.status == "processing":
        return f"Order {order.order_id} ({items}) is still processing and has not shipped yet."
    if order.status == "shipped":
        return f"Order {order.order_id} ({items}) has shipped; the tracking number is {order.carrier_tracking}."
    if order.status == "delivered" and order.delivered is not None:
        return f"Order {order.order_id} ({items}) was delivered on {format_date(order.delivered)}."
    return f"Order {order.order_id} ({items}) was cancelled and has not been charged."
