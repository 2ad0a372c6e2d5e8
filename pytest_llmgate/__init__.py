"""pytest-llmgate: an eval-first regression gate for LLM applications, as a pytest plugin.

Names are re-exported lazily: pytest imports this package in every session, gated or not,
and an ungated session must not pay for pydantic models it never uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Case",
    "CheckFailed",
    "DatasetError",
    "JudgeHandle",
    "LLMGate",
    "Message",
    "RetrievalError",
    "RunResults",
    "ToolCall",
    "checks",
    "last_assistant",
    "last_user",
    "load_cases",
    "retrieval",
]

_LAZY = {
    "Case": "pytest_llmgate.datasets",
    "Message": "pytest_llmgate.conversations",
    "last_assistant": "pytest_llmgate.conversations",
    "last_user": "pytest_llmgate.conversations",
    "ToolCall": "pytest_llmgate.datasets",
    "DatasetError": "pytest_llmgate.datasets",
    "load_cases": "pytest_llmgate.datasets",
    "CheckFailed": "pytest_llmgate.checks",
    "RetrievalError": "pytest_llmgate.retrieval",
    "LLMGate": "pytest_llmgate.recorder",
    "JudgeHandle": "pytest_llmgate.recorder",
    "RunResults": "pytest_llmgate.gate.records",
}


def __getattr__(name: str) -> Any:
    if name in ("checks", "retrieval"):
        return import_module(f"pytest_llmgate.{name}")
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    msg = f"module 'pytest_llmgate' has no attribute {name!r}"
    raise AttributeError(msg)
