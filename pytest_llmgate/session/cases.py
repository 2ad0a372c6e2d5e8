"""The case store: records, finished cases to the spill file, errors, and the typed xdist worker report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pytest_llmgate.gate.records import (
    CaseFields,
    CaseResult,
    RubricStats,
    RunFacts,
    SuiteResult,
    merge_rubric_stats,
)
from pytest_llmgate.gate.verdict import CHECKS_METRIC
from pytest_llmgate.session.state import CASE_FIELDS
from pytest_llmgate.session.suites import SuitesJob


class CasesJob(SuitesJob):
    """The case store: records, finished cases to the spill file, errors, and the typed xdist worker report."""

    def case_record(self, suite: str, case: Any, nodeid: str) -> CaseResult:
        result = self.suites[suite]
        record = result.cases.get(case.id)
        if record is None or record.nodeid != nodeid:
            record = CaseResult(case_id=case.id, nodeid=nodeid, case=CaseFields(case))
            # pydantic adds each assigned field to a per-record set (read only by exclude_unset,
            # which nothing here uses); one shared set of every field name costs nothing per case.
            object.__setattr__(record, "__pydantic_fields_set__", CASE_FIELDS)
            result.cases[case.id] = record
        return record

    def finish_case(self, record: CaseResult, *, passed: bool, failure: str | None, duration: float) -> None:
        record.passed = passed
        record.failure = failure
        record.duration = round(duration, 6)
        record.metrics[CHECKS_METRIC] = 1.0 if passed else 0.0
        suite = record.nodeid.split("[", 1)[0]
        if suite in self.suites and self.suites[suite].repeat == 1:  # repeated cases: once their runs are merged
            self.spill.put(suite, record)

    # -- the system under test --------------------------------------------------------------

    def note_error(self, suite: str, case_id: str, error: str = "") -> None:
        """A case errored outside its checks (fixture error, the SUT raising): the verdict weighs it,
        and an update must not use this run."""
        self.errored.setdefault(f"{suite}::{case_id}", error.strip().splitlines()[0][:500] if error.strip() else "")

    def count_external(self, name: str, *, error: bool) -> None:
        """Count a verdict from outside the judge engine (deepeval), so its error rate is gated too."""
        stat = self.judge_stats.setdefault(name, RubricStats(rubric=name))
        stat.verdicts += 1
        stat.errors += int(error)

    def worker_payload(self) -> str:
        """What a worker ships to the controller: its `WorkerReport`, as JSON (cases read back whole)."""
        report = self.worker_report(restore=True)
        self.spill.close()
        return report.model_dump_json()

    def merge_payload(self, payload: str) -> None:
        """The controller takes in a worker's report: its cases to the spill file, every field merged."""
        incoming = WorkerReport.model_validate_json(payload)
        for name, suite in incoming.suites.items():
            for record in suite.cases.values():
                self.spill.put(name, record)
        merged = self.worker_report(restore=False)
        merged.merge(incoming)
        self.suites = merged.suites
        self.dataset_ids = merged.dataset_ids
        self.judge_stats = merged.judge_stats
        self.notes = merged.notes
        self.judge_price = merged.judge_price
        self.rejudged = merged.rejudged
        facts = merged.facts
        self.judge_missing = facts.replay_missing
        self.budget_exhausted = facts.budget_tokens_exhausted
        self.budget_usd_exhausted = facts.budget_usd_exhausted
        self.unjudged_by_deadline = facts.unjudged_by_deadline
        self.errored = facts.errored

    def worker_report(self, *, restore: bool) -> WorkerReport:
        """This process's share of the run as a `WorkerReport` (`restore`: cases with their spilled fields)."""
        suites = dict(self.suites)
        if restore:
            suites = {
                name: suite.model_copy(
                    update={"cases": {cid: self.spill.restore(name, rec) for cid, rec in suite.cases.items()}}
                )
                for name, suite in self.suites.items()
            }
        return WorkerReport(
            suites=suites,
            dataset_ids=dict(self.dataset_ids),
            judge_stats=dict(self.judge_stats),
            facts=RunFacts(
                replay_missing=list(self.judge_missing),
                budget_tokens_exhausted=self.budget_exhausted,
                budget_usd_exhausted=self.budget_usd_exhausted,
                unjudged_by_deadline=self.unjudged_by_deadline,
                errored=dict(self.errored),
            ),
            notes=list(self.notes),
            judge_price=self.judge_price,
            rejudged=dict(self.rejudged),
        )


def _merge_suite(mine: SuiteResult, other: SuiteResult) -> SuiteResult:
    mine.cases.update(other.cases)
    mine.fingerprints.update(other.fingerprints)
    mine.repeat = max(mine.repeat, other.repeat)
    for metric, spec in other.metrics.items():
        mine.metrics.setdefault(metric, spec)
    return mine


def _merge_rejudged(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    mine["metrics"] = sorted(set(mine["metrics"]) | set(other["metrics"]))
    mine["values"].update(other["values"])
    return mine


class WorkerReport(BaseModel):
    """What an xdist worker ships to the controller, declared once. `merge` goes field by field,
    by the field's type: a dict merges its values by the rule `_MERGE_VALUES` names for the field
    (else keeps the first), a list takes the new items, `facts` sum, a string keeps the first."""

    model_config = ConfigDict(extra="forbid")

    suites: dict[str, SuiteResult] = Field(default_factory=dict)
    """Per suite: its metrics, fingerprints and this process's case records."""
    dataset_ids: dict[str, list[str]] = Field(default_factory=dict)
    """Per suite: every active case id of its golden set (an update keeps the others' values)."""
    judge_stats: dict[str, RubricStats] = Field(default_factory=dict)
    """Per rubric: this process's judge statistics."""
    facts: RunFacts = Field(default_factory=RunFacts)
    """Replay misses, budgets, the deadline, errored cases."""
    notes: list[str] = Field(default_factory=list)
    """Summary lines (batch mode)."""
    judge_price: str | None = None
    """Where the judge's prices came from."""
    rejudged: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per suite re-judged with `--llm-gate-rejudge-baseline`: note, metrics and values."""

    def merge(self, other: WorkerReport) -> None:
        """Add another process's report to this one, every field by its type."""
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, dict):
                join = _MERGE_VALUES.get(name)
                for key, value in theirs.items():
                    mine[key] = join(mine[key], value) if join is not None and key in mine else mine.get(key, value)
            elif isinstance(mine, list):
                mine += [item for item in theirs if item not in mine]
            elif isinstance(mine, RunFacts):
                mine.merge(theirs)
            elif mine is None:
                setattr(self, name, theirs)


#: Per dict field of a `WorkerReport`: how two processes' values of one key combine.
_MERGE_VALUES: dict[str, Callable[[Any, Any], Any]] = {
    "suites": _merge_suite,
    "judge_stats": merge_rubric_stats,
    "rejudged": _merge_rejudged,
}
