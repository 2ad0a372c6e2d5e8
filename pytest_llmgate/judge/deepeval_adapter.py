"""deepeval metrics as scores for the gate (the optional `pytest-llmgate[deepeval]` extra).

deepeval is imported only when a test calls `llm_gate.deepeval(...)` without its own test-case
factory. Its pytest plugin loads in every session once it is installed (about 1.6 s, `.env`
files read, telemetry unless DEEPEVAL_TELEMETRY_OPT_OUT=1): run with `-p no:deepeval`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = "deepeval is not installed: pip install 'pytest-llmgate[deepeval]'."


@dataclass(frozen=True)
class DeepevalResult:
    """One deepeval metric on one case: a score in [0, 1], or the error that replaced it."""

    name: str
    score: float | None
    reason: str
    success: bool | None
    error: str | None


def metric_name(metric: Any) -> str:
    """The name deepeval gives a metric (`metric.__name__`), else its class name."""
    name = getattr(metric, "__name__", None)
    return str(name) if isinstance(name, str) and name else type(metric).__name__


def _default_factory() -> Callable[..., Any]:
    try:
        from deepeval.test_case import LLMTestCase
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return LLMTestCase


def measure(
    metric: Any,
    *,
    input: str,
    actual_output: str,
    expected_output: str | None = None,
    retrieval_context: Sequence[str] | None = None,
    test_case_factory: Callable[..., Any] | None = None,
) -> DeepevalResult:
    """Run `metric.measure` on one case; an exception or a score outside [0, 1] is an error, never 0."""
    factory = test_case_factory or _default_factory()
    name = metric_name(metric)
    fields: dict[str, Any] = {"input": input, "actual_output": actual_output}
    if expected_output is not None:
        fields["expected_output"] = expected_output
    if retrieval_context is not None:
        fields["retrieval_context"] = list(retrieval_context)
    try:
        metric.measure(factory(**fields))
    except Exception as exc:  # noqa: BLE001 - a metric's failure is data for the gate, shown and counted
        return DeepevalResult(name, None, "", None, f"{type(exc).__name__}: {exc}")
    score = getattr(metric, "score", None)
    reason = str(getattr(metric, "reason", "") or "")
    success = getattr(metric, "success", None)
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0.0 <= float(score) <= 1.0:
        return DeepevalResult(name, None, reason, None, f"metric returned no score in [0, 1] (got {score!r})")
    return DeepevalResult(name, float(score), reason, None if success is None else bool(success), None)
