"""The HTML report's case data: one JSON-ready record per case (input, output, metrics, judge,
retrieval, changes against the baseline), embedded in the page and rendered there a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_llmgate.gate.records import CaseResult, JudgeVerdict, MetricSpec, Restore, RunResults
from pytest_llmgate.report._format import EPS, as_text, finite

#: Keys of a golden case shown as its input and its reference, first match wins.
INPUT_KEYS = ("input", "question", "query", "prompt", "messages")


REFERENCE_KEYS = ("reference", "expected", "expected_output", "ideal", "answer")


def metric_names(specs: dict[str, MetricSpec], cases: list[dict[str, float]]) -> list[str]:
    names = list(specs)
    extra = sorted({name for metrics in cases for name in metrics} - set(names))
    return names + extra


def higher_is_better(specs: dict[str, MetricSpec], metric: str) -> bool:
    spec = specs.get(metric)
    return True if spec is None else spec.higher_is_better


def _pick(case: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in case and case[key] is not None:
            return key, case[key]
    return None, None


def _retrieval(details: dict[str, Any]) -> dict[str, Any] | None:
    block = details.get("retrieval")
    if not isinstance(block, dict):
        return None
    ranks = block.get("ranks")
    retrieved = block.get("retrieved")
    rank_rows: list[list[Any]] = []
    if isinstance(ranks, dict):
        for doc_id, rank in ranks.items():
            rank_rows.append([str(doc_id), rank if isinstance(rank, int) and not isinstance(rank, bool) else None])
        rank_rows.sort(key=lambda row: (row[1] is None, row[1] or 0, row[0]))
    retrieved_ids = [as_text(item) for item in retrieved] if isinstance(retrieved, list) else []
    return {"ranks": rank_rows, "retrieved": retrieved_ids}


def _conversation(value: Any, intern: Any) -> list[list[Any]] | None:
    """A conversation input as [role, string index] turns, or None for any other input."""
    if not isinstance(value, list) or not value:
        return None
    turns = []
    for message in value:
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)):
            return None
        turns.append([message["role"], intern(as_text(message.get("content")))])
    return turns


def _judge_rows(case: CaseResult, intern: Any) -> list[dict[str, Any]]:
    return [_judge_row(verdict, intern) for verdict in case.judge]


def _judge_row(verdict: JudgeVerdict, intern: Any) -> dict[str, Any]:
    """One verdict for the case view: the context the judge saw, claims, every juror's verdict."""
    row = _verdict_row(verdict, intern)
    row["ctx"] = None if verdict.context is None else [intern(chunk) for chunk in verdict.context]
    row["claims"] = (
        None if verdict.claims is None else [[intern(c.claim), c.verdict, intern(c.reason)] for c in verdict.claims]
    )
    row["jury"] = None if verdict.jury is None else [_judge_row(member, intern) for member in verdict.jury]
    return row


def scale_top(verdict: JudgeVerdict) -> int | None:
    """A pointwise verdict's highest scale point, read from its label (`"1/5"`: answer 1 of 5)."""
    if verdict.kind != "pointwise" or not verdict.label or verdict.claims is not None:
        return None
    _, sep, top = verdict.label.rpartition("/")
    return int(top) if sep and top.isdigit() else None


def _verdict_row(verdict: JudgeVerdict, intern: Any) -> dict[str, Any]:
    return {
        "top": scale_top(verdict),
        "rubric": verdict.rubric,
        "version": verdict.rubric_version,
        "kind": verdict.kind,
        "against": verdict.against,
        "metric": verdict.metric,
        "value": finite(verdict.value),
        "label": verdict.label,
        "consistent": verdict.consistent,
        "error": intern(verdict.error),
        "provider": verdict.provider,
        "calls": [
            {
                "order": call.order,
                "score": finite(call.score),
                "preference": call.preference,
                "reason": intern(call.reason),
                "cached": call.cached,
                "attempts": call.attempts,
                "tokens_in": call.input_tokens,
                "tokens_out": call.output_tokens,
                "error": intern(call.error),
            }
            for call in verdict.calls
        ],
    }


class References(Mapping[str, dict[str, Any]]):
    """Per case id: what the case is compared with (`passed`, `metrics`, `output`), made when
    read from the baseline's or the compared run's records rather than copied for every case."""

    __slots__ = ("_cases",)

    def __init__(self, cases: Mapping[str, Any]):
        self._cases = cases

    def __getitem__(self, case_id: str) -> dict[str, Any]:
        case = self._cases[case_id]
        return {"passed": case.passed, "metrics": case.metrics, "output": case.output}

    def __iter__(self) -> Iterator[str]:
        return iter(self._cases)

    def __len__(self) -> int:
        return len(self._cases)


def reference_cases(results: RunResults, compare: RunResults | None, suite: str) -> References | None:
    """Per case of `suite`: what it is compared with (baseline, or the `compare` run)."""
    if compare is not None:
        before = compare.suites.get(suite)
        return None if before is None else References(before.cases)
    baseline = results.baselines.get(suite)
    return None if baseline is None else References(baseline.cases)


def case_changes(
    results: RunResults, compare: RunResults | None, suite: str, reference: Mapping[str, dict[str, Any]] | None
) -> dict[str, str]:
    """Case id to `newly_failing` / `known_failing` / `fixed` for one suite."""
    if compare is None:
        for verdict in results.verdicts:
            if verdict.suite == suite:
                return {change.case_id: change.kind for change in verdict.cases}
    changes: dict[str, str] = {}
    current = results.suites[suite].cases
    for case_id, case in current.items():
        before = (reference or {}).get(case_id)
        if not case.passed:
            changes[case_id] = "known_failing" if before is not None and not before["passed"] else "newly_failing"
        elif before is not None and not before["passed"]:
            changes[case_id] = "fixed"
    return changes


