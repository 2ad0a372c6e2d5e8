"""`llmgate promote`: cases of a gated run become pending golden cases of a set.

A promoted case keeps the input, tags and metadata it had; what the run saw of it (the
output that failed, the check failure, the judge's reasons) goes under
`metadata.provenance`, never into `reference`: a reference is written by a person, in
`llmgate review`, and only then does the case count.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_llmgate.datasets import REVIEW_KEY
from pytest_llmgate.gate.records import CaseResult, MetricSpec, RunResults, SuiteResult

from .scrub import Scrubber, scrub_value
from .sets import GoldenSetFile

__all__ = ["STATUSES", "Promotion", "promote", "select_cases"]

Status = Literal["newly-failing", "regressed", "known-failing", "judge-inconsistent"]
#: What `--status` accepts, and what each selects.
STATUSES: dict[str, str] = {
    "newly-failing": "checks failed now and passed in the baseline (or the case is new)",
    "known-failing": "checks failed now and in the baseline",
    "regressed": "some metric of the case is worse than its baseline value",
    "judge-inconsistent": "a judge gave different answers when asked in both orders",
}
ID_PREFIX = "promoted"
#: A metric difference smaller than this is float noise (baselines store six decimals).
_EPS = 1e-6


@dataclass
class Promotion:
    """What one `promote` call did."""

    added: list[str] = field(default_factory=list)
    """Ids given to the appended cases, in order."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(source case id, id of the case with the same input already in the set)."""
    selected: int = 0
    """Cases of the run that matched the statuses."""


def _worse(spec: MetricSpec, before: float, now: float) -> bool:
    return now < before - _EPS if spec.higher_is_better else now > before + _EPS


def _regressed_metrics(suite: SuiteResult, case: CaseResult, results: RunResults) -> list[str]:
    baseline = results.baselines.get(suite.suite)
    before = baseline.cases.get(case.case_id) if baseline else None
    if before is None:
        return []
    return [
        name
        for name, now in sorted(case.metrics.items())
        if name in before.metrics and name in suite.metrics and _worse(suite.metrics[name], before.metrics[name], now)
    ]


def _statuses_of(suite: SuiteResult, case: CaseResult, results: RunResults) -> list[str]:
    found: list[str] = []
    kinds = {c.kind for v in results.verdicts if v.suite == suite.suite for c in v.cases if c.case_id == case.case_id}
    if "newly_failing" in kinds:
        found.append("newly-failing")
    if "known_failing" in kinds:
        found.append("known-failing")
    if _regressed_metrics(suite, case, results):
        found.append("regressed")
    if any(verdict.consistent is False for verdict in case.judge):
        found.append("judge-inconsistent")
    return found


def select_cases(
    results: RunResults, statuses: Iterable[str], suites: Sequence[str] = ()
) -> list[tuple[SuiteResult, CaseResult, list[str]]]:
    """(suite, case, matching statuses) for every case of the run with one of `statuses`, in run order."""
    wanted = list(statuses)
    unknown = sorted(set(wanted) - set(STATUSES))
    if unknown:
        msg = f"unknown status {unknown[0]!r}; use one of {', '.join(STATUSES)}."
        raise ValueError(msg)
    known_suites = set(results.suites)
    for name in suites:
        if name not in known_suites:
            msg = f"suite {name!r} is not in the results (suites: {', '.join(sorted(known_suites)) or 'none'})."
            raise ValueError(msg)
    chosen = []
    for name, suite in sorted(results.suites.items()):
        if suites and name not in suites:
            continue
        for case in suite.cases.values():
            matching = [s for s in _statuses_of(suite, case, results) if s in wanted]
            if matching:
                chosen.append((suite, case, matching))
    return chosen


def _provenance(
    results: RunResults, results_path: str, suite: SuiteResult, case: CaseResult, statuses: list[str], today: str
) -> dict[str, Any]:
    judged = [
        {"rubric": v.rubric, "label": v.label, "value": v.value, "reasons": [c.reason for c in v.calls if c.reason]}
        for v in case.judge
    ]
    return {
        "source": "promote",
        "statuses": statuses,
        "results_file": results_path,
        "run_created_at": results.created_at,
        "git_commit": results.git_commit,
        "promoted_on": today,
        "suite": suite.suite,
        "dataset": suite.dataset,
        "case_id": case.case_id,
        "failing_output": case.output,
        "failure": case.failure,
        "regressed_metrics": _regressed_metrics(suite, case, results),
        "judge": judged,
        "source_reference": case.case.get("reference"),
    }


def promote(
    results: RunResults,
    results_path: str,
    statuses: Iterable[str],
    target: GoldenSetFile,
    scrub: Scrubber,
    *,
    suites: Sequence[str] = (),
    today: str | None = None,
) -> Promotion:
    """Queue the selected cases on `target` as pending cases (the caller writes the file)."""
    day = today or _dt.date.today().isoformat()
    outcome = Promotion()
    for suite, case, matching in select_cases(results, statuses, suites):
        outcome.selected += 1
        source = case.case
        metadata = {k: v for k, v in dict(source.get("metadata") or {}).items() if k != REVIEW_KEY}
        metadata["provenance"] = _provenance(results, results_path, suite, case, matching, day)
        new_case = scrub_value(
            {"input": source.get("input"), "tags": list(source.get("tags") or []), "metadata": metadata}, scrub
        )
        duplicate = target.duplicate_of(new_case["input"])
        if duplicate is not None:
            outcome.duplicates.append((case.case_id, duplicate))
            continue
        outcome.added.append(target.add(ID_PREFIX, new_case))
    return outcome
