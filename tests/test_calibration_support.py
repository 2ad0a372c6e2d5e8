"""Builders shared by the calibration tests: small RunResults made with the records models.

(No tests here; imported by the other test_calibration_* modules.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pytest_llmgate.gate.records import (
    CaseResult,
    GateResult,
    JudgeCall,
    JudgeVerdict,
    RunResults,
    SuiteResult,
)

SUITE = "evals/test_support.py::test_answer"


def output_hash(output: Any) -> str:
    return hashlib.sha256(str(output).encode("utf-8")).hexdigest()


def verdict(
    rubric: str,
    kind: str,
    value: float,
    output: Any,
    *,
    scale: tuple[int, int] = (1, 5),
    consistent: bool | None = None,
    reason: str = "",
) -> JudgeVerdict:
    """A judge verdict as the judge would record it (value in [0, 1], label, calls)."""
    if kind == "pointwise":
        score = scale[0] + value * (scale[1] - scale[0])
        label = str(int(score)) if score == int(score) else str(score)
        calls = [JudgeCall(order="forward", score=score, reason=reason)]
    elif kind == "pass_fail":
        label = "pass" if value >= 0.5 else "fail"
        calls = [JudgeCall(order="forward", score=value, reason=reason)]
    else:
        label = {1.0: "win", 0.0: "loss", 0.5: "tie"}[value]
        preference = {1.0: "A", 0.0: "B", 0.5: "tie"}[value]
        calls = [
            JudgeCall(order="forward", preference=preference, reason=reason),
            JudgeCall(order="swapped", preference=preference, reason=reason),
        ]
    return JudgeVerdict(
        rubric=rubric,
        rubric_version="1",
        kind=kind,
        against="reference" if kind == "pairwise" else None,
        metric=f"judge:{rubric}",
        value=value,
        label=label,
        consistent=consistent,
        calls=calls,
        provider="offline:test",
        output_hash=output_hash(output),
    )


def make_results(
    rubric: str,
    kind: str,
    values: Sequence[float],
    *,
    scale: tuple[int, int] = (1, 5),
    outputs: Sequence[Any] | None = None,
    consistent: Sequence[bool | None] | None = None,
    suite: str = SUITE,
    inputs: Sequence[Any] | None = None,
) -> RunResults:
    """One suite with one case per judge value: case ids `case-000`, `case-001`, ..."""
    cases: dict[str, CaseResult] = {}
    for index, value in enumerate(values):
        case_id = f"case-{index:03d}"
        output = outputs[index] if outputs is not None else f"answer {index}"
        cases[case_id] = CaseResult(
            case_id=case_id,
            nodeid=f"{suite}[{case_id}]",
            case={
                "id": case_id,
                "input": inputs[index] if inputs is not None else f"question {index}",
                "reference": f"reference {index}",
            },
            output=output,
            judge=[
                verdict(
                    rubric,
                    kind,
                    value,
                    output,
                    scale=scale,
                    consistent=None if consistent is None else consistent[index],
                    reason=f"JUDGE-REASON-{case_id}",
                )
            ],
        )
    return RunResults(
        plugin_version="0.1.0",
        created_at="2025-01-01T00:00:00Z",
        suites={suite: SuiteResult(suite=suite, dataset="datasets/support.jsonl", cases=cases)},
        gate=GateResult(status="PASS", passed=True),
    )