def primary_names(results: RunResults, suite_id: str) -> list[str]:
    """The suite's primary metrics as the verdict decided them (all recorded ones when there is no verdict)."""
    for verdict in results.verdicts:
        if verdict.suite == suite_id:
            return [m.metric for m in verdict.metrics if m.primary]
    return list(results.suites[suite_id].metrics)


class CaseData:
    """The page's case data, made one case at a time (`rows`), then its tables (`tables`)."""

    def __init__(self, results: RunResults, compare: RunResults | None = None, *, restore: Restore | None = None):
        self.results = results
        self.compare = compare
        self.restore = restore
        """Reads a case's spilled fields back (output, details) as its row is made; None: records are whole."""
        # Long texts go into one pool, each distinct string once: a reference often equals the
        # baseline output, an unchanged output equals both, and both orders share a reason.
        self.pool: dict[str, int] = {}
        """Each distinct long text once, with its index in `strings`."""
        self.directions: dict[str, dict[str, bool]] = {}
        """Per suite, per metric: whether higher is better."""
        self.all_metrics: list[str] = []
        """Every metric of every suite, in first-seen order."""
        self.primary_columns: list[str] = []
        """The metrics that gate, in first-seen order."""

    def intern(self, text: str | None) -> int | None:
        if text is None:
            return None
        return self.pool.setdefault(text, len(self.pool))

    def tables(self) -> dict[str, Any]:
        """Everything but the cases; complete once `rows` is exhausted."""
        return {
            "against": "before" if self.compare is not None else "baseline",
            "metrics": self.all_metrics,
            "primary": self.primary_columns or self.all_metrics,
            "directions": self.directions,
            "strings": list(self.pool),
        }

    def rows(self) -> Iterator[dict[str, Any]]:
        """One dict per case, suites and cases in sorted order."""
        results, compare, intern = self.results, self.compare, self.intern
        directions, all_metrics, primary_columns = self.directions, self.all_metrics, self.primary_columns
        for suite_id in sorted(results.suites):
            suite = results.suites[suite_id]
            reference = reference_cases(results, compare, suite_id)
            changes = case_changes(results, compare, suite_id, reference)
            names = metric_names(suite.metrics, [case.metrics for case in suite.cases.values()])
            directions[suite_id] = {name: higher_is_better(suite.metrics, name) for name in names}
            for name in names:
                if name not in all_metrics:
                    all_metrics.append(name)
            gating = primary_names(results, suite_id)
            for name in gating:
                if name not in primary_columns:
                    primary_columns.append(name)
            for case_id in sorted(suite.cases):
                case = suite.cases[case_id]
                if self.restore is not None:
                    case = self.restore(suite_id, case)
                before = reference.get(case_id) if reference is not None else None
                now_metrics = {k: v for k, v in ((k, finite(v)) for k, v in case.metrics.items()) if v is not None}
                before_metrics = None
                worst: float | None = None
                worst_metric: str | None = None
                tags: list[str] = []
                if before is not None:
                    before_metrics = {
                        k: v for k, v in ((k, finite(v)) for k, v in before["metrics"].items()) if v is not None
                    }
                    signed = []
                    for name, value in now_metrics.items():
                        if name in before_metrics:
                            delta = value - before_metrics[name]
                            signed.append((delta if directions[suite_id].get(name, True) else -delta, name))
                    # The worst change among the primary metrics only: one unit per column, named.
                    ranked = [item for item in signed if item[1] in gating] or signed
                    if signed:
                        worst, worst_metric = min(ranked)
                        if min(value for value, _ in signed) < -EPS:
                            tags.append("regressed")
                        elif max(value for value, _ in signed) > EPS:
                            tags.append("improved")
                change = changes.get(case_id)
                if change is not None:
                    tags.append(change)
                judge = _judge_rows(case, intern)
                if any(row["consistent"] is False for row in judge):
                    tags.append("judge_inconsistent")
                if any(row["error"] is not None for row in judge):
                    tags.append("judge_error")
                fields = case.case_fields()
                input_key, input_value = _pick(fields, INPUT_KEYS)
                reference_key, reference_value = _pick(fields, REFERENCE_KEYS)
                rest = {k: v for k, v in fields.items() if k not in (input_key, reference_key)}
                details = {k: v for k, v in case.details.items() if k != "retrieval"}
                yield (
                    {
                        "s": suite_id,
                        "id": case_id,
                        "node": case.nodeid,
                        "ok": case.passed,
                        "fail": intern(case.failure),
                        "bok": None if before is None else before["passed"],
                        "m": now_metrics,
                        "b": before_metrics,
                        "worst": worst,
                        "wm": worst_metric,
                        "tags": tags,
                        "in": intern(as_text(input_value)) if input_key else None,
                        "conv": _conversation(input_value, intern),
                        "ref": intern(as_text(reference_value)) if reference_key else None,
                        "case": intern(as_text(rest)) if rest else None,
                        "out": intern(as_text(case.output)),
                        "bout": None if before is None else intern(as_text(before["output"])),
                        "det": intern(as_text(details)) if details else None,
                        "ret": _retrieval(case.details),
                        "j": judge,
                        "dur": finite(case.duration),
                    }
                )


def build_case_data(results: RunResults, compare: RunResults | None = None) -> dict[str, Any]:
    """The JSON the page's script renders the case table and case details from."""
    data = CaseData(results, compare)
    cases = list(data.rows())
    return {**data.tables(), "cases": cases}
