"""The case store: records, finished cases to the spill file, errors, and the typed xdist worker report."""

from __future__ import annotations

import json
from typing import Any

from pytest_llmgate.gate.records import (
    CaseFields,
    CaseResult,
    RubricStats,
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
        """What a worker ships to the controller: its suites and judge stats, as JSON."""
        suites = {}
        for name, suite in self.suites.items():
            data = suite.model_dump(mode="json", exclude={"cases"})
            data["cases"] = {
                cid: self.spill.restore(name, rec).model_dump(mode="json") for cid, rec in suite.cases.items()
            }
            suites[name] = data
        self.spill.close()
        return json.dumps(
            {
                "suites": suites,
                "dataset_ids": self.dataset_ids,
                "judge_stats": {k: v.model_dump(mode="json") for k, v in self.judge_stats.items()},
                "judge_missing": self.judge_missing,
                "budget_exhausted": self.budget_exhausted,
                "notes": self.notes,
                "errored": self.errored,
                "unjudged_by_deadline": self.unjudged_by_deadline,
                "judge_price": self.judge_price,
                "rejudged": self.rejudged,
                "budget_usd_exhausted": self.budget_usd_exhausted,
            }
        )

    def merge_payload(self, payload: str) -> None:
        data = json.loads(payload)
        for name, raw in data["suites"].items():
            incoming = SuiteResult.model_validate(raw)
            for record in incoming.cases.values():
                self.spill.put(name, record)
            mine = self.suites.get(name)
            if mine is None:
                self.suites[name] = incoming
                continue
            mine.cases.update(incoming.cases)
            mine.fingerprints.update(incoming.fingerprints)
            mine.repeat = max(mine.repeat, incoming.repeat)
            for metric, spec in incoming.metrics.items():
                mine.metrics.setdefault(metric, spec)
        for name, ids in data["dataset_ids"].items():
            self.dataset_ids.setdefault(name, ids)
        self.judge_missing += data.get("judge_missing", [])
        for key, error in data.get("errored", {}).items():
            self.errored.setdefault(key, error)
        self.budget_exhausted = self.budget_exhausted or data.get("budget_exhausted", False)
        self.notes += [note for note in data.get("notes", []) if note not in self.notes]
        self.unjudged_by_deadline += int(data.get("unjudged_by_deadline", 0))
        self.judge_price = self.judge_price or data.get("judge_price")
        self.budget_usd_exhausted = self.budget_usd_exhausted or data.get("budget_usd_exhausted", False)
        for suite_name, entry in data.get("rejudged", {}).items():
            rejudged = self.rejudged.setdefault(suite_name, {"note": entry["note"], "metrics": [], "values": {}})
            rejudged["metrics"] = sorted(set(rejudged["metrics"]) | set(entry["metrics"]))
            rejudged["values"].update(entry["values"])
        for rubric, raw in data["judge_stats"].items():
            stat = RubricStats.model_validate(raw)
            self.judge_stats[rubric] = merge_rubric_stats(self.judge_stats.get(rubric), stat)

    # -- the end ----------------------------------------------------------------------------
