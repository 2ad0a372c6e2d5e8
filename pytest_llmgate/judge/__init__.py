"""Layer 2, the LLM judge: rubrics, prompts, providers, the concurrent cached engine.

Names are re-exported lazily so that reading a judge spec does not start the engine's imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "OFFLINE_NAME",
    "JudgeConfigError",
    "JudgeEngine",
    "JudgeRequest",
    "Rubric",
    "RubricError",
    "UnknownRubricError",
    "load_rubrics",
    "parse_spec",
]

_HOME = {
    "JudgeEngine": "engine",
    "JudgeRequest": "engine",
    "UnknownRubricError": "engine",
    "OFFLINE_NAME": "offline",
    "JudgeConfigError": "providers",
    "parse_spec": "providers",
    "Rubric": "rubrics",
    "RubricError": "rubrics",
    "load_rubrics": "rubrics",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"pytest_llmgate.judge.{_HOME[name]}"), name)
    msg = f"module 'pytest_llmgate.judge' has no attribute {name!r}"
    raise AttributeError(msg)
