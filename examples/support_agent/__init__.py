"""A deterministic customer-support agent for the pytest-llmgate demo (offline, no key).

Set `LLMGATE_DEMO_REGRESSION=retriever`, `guardrail` or `retriever,guardrail` to plant a
realistic regression and watch the gate catch it.
"""

from .agent import REGRESSION_ENV, REGRESSIONS, AgentResult, SupportAgent, parse_regressions
from .handbook import Chunk, load_handbook
from .retriever import BM25Retriever, KeywordOverlapRetriever
from .tools import ORDERS, TODAY, Order, check_refund, lookup_order

__all__ = [
    "ORDERS",
    "REGRESSIONS",
    "REGRESSION_ENV",
    "TODAY",
    "AgentResult",
    "BM25Retriever",
    "Chunk",
    "KeywordOverlapRetriever",
    "Order",
    "SupportAgent",
    "check_refund",
    "load_handbook",
    "lookup_order",
    "parse_regressions",
]
