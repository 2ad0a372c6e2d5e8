"""The `llm_gate` fixture's object: how a test records what its case measured."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pytest_llmgate.gate.records import CaseResult, JudgeVerdict, MetricKind, MetricSpec, RepeatResult
from pytest_llmgate.outputs import output_text

if TYPE_CHECKING:
    from pytest_llmgate.datasets import Case

#: Retrieval metrics that are 0/1 per case (exact McNemar); the others are continuous.
BINARY_RETRIEVAL = ("hit",)
#: What `LLMGate.trajectory` can record, each as `trajectory_<name>`; `match` is 0/1 per case.
TRAJECTORY_METRICS = ("precision", "recall", "f1", "match")


class SubmitJudge(Protocol):
    """Queue a judge request for a case of the suite (the session's `submit_judge`, suite bound)."""

    def __call__(
        self,
        case: Any,
        record: CaseResult | RepeatResult,
        rubric_name: str,
        against: Literal["reference", "baseline"] | None,
        candidate: Any,
        context: list[str] | None = None,
        *,
        repeat: int | None = None,
    ) -> Future[JudgeVerdict]: ...


@dataclass(frozen=True)
class CaseDesk:
    """All `LLMGate` may use of the gated session, for one case: its record and bound callables.

    The plugin builds it (as junitxml hands `record_property` one function), so the fixture's
    object never holds the session and cannot reach beyond these.
    """

    #: The suite (the golden test's node id without the parameter) the case belongs to.
    suite: str
    case: Case
    #: The case's record; with repeat=K, `LLMGate.use_run` points the gate at one run's record instead.
    record: CaseResult
    #: Declare a metric of the suite once (thresholds from the golden marker are applied by the session).
    declare_metric: Callable[[MetricSpec], None]
    #: Count a verdict from outside the judge engine (deepeval) by its metric id, and whether it errored.
    count_external: Callable[[str, bool], None]
    submit_judge: SubmitJudge
    #: True when verdicts arrive only at the end of the session (--llm-gate-batch).
    batching: Callable[[], bool]
    #: What a rubric needs besides the output ("reference", "context"); empty for an unknown name.
    rubric_needs: Callable[[str], frozenset[str]]


class JudgeHandle:
    """A pending judge verdict: the test goes on; `.result()` blocks only if it needs the verdict."""

    def __init__(self, future: Future[JudgeVerdict], *, batch: bool = False):
        self._future = future
        self._batch = batch

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> JudgeVerdict:
        """Wait for the verdict (it carries `error` rather than raising on judge trouble)."""
        if self._batch and not self._future.done():
            msg = (
                "a judge verdict cannot be waited for inside a test with --llm-gate-batch: batch verdicts "
                "arrive at the end of the session. Do not call .result() in batch mode, or run without the flag."
            )
            raise RuntimeError(msg)
        return self._future.result(timeout)


class LLMGate:
    """Records one case's output, metrics and judge requests for the gate."""

    def __init__(self, desk: CaseDesk):
        self._desk = desk
        self._case = desk.case
        self._record: CaseResult | RepeatResult = desk.record
        self._repeat: int | None = None
        self._context: list[str] | None = None

    def use_run(self, record: RepeatResult, index: int) -> None:
        """With repeat=K: record what follows into run `index` of the case (the plugin calls this)."""
        self._record = record
        self._repeat = index
        self._context = None

    @property
    def case(self) -> Case:
        """The golden case this test item runs."""
        return self._case

    def output(self, value: Any) -> None:
        """Keep the system's output for this case (JSON-serialisable): reports and pairwise judges use it."""
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            msg = f"llm_gate.output() needs a JSON-serialisable value ({exc}); pass e.g. result.model_dump()."
            raise TypeError(msg) from None
        self._record.output = value

    def score(
        self,
        name: str,
        value: float,
        *,
        higher_is_better: bool = True,
        kind: Literal["continuous", "binary"] = "continuous",
    ) -> None:
        """Record a custom metric for this case, e.g. `score("latency_ms", 812, higher_is_better=False)`."""
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or value != value:
            msg = f"metric '{name}' must be a finite number (got {value!r})."
            raise ValueError(msg)
        if kind == "binary" and value not in (0, 1):
            msg = f"binary metric '{name}' must be 0 or 1 (got {value!r})."
            raise ValueError(msg)
        self._desk.declare_metric(MetricSpec(name=name, kind=kind, higher_is_better=higher_is_better))
        self._record.metrics[name] = float(value)

    def retrieval(
        self,
        retrieved: Sequence[str],
        *,
        k: int | Sequence[int] = (1, 3, 5, 10),
        metrics: Sequence[str] | None = None,
        relevant: Any = None,
        texts: Sequence[str] | None = None,
    ) -> dict[str, float]:
        """Score retrieved ids against the case's `relevant_ids` (trec_eval definitions) and record them.

        `texts` are the retrieved chunks' texts (same order as the ids, or the first k): rubrics
        that need context (`llmgate:faithfulness`) then judge against them without `context=`.
        """
        from pytest_llmgate import retrieval

        if texts is not None:
            self._context = _texts(texts, "texts")

        relevant = self._case.relevant_ids if relevant is None else relevant
        if relevant is None:
            msg = f"case '{self._case.id}' has no 'relevant_ids'; add them to the golden set or pass relevant=."
            raise retrieval.RetrievalError(msg)
        ks = (k,) if isinstance(k, int) else tuple(k)
        values = retrieval.evaluate(list(retrieved), relevant, ks=ks, metrics=metrics or retrieval.METRICS)
        for name, value in values.items():
            kind: MetricKind = "binary" if name.split("@")[0] in BINARY_RETRIEVAL else "continuous"
            self._desk.declare_metric(MetricSpec(name=name, kind=kind))
            self._record.metrics[name] = value
        self._record.details["retrieval"] = {
            "retrieved": list(retrieved),
            "ranks": retrieval.relevant_ranks(list(retrieved), relevant),
        }
        return values

    def deepeval(
        self,
        metric: Any,
        *,
        name: str | None = None,
        retrieval_context: Sequence[str] | None = None,
        output: Any = None,
        test_case_factory: Any = None,
    ) -> float | None:
        """Score this case with a deepeval metric now (it calls its own model) as `deepeval:<name>`.

        A metric that raises or returns no score is counted as an error for the gate, never 0.
        """
        from pytest_llmgate.judge.deepeval_adapter import measure, metric_name

        candidate = self._record.output if output is None else output
        if candidate is None:
            msg = "llm_gate.deepeval() needs the case's output: call llm_gate.output(...) first or pass output=."
            raise ValueError(msg)
        metric_id = f"deepeval:{name or metric_name(metric)}"
        result = measure(
            metric,
            input=output_text(self._case.input),
            actual_output=output_text(candidate),
            expected_output=self._case.reference,
            retrieval_context=retrieval_context,
            test_case_factory=test_case_factory,
        )
        self._desk.count_external(metric_id, result.error is not None)
        self._record.details.setdefault("deepeval", {})[metric_id] = {
            "score": result.score,
            "reason": result.reason,
            "success": result.success,
            "error": result.error,
        }
        if result.score is None:
            return None
        self._desk.declare_metric(MetricSpec(name=metric_id))
        self._record.metrics[metric_id] = result.score
        return result.score

    def judge(
        self,
        rubric: str,
        *,
        against: Literal["reference", "baseline"] | None = None,
        output: Any = None,
        context: Sequence[str] | None = None,
    ) -> JudgeHandle:
        """Queue a judge verdict for this case's output; returns at once.

        Pointwise rubrics judge against the case's reference when it has one; pairwise rubrics
        compare with the reference (default) or, with `against="baseline"`, with the baseline's
        output for the same case. `rubric` names a file in rubrics/ or a built-in rubric
        (`llmgate:faithfulness`). `context` is the retrieved chunks' texts, shown to the judge
        as data blocks; without it, a rubric that needs context uses the texts recorded by
        `llm_gate.retrieval(..., texts=...)`.
        """
        candidate = self._record.output if output is None else output
        if candidate is None:
            msg = "llm_gate.judge() needs the case's output: call llm_gate.output(...) first or pass output=."
            raise ValueError(msg)
        chunks = _texts(context, "context") if context is not None else None
        if chunks is None and self._context is not None and "context" in self._desk.rubric_needs(rubric):
            chunks = self._context
        future = self._desk.submit_judge(
            self._case, self._record, rubric, against, candidate, chunks, repeat=self._repeat
        )
        return JudgeHandle(future, batch=self._desk.batching())

    def trajectory(
        self,
        calls: Sequence[Any] | None,
        expected: Sequence[Any] | None = None,
        *,
        mode: Literal["exact", "in_order", "any_order", "subset", "superset"] = "exact",
        check_arguments: Literal["subset", "exact", "ignore"] = "subset",
        metrics: Sequence[str] = TRAJECTORY_METRICS,
    ) -> dict[str, float]:
        """Score the tool calls against the case's `expected_tool_calls` and record the scores.

        Records `trajectory_precision`, `trajectory_recall` and `trajectory_f1` (one-to-one
        pairing in any order) and the binary `trajectory_match` (the trajectory passes `mode`),
        or those named in `metrics`.
        """
        from pytest_llmgate.checks import trajectory_scores

        if isinstance(metrics, str) or not metrics or any(name not in TRAJECTORY_METRICS for name in metrics):
            msg = f"'metrics' must be a non-empty list of {', '.join(map(repr, TRAJECTORY_METRICS))} (got {metrics!r})."
            raise ValueError(msg)
        if expected is None:
            expected = self._case.expected_tool_calls
        if expected is None:
            msg = (
                f"case '{self._case.id}' has no 'expected_tool_calls'; add them to the golden set"
                " (an empty list expects no call) or pass expected=."
            )
            raise ValueError(msg)
        scores = trajectory_scores(calls, expected, mode=mode, check_arguments=check_arguments)
        every = {
            "precision": scores.precision,
            "recall": scores.recall,
            "f1": scores.f1,
            "match": float(scores.match),
        }
        values = {f"trajectory_{name}": every[name] for name in TRAJECTORY_METRICS if name in metrics}
        for name, value in values.items():
            kind: Literal["binary", "continuous"] = "binary" if name == "trajectory_match" else "continuous"
            self._desk.declare_metric(MetricSpec(name=name, kind=kind))
            self._record.metrics[name] = value
        self._record.details["trajectory"] = {
            "mode": mode,
            "check_arguments": check_arguments,
            "calls": list(scores.calls),
            "expected": list(scores.expected),
            "matched": [list(pair) for pair in scores.matched],
        }
        return values


def _texts(values: Sequence[str], name: str) -> list[str]:
    if isinstance(values, str):
        msg = f"'{name}' must be a list of strings, one per retrieved chunk (got one string); wrap it in a list."
        raise TypeError(msg)
    texts = list(values)
    for index, value in enumerate(texts):
        if not isinstance(value, str):
            msg = f"'{name}' must be a list of strings, one per retrieved chunk (item {index} is {type(value).__name__}); pass the chunks' texts."
            raise TypeError(msg)
    return texts
