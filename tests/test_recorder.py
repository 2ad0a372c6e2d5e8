"""The `llm_gate` fixture's object uses only the narrow `CaseDesk` it is handed, never the session."""

from __future__ import annotations

import textwrap
from concurrent.futures import Future
from typing import Any

import pytest

from pytest_llmgate.datasets import Case
from pytest_llmgate.gate.records import CaseResult, JudgeVerdict, MetricSpec, RepeatResult
from pytest_llmgate.recorder import CaseDesk, LLMGate


class Desk:
    """What a session would do behind the desk's callables, recorded for the assertions."""

    def __init__(self, needs: frozenset[str] = frozenset(), batching: bool = False) -> None:
        self.declared: list[MetricSpec] = []
        self.external: list[tuple[str, bool]] = []
        self.submitted: list[dict[str, Any]] = []
        self.needs = needs
        self.batch = batching

    def desk(self, case: Case, record: CaseResult) -> CaseDesk:
        def submit(
            case: Any,
            record: CaseResult | RepeatResult,
            rubric_name: str,
            against: Any,
            candidate: Any,
            context: list[str] | None = None,
            *,
            repeat: int | None = None,
        ) -> Future[JudgeVerdict]:
            self.submitted.append(
                {"case": case.id, "rubric": rubric_name, "against": against, "context": context, "repeat": repeat}
            )
            return Future()

        return CaseDesk(
            suite="tests/test_qa.py::test_qa",
            case=case,
            record=record,
            declare_metric=self.declared.append,
            count_external=lambda name, error: self.external.append((name, error)),
            submit_judge=submit,
            batching=lambda: self.batch,
            rubric_needs=lambda name: self.needs,
        )


def _gate(desk: Desk) -> tuple[LLMGate, CaseResult]:
    case = Case(id="q-1", input="What is 2+2?", reference="4", relevant_ids=["d1"])
    record = CaseResult(case_id="q-1", nodeid="tests/test_qa.py::test_qa[q-1]")
    return LLMGate(desk.desk(case, record)), record


def test_metrics_are_declared_through_the_desk_and_recorded_on_the_case() -> None:
    desk = Desk()
    gate, record = _gate(desk)
    gate.score("latency_ms", 812, higher_is_better=False)
    gate.retrieval(["d1", "d2"], k=1, metrics=["hit", "recall"])
    assert [(s.name, s.kind, s.higher_is_better) for s in desk.declared] == [
        ("latency_ms", "continuous", False),
        ("hit@1", "binary", True),
        ("recall@1", "continuous", True),
    ]
    assert record.metrics == {"latency_ms": 812.0, "hit@1": 1.0, "recall@1": 1.0}


def test_judge_requests_go_through_the_desk_with_the_recorded_context_only_when_the_rubric_needs_it() -> None:
    desk = Desk(needs=frozenset({"context"}))
    gate, _ = _gate(desk)
    gate.retrieval(["d1"], k=1, metrics=["hit"], texts=["2+2 is 4."])
    gate.output("4")
    handle = gate.judge("faithful")
    assert desk.submitted == [
        {"case": "q-1", "rubric": "faithful", "against": None, "context": ["2+2 is 4."], "repeat": None}
    ]
    assert not handle.done()
    desk.needs = frozenset()
    gate.judge("correct", against="baseline")
    assert desk.submitted[-1]["context"] is None and desk.submitted[-1]["against"] == "baseline"


def test_a_batch_desk_makes_waiting_on_a_verdict_a_clear_error() -> None:
    gate, _ = _gate(Desk(batching=True))
    gate.output("4")
    with pytest.raises(RuntimeError, match="--llm-gate-batch"):
        gate.judge("correct").result()


def test_repeats_record_into_the_run_and_tell_the_desk_which_run() -> None:
    desk = Desk()
    gate, record = _gate(desk)
    run = RepeatResult()
    gate.use_run(run, 2)
    gate.output("4")
    gate.score("tokens", 10)
    gate.judge("correct")
    assert run.output == "4" and run.metrics == {"tokens": 10.0}
    assert record.output is None and record.metrics == {}
    assert desk.submitted[-1]["repeat"] == 2


def test_the_fixture_hands_a_desk_not_the_session(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", golden='{"id": "a", "input": "x"}\n')
    pytester.makepyfile(
        test_desk=textwrap.dedent(
            """
            import pytest
            from pytest_llmgate.recorder import CaseDesk
            from pytest_llmgate.session import GateSession

            @pytest.mark.golden("golden.jsonl")
            def test_desk(case, llm_gate):
                held = list(vars(llm_gate).values())
                desk = [value for value in held if isinstance(value, CaseDesk)]
                assert len(desk) == 1 and desk[0].case is case and desk[0].suite == "test_desk.py::test_desk"
                fields = held + list(vars(desk[0]).values())
                assert not any(isinstance(value, GateSession) for value in fields)
                llm_gate.score("ok", 1.0)
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=1)
