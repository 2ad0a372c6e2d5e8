"""The xdist worker report is declared once and merged field by field: what two workers send adds
up to what one process running every case would have recorded."""

from __future__ import annotations

from pytest_llmgate.gate.records import CaseResult, MetricSpec, RubricStats, RunFacts, SuiteResult
from pytest_llmgate.session.cases import WorkerReport

SUITE = "t.py::t"


def _report(cases: list[str], *, errors: int, missing: list[str], metric: str) -> WorkerReport:
    suite = SuiteResult(
        suite=SUITE,
        dataset="d.jsonl",
        fingerprints={"dataset": "x"},
        metrics={metric: MetricSpec(name=metric)},
        cases={cid: CaseResult(case_id=cid, nodeid=f"{SUITE}[{cid}]") for cid in cases},
    )
    return WorkerReport(
        suites={SUITE: suite},
        dataset_ids={SUITE: ["a", "b", "c"]},
        judge_stats={"c": RubricStats(rubric="c", verdicts=len(cases), errors=errors, calls=len(cases))},
        facts=RunFacts(replay_missing=missing, errored={f"{SUITE}::{cases[0]}": "boom"} if errors else {}),
        notes=["batch: 1 batch"],
        rejudged={SUITE: {"note": "n", "metrics": [metric], "values": {cases[0]: {metric: 1.0}}}},
    )


def test_two_workers_reports_add_up() -> None:
    first = _report(["a", "b"], errors=1, missing=["t.py::t::a (c)"], metric="judge:c")
    second = _report(["c"], errors=0, missing=["t.py::t::c (c)"], metric="mrr")
    first.merge(WorkerReport.model_validate_json(second.model_dump_json()))
    suite = first.suites[SUITE]
    assert sorted(suite.cases) == ["a", "b", "c"] and sorted(suite.metrics) == ["judge:c", "mrr"]
    stat = first.judge_stats["c"]
    assert (stat.verdicts, stat.errors, stat.calls) == (3, 1, 3)
    assert first.facts.replay_missing == ["t.py::t::a (c)", "t.py::t::c (c)"]
    assert first.facts.errored == {"t.py::t::a": "boom"}
    assert first.notes == ["batch: 1 batch"]
    assert first.dataset_ids == {SUITE: ["a", "b", "c"]}
    assert first.rejudged[SUITE]["metrics"] == ["judge:c", "mrr"]
    assert first.rejudged[SUITE]["values"] == {"a": {"judge:c": 1.0}, "c": {"mrr": 1.0}}


def test_a_report_merged_into_an_empty_one_is_itself() -> None:
    empty = WorkerReport()
    one = _report(["a"], errors=0, missing=[], metric="m")
    empty.merge(one)
    assert empty.model_dump() == one.model_dump()
