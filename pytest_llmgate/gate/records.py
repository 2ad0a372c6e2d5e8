"""Typed records shared by every layer: what a run measured, what a baseline holds.

These models are the contract between the plugin, the judge, the gate, calibration and
the report. The results file (`reports/llm-gate.json`) is a `RunResults` dumped with
sorted keys; everything the verdict and the report need is in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_serializer, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from pytest_llmgate.gate.reasons import Reason

#: Bumped when the layout of a baseline or results file changes incompatibly.
FORMAT_VERSION = 1

MetricKind = Literal["binary", "continuous"]
#: What a judged output is compared with: the case's reference, or the baseline's output.
Against = Literal["reference", "baseline"]
MetricStatus = Literal[
    "pass",  # non-inferiority established: the drop is shown smaller than the tolerance
    "fail",  # a material drop is established: significant and beyond the tolerance
    "improved",  # non-inferior, and a significant gain beyond the tolerance
    "inconclusive",  # neither: the set cannot tell a material drop from none
    "below_floor",  # current mean below the metric's absolute floor
    "new",  # metric has no baseline values to compare with
    "no_data",  # no case has a value for this metric in both runs
]
GateStatus = Literal["PASS", "FAIL", "INCONCLUSIVE"]

#: Statuses written by format-1 files before INCONCLUSIVE replaced UNDERPOWERED (same meaning:
#: no drop established, none ruled out).
_OLD_METRIC_STATUS = {"underpowered": "inconclusive"}
_OLD_GATE_STATUS = {"UNDERPOWERED": "INCONCLUSIVE"}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricSpec(_Record):
    """How a metric is compared: its kind, its direction and its thresholds."""

    name: str
    """Metric name, e.g. `recall@5`, `checks_passed`, `judge:correctness`."""
    kind: MetricKind = "continuous"
    """`binary` (0/1 per case: exact McNemar) or `continuous` (sign-flip or studentized test of the mean)."""
    higher_is_better: bool = True
    """Direction in which a change is an improvement."""
    tolerance: float | None = None
    """Largest drop of the mean that is not material; None means the global default."""
    alpha: float | None = None
    """Significance level of the one-sided test; None means the global default."""
    min_score: float | None = None
    """Optional absolute floor on the current mean (in the metric's own direction)."""
    self_value: float | None = None
    """Value the metric takes when a run is compared with itself (0.5 for a pairwise judgment
    against the baseline's output): a baseline stores it for every case instead of the run's value."""


class JudgeCall(_Record):
    """One request to a judge, in one presentation order."""

    order: Literal["forward", "swapped"]
    """`forward`: candidate shown first (as A, or before the reference); `swapped`: second."""
    score: float | None = None
    """Raw score on the rubric's scale (pointwise and pass/fail rubrics; pass=1, fail=0)."""
    preference: Literal["A", "B", "tie"] | None = None
    """Raw preference as the judge saw the positions (pairwise rubrics)."""
    reason: str = ""
    """The judge's stated reasoning (untrusted text)."""
    cached: bool = False
    """True when served from the on-disk cache (no provider call)."""
    attempts: int = 0
    """Provider requests made for this call (0 when cached)."""
    input_tokens: int = 0
    """Input tokens spent in this run, prompt-cache reads and writes included (0 when cached)."""
    output_tokens: int = 0
    error: str | None = None
    """Why this call produced no usable answer, after bounded retries."""
    batch: bool = False
    """True when one of its requests went through a batch API (billed at the batch price)."""
    cache_read_tokens: int = 0
    """Of the input tokens, those the provider served from its prompt cache."""
    cache_write_tokens: int = 0
    """Of the input tokens, those the provider wrote to its prompt cache."""
    cost_usd: float | None = 0.0
    """Dollars spent on this call in this run (0 when cached or offline; None: price unknown)."""
    list_cost_usd: float | None = 0.0
    """Dollars the answer costs without our cache (a cache hit is priced from its stored usage):
    the basis of the comparison with the baseline's cost. None: price unknown."""
    cache_savings_usd: float | None = 0.0
    """Dollars the provider's prompt cache saved on this call. None: price unknown."""


class ClaimVerdict(_Record):
    """Claims mode: one factual claim of the answer and whether the context supports it."""

    claim: str
    """The claim as the judge stated it (untrusted text)."""
    verdict: Literal["supported", "unsupported", "contradicted"]
    reason: str = ""
    """Why, in the judge's words (untrusted text)."""


class JudgeVerdict(_Record):
    """The judge's verdict on one case for one rubric, order swaps resolved."""

    rubric: str
    rubric_version: str
    kind: Literal["pointwise", "pass_fail", "pairwise"]
    against: Against | None = None
    """What the candidate was compared with (pairwise, or pointwise with a reference)."""
    metric: str
    """Metric this verdict fills, e.g. `judge:correctness`."""
    value: float | None = None
    """Value recorded for the metric, in [0, 1]: normalised score, pass=1, or
    win=1 / tie=0.5 / loss=0 for pairwise. None when `error` is set, or when claims mode
    found no claim to check (label `no claims`)."""
    label: str | None = None
    """Human-readable outcome: `win`/`loss`/`tie`, `pass`/`fail`, or the raw score."""
    consistent: bool | None = None
    """Whether both orders agreed; None when asked in one order only."""
    first_position_preferred: int = 0
    """How many of the calls preferred whatever stood in the first position."""
    calls: list[JudgeCall] = Field(default_factory=list)
    error: str | None = None
    """Set when no usable verdict could be had: counted and shown, never scored."""
    provider: str = ""
    """Judge provider and model, e.g. `anthropic:claude-sonnet-4-5` or `offline:overlap`."""
    output_hash: str = ""
    """sha256 of the candidate output judged; human labels apply to that output only."""
    context: list[str] | None = None
    """The retrieved context chunks the judge saw, in order (untrusted text)."""
    context_hash: str | None = None
    """sha256 of the context chunks (part of every call's prompt, hence of its cache key)."""
    claims: list[ClaimVerdict] | None = None
    """Claims mode: every claim with its verdict; empty when the answer made none ("no claims")."""
    jury: list[JudgeVerdict] | None = None
    """With several judges: every judge's own verdict, in the order the judges were given;
    this verdict is their aggregate."""


class RepeatResult(_Record):
    """One of a case's K runs (repeat=K): what that run's output measured."""

    output: Any = None
    """The system's output in this run (untrusted)."""
    passed: bool = True
    """Whether this run's programmatic checks passed."""
    failure: str | None = None
    """The check failure message of this run when `passed` is False."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Metric name to value for this run."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Per-metric details of this run."""
    judge: list[JudgeVerdict] = Field(default_factory=list)
    """Judge verdicts on this run's output."""
    sut_seconds: float | None = None
    """Seconds the SUT took for this run; None when the output came from a file or the test body."""


class CaseFields(Mapping[str, Any]):
    """A golden case's fields, read from the loaded case itself rather than kept as a copy.

    The item that runs a case holds its `Case` until the session ends anyway; a record that
    points at it costs a few bytes where a copy of its fields cost a kilobyte or more per case.
    Reads (and the results file) see the JSON-ready dict `datasets.case_to_record` gives.
    """

    __slots__ = ("_case",)

    def __init__(self, case: BaseModel):
        self._case = case

    def fields(self) -> dict[str, Any]:
        """The case as a JSON-ready dict (unset optional fields left out), made on each call."""
        return self._case.model_dump(mode="json", exclude_none=True)

    def __getitem__(self, key: str) -> Any:
        return self.fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields())

    def __len__(self) -> int:
        return len(self.fields())

    def get(self, key: str, default: Any = None) -> Any:
        # The gate reads `cluster` and `tags` of every case, per metric: plain values are read off
        # the case; anything else (nested models, dicts) goes through the JSON dump.
        model = type(self._case)
        if key in model.model_fields or key in (self._case.__pydantic_extra__ or {}):
            value = getattr(self._case, key)
            if value is None:
                return default  # left out of the dict, like an unset field
            if isinstance(value, str | int | float) or (
                isinstance(value, list) and all(isinstance(item, str) for item in value)
            ):
                return value
        return self.fields().get(key, default)

    def items(self) -> Any:
        return self.fields().items()

    def __eq__(self, other: object) -> bool:
        return self.fields() == other if isinstance(other, Mapping) else NotImplemented

    def __repr__(self) -> str:
        return f"CaseFields({self.fields()!r})"


class CaseResult(_Record):
    """Everything measured for one case in one run."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    case_id: str
    nodeid: str
    """pytest node id of the item, e.g. `evals/test_support.py::test_answer[refund-017]`."""
    case: CaseFields | dict[str, Any] = Field(default_factory=dict)
    """The golden case as loaded (input, reference, relevant ids, ...): a dict read from a results
    file or a worker, or `CaseFields` of the `Case` in the process that ran it (no copy kept)."""
    output: Any = None
    """The system's output for the case (JSON-serialisable; untrusted)."""
    output_digest: str | None = Field(default=None, exclude=True)
    """While the output is spilled to disk (gate/spill.py): a digest of it, so the verdict can
    tell outputs byte-equal to the baseline's (`gate/design.output_digest`). Not written."""
    passed: bool = True
    """Whether the case's programmatic checks (the test body) passed."""
    failure: str | None = None
    """The check failure message when `passed` is False."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Metric name to value for this case."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Per-metric details, e.g. `{"retrieval": {"ranks": {"doc-3": 2}}}`."""
    judge: list[JudgeVerdict] = Field(default_factory=list)
    duration: float = 0.0
    """Seconds spent in the test call."""
    # concurrent SUT calls and repeats
    sut_seconds: float | None = None
    """Seconds the plugin's SUT call took (mean over repeats); None when the SUT ran in the test body
    or the output came from `--llm-gate-outputs`."""
    repeats: list[RepeatResult] = Field(default_factory=list)
    """With repeat=K > 1, each run's record. The case's `metrics` are then means over the runs,
    `passed` is True only if every run passed, and `output`/`judge` are the first run's."""

    def case_fields(self) -> dict[str, Any]:
        """The golden case's fields as a dict (made from the case when the record points at it)."""
        return self.case.fields() if isinstance(self.case, CaseFields) else self.case

    @field_serializer("case")
    def _case_fields(self, case: CaseFields | dict[str, Any]) -> dict[str, Any]:
        return case.fields() if isinstance(case, CaseFields) else case


class RepeatStats(_Record):
    """What repeating every case K times shows about a suite (computed from the runs' records)."""

    k: int
    """Runs per case."""
    cases: int
    """Cases with at least one run."""
    pass_at_k: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Per 0/1 metric, for k = 1..K: mean over cases of the chance that at least one of k runs
    passes (the unbiased estimator 1 - C(n-c, k) / C(n, k) of Chen et al. 2021, n runs, c passed)."""
    pass_hat_k: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Per 0/1 metric, for k = 1..K: mean over cases of the chance that all of k runs pass
    (pass^k, the unbiased estimator C(c, k) / C(n, k) of tau-bench)."""
    within_variance: dict[str, float] = Field(default_factory=dict)
    """Per metric: mean over cases of the sample variance of its value across runs (ddof=1)."""
    flaky: dict[str, list[str]] = Field(default_factory=dict)
    """Per 0/1 metric: ids of the cases whose outcome differs across runs."""


class SliceSpec(_Record):
    """A gated slice: the cases carrying one tag, compared on the suite's primary metrics."""

    tolerance: float | None = None
    """Largest drop of the slice's mean that is not material; None means each metric's own."""
    alpha: float | None = None
    """Significance level for the slice; None means each metric's own."""
    max_newly_failing: int | None = None
    """Absolute rule: more newly failing cases with this tag than this FAILs the run (0: any),
    naming them; for guardrail tags too small for their mean to FAIL. None: no such rule."""


class MetricRule(_Record):
    """One metric's rule as the gate applied it: the defaults resolved, so a later run compares values."""

    tolerance: float
    """Largest drop of the mean that is not material."""
    alpha: float
    """Significance level of the one-sided tests."""
    min_score: float | None = None
    """Absolute floor on the current mean, if any."""
    higher_is_better: bool = True
    """Direction in which a change is an improvement (decides which way a floor is loosened)."""


class GateSettings(_Record):
    """The gate settings a suite ran under; a baseline keeps those it was accepted under.

    The loosening guard (`gate/loosening.py`) compares a run's block with its baseline's: a run
    that checks less than what was accepted needs `--llm-gate-update`, so the loosening shows in the
    PR's baseline diff. The case ids are kept as a count and a hash: the ids themselves are already
    the keys of the baseline's `cases`, and a hash keeps the diff one line when the set grows.
    """

    primary: list[str] = Field(default_factory=list)
    """The metrics that gate (`primary=`, ini `llm_gate_primary`, or the default)."""
    metrics: dict[str, MetricRule] = Field(default_factory=dict)
    """Per metric: tolerance, alpha and floor, defaults resolved (floors apply to every metric)."""
    slices: dict[str, SliceSpec] = Field(default_factory=dict)
    """Gated slices (tag to its own tolerance and alpha; None: each metric's own)."""
    rubrics: dict[str, str] = Field(default_factory=dict)
    """Rubric name to the hash of its text (its criteria, scale and prompt)."""
    cases: int = 0
    """Cases of the golden set (pending review excluded)."""
    case_ids_sha256: str = ""
    """sha256 of the golden set's case ids, sorted, one a line."""


class SuiteResult(_Record):
    """One suite (a test function marked `golden`) in one run."""

    suite: str
    """Suite id: the test function's node id without parameters."""
    dataset: str
    """Golden set path, relative to the rootdir."""
    fingerprints: dict[str, str] = Field(default_factory=dict)
    """`dataset`, `format`, and (with a judge) `judge` (`provider:model`), `rubric:<name>`."""
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    cases: dict[str, CaseResult] = Field(default_factory=dict)
    primary: list[str] | None = None
    """Metrics that gate, from the marker's `primary=`; None: ini `llm_gate_primary`, else the default."""
    thresholded: list[str] = Field(default_factory=list)
    """Metrics given their own settings in the marker's `metrics=` (primary by default)."""
    slices: dict[str, SliceSpec] = Field(default_factory=dict)
    """Tags whose cases are gated as a slice of their own, from the marker's `slices=`."""
    pending_review: int = 0
    """Cases of the golden set waiting for a person's review (`llmgate review`): not run, not gated."""
    dataset_tags: list[str] | None = None
    """Every tag of the golden set's active cases, selected or not (None in older results files):
    a gated slice whose tag is here but on no selected case is a note, not a typo."""
    # repeats
    repeat: int = 1
    """Runs per case (repeat=K). With K > 1, pass/fail metrics are gated as per-case pass rates."""
    repeat_binary: list[str] = Field(default_factory=list)
    """With K > 1: the metrics that are 0/1 per run (their pass@k and pass^k are reported)."""
    repeat_stats: RepeatStats | None = None
    """With K > 1: pass@k, pass^k, within-case variance and flaky cases."""
    gate_settings: GateSettings | None = None
    """The gate settings this suite ran under (compared with its baseline's by the loosening guard)."""
    case_ids: list[str] | None = None
    """Every case id of the golden set, run or deselected (pending review excluded): the loosening
    guard names the accepted cases that are gone. None in results written before it was recorded."""

    def judge_calls(self) -> list[JudgeCall]:
        """Every judge call of this suite's verdicts, every run's with repeats."""
        return [
            call
            for case in self.cases.values()
            for verdicts in ([run.judge for run in case.repeats] if case.repeats else [case.judge])
            for verdict in verdicts
            for call in verdict.calls
        ]

    def judge_cost(self) -> dict[str, float]:
        """Judging cost of this suite's verdicts at list price (see `Baseline.judge_cost`).

        With repeats, every run's verdicts count (a case's `judge` holds only the first run's)."""
        calls = self.judge_calls()
        if not calls:
            return {}
        result = {
            "calls": float(len(calls)),
            "input_tokens": float(sum(c.input_tokens for c in calls)),
            "output_tokens": float(sum(c.output_tokens for c in calls)),
        }
        if all(c.list_cost_usd is not None for c in calls):
            result["usd"] = round(sum(c.list_cost_usd or 0.0 for c in calls), 6)
        return result


@pydantic_dataclass(slots=True, config=ConfigDict(extra="forbid"))
class BaselineCase:
    """What a baseline keeps of one case: values to pair with, output to judge against.

    A slotted dataclass rather than a model: a baseline holds one per case for the whole
    session, and this form carries no per-instance `__dict__` or fields-set.
    """

    passed: bool = True
    """Whether the case's checks passed in the run that wrote the baseline."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Metric name to value (the value a run compared with itself takes, for pairwise metrics)."""
    output: Any = None
    """The output of the run that wrote the baseline (pairwise judging compares with it)."""


class Baseline(_Record):
    """A committed baseline file: one per suite, deterministic JSON."""

    format_version: int = FORMAT_VERSION
    plugin_version: str | None = None
    """pytest-llmgate version that wrote the file (None in files written before it was recorded)."""
    suite: str
    dataset: str
    fingerprints: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    aggregates: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Per metric: `mean` and `n` (for readers of the diff; the gate pairs per case)."""
    cases: dict[str, BaselineCase] = Field(default_factory=dict)
    judge_cost: dict[str, float] = Field(default_factory=dict)
    """What judging this suite cost in the run that wrote the baseline: `calls`, `input_tokens`,
    `output_tokens` and (when priced) `usd` at list price, cache hits included. Not a
    fingerprint: a run compares its own cost with it."""
    repeat: int = 1
    """Runs per case the baseline's values are means over (repeat=K)."""
    gate_settings: GateSettings | None = None
    """The gate settings the baseline was accepted under; None in files written before they were
    recorded (no loosening is reported against them; the next update records them)."""


class MetricVerdict(_Record):
    """The paired comparison of one metric of one suite with its baseline."""

    suite: str
    metric: str
    kind: MetricKind
    higher_is_better: bool
    n_paired: int
    """Cases with a value in both runs."""
    baseline_mean: float | None = None
    """Mean over the paired cases in the baseline."""
    current_mean: float | None = None
    """Mean over the paired cases now."""
    current_mean_all: float | None = None
    """Mean over every case with a value now (used for the floor)."""
    diff: float | None = None
    """current - baseline, over the paired cases."""
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float = 0.9
    """Two-sided level of the interval, 1 - 2*alpha: each end is the one-sided bound that
    inverts the test, so it agrees with `p_value` and `p_noninferior`."""
    p_value: float | None = None
    """One-sided p-value for a drop (in the metric's bad direction), unadjusted."""
    p_adjusted: float | None = None
    """Holm-adjusted across the run's primary metrics (and gated slices); None for a secondary."""
    p_noninferior: float | None = None
    """One-sided p-value for "the drop is at least the tolerance"; below alpha the metric PASSes."""
    test: str = ""
    """Which test produced the p-values: `mcnemar-exact`, `sign-flip-exact`, `t-paired`, `t-cluster`, `identical`."""
    tolerance: float
    """Largest drop of the mean that is not material."""
    alpha: float
    """Significance level of the one-sided tests."""
    min_score: float | None = None
    """Absolute floor on the current mean, if any."""
    mde: float | None = None
    """Detectable drop: the true drop this gate (test, Holm, tolerance) FAILs with 80% power
    on this set; None when no drop can FAIL with this many cases or clusters."""
    status: MetricStatus
    """The metric's outcome (see `MetricStatus`)."""
    reason: str = ""
    """One sentence saying why the status is what it is."""
    primary: bool = True
    """Whether this metric gates (primary) or is only reported (secondary)."""
    clusters: int | None = None
    """Independent units the test used: declared clusters, else paired cases."""
    cases_to_pass: int | None = None
    """INCONCLUSIVE: paired cases with which an unchanged app PASSes 80 % of the time at this
    tolerance (from this run's noise); None when not computed or beyond a million."""
    repeats_to_pass: int | None = None
    """INCONCLUSIVE: repeats K per case with which an unchanged app PASSes 80 % of the time on
    these cases (when the changes are run-to-run noise); None when no K up to 10 does."""

    @field_validator("status", mode="before")
    @classmethod
    def _old_status(cls, value: Any) -> Any:
        return _OLD_METRIC_STATUS.get(value, value) if isinstance(value, str) else value


class CaseChange(_Record):
    """A case whose check outcome differs from (or matches a failure in) the baseline."""

    suite: str
    case_id: str
    nodeid: str
    kind: Literal["newly_failing", "known_failing", "fixed"]
    failure: str | None = None


class SliceVerdict(_Record):
    """The primary metrics of one suite over the cases carrying one tag."""

    tag: str
    """The tag that defines the slice."""
    n_cases: int
    """Cases of this run carrying the tag."""
    gated: bool = False
    """Declared in the marker's `slices=`: its metrics join the Holm family and can FAIL the run."""
    metrics: list[MetricVerdict] = Field(default_factory=list)
    """One verdict per primary metric, over the slice's paired cases."""
    max_newly_failing: int | None = None
    """The slice's absolute rule (see `SliceSpec.max_newly_failing`), None without one."""
    newly_failing: list[str] = Field(default_factory=list)
    """Ids of the slice's cases that pass in the baseline and fail now."""


class SuiteVerdict(_Record):
    """One suite's comparison with its baseline: problems, metrics, case changes, slices."""

    suite: str
    baseline_path: str
    problems: list[str] = Field(default_factory=list)
    """Suite-level failures: missing baseline, fingerprint mismatch (with the remedy)."""
    metrics: list[MetricVerdict] = Field(default_factory=list)
    cases: list[CaseChange] = Field(default_factory=list)
    slices: list[SliceVerdict] = Field(default_factory=list)
    """Per tag: the suite's primary metrics over the cases carrying it."""
    collapsed_clusters: list[str] = Field(default_factory=list)
    """Declared clusters every case of which newly fails: a topic that broke, which the mean
    test sees as a few units of many (the absolute rules catch it: see the README)."""


class RubricStats(_Record):
    """Per rubric, per run: volume, errors and position bias of the judge."""

    rubric: str
    verdicts: int = 0
    errors: int = 0
    calls: int = 0
    """Provider requests made (retries included)."""
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    swapped_pairs: int = 0
    """Verdicts asked in both orders."""
    consistent_pairs: int = 0
    """Of those, how many agreed across orders."""
    first_position_rate: float | None = None
    """Share of answered calls that preferred the first position (pairwise)."""
    batched: int = 0
    """Calls that went through a batch API (`--llm-gate-batch`)."""
    no_claims: int = 0
    """Claims mode: verdicts whose answer made no checkable claim (counted, not scored)."""
    cache_read_tokens: int = 0
    """Input tokens the provider served from its prompt cache."""
    cache_write_tokens: int = 0
    """Input tokens the provider wrote to its prompt cache."""
    cost_usd: float | None = 0.0
    """Dollars spent in this run (cache hits cost nothing; None: price unknown)."""
    list_cost_usd: float | None = 0.0
    """Dollars these verdicts cost without our cache (None: price unknown)."""
    cache_savings_usd: float | None = 0.0
    """Dollars the provider's prompt cache saved (None: price unknown)."""


class GateResult(_Record):
    """The run's outcome: FAIL, INCONCLUSIVE or PASS, and whether the build passes."""

    status: GateStatus
    """FAIL: a material drop (or another failure); INCONCLUSIVE: a primary metric could tell
    neither; PASS: every primary metric is shown non-inferior."""
    passed: bool
    """Whether the build passes: not on FAIL, and not on INCONCLUSIVE with `fail_inconclusive`."""
    reasons: list[Reason] = Field(default_factory=list)
    """Why the gate failed or is inconclusive, and the notes beside it: typed, each with its remedy."""
    remedy: str | None = None
    """The remedies of the reasons that set the status, joined (each reason carries its own)."""

    @field_validator("status", mode="before")
    @classmethod
    def _old_status(cls, value: Any) -> Any:
        return _OLD_GATE_STATUS.get(value, value) if isinstance(value, str) else value

    @field_validator("reasons", mode="before")
    @classmethod
    def _old_reasons(cls, value: Any) -> Any:
        # Results files written before reasons were typed hold plain sentences.
        if isinstance(value, list):
            return [{"kind": "legacy", "text": item} if isinstance(item, str) else item for item in value]
        return value


class RunFacts(_Record):
    """What a run found outside its metrics that the verdict must weigh: recorded by each process,
    summed by the xdist controller and by `llmgate merge`, turned into reasons by `evaluate` alone."""

    replay_missing: list[str] = Field(default_factory=list)
    """Replay mode: `suite::case_id (rubric)` of judge calls not in the cache."""
    budget_tokens_exhausted: bool = False
    """The judge token budget ran out (later verdicts are judge errors)."""
    budget_usd_exhausted: bool = False
    """The judge dollar budget ran out."""
    unjudged_by_deadline: int = 0
    """Judge calls the deadline left unmade or cut off (their verdicts are judge errors)."""
    errored: dict[str, str] = Field(default_factory=dict)
    """`suite::case_id` of cases that errored outside their checks (setup, the SUT, the test body),
    to the first line of the error."""
    baseline_errors: dict[str, str] = Field(default_factory=dict)
    """Per suite whose baseline file cannot be read: why."""
    label_error: str | None = None
    """Why the human labels could not be read (the calibration gate cannot be kept)."""

    def merge(self, other: RunFacts) -> None:
        """Add another process's (or shard's) facts to these."""
        self.replay_missing += [m for m in other.replay_missing if m not in self.replay_missing]
        self.budget_tokens_exhausted = self.budget_tokens_exhausted or other.budget_tokens_exhausted
        self.budget_usd_exhausted = self.budget_usd_exhausted or other.budget_usd_exhausted
        self.unjudged_by_deadline += other.unjudged_by_deadline
        for key, error in other.errored.items():
            self.errored.setdefault(key, error)
        for suite, error in other.baseline_errors.items():
            self.baseline_errors.setdefault(suite, error)
        self.label_error = self.label_error or other.label_error


class HistoryPoint(_Record):
    """One accepted value of a metric: the baseline file as committed at one commit."""

    commit: str
    """Full commit hash, or `uncommitted` for a baseline file that differs from HEAD's."""
    date: str
    """Author date, ISO 8601 (empty for an uncommitted file)."""
    author: str
    """`Name <email>` of the commit's author (untrusted text)."""
    subject: str
    """First line of the commit message (untrusted text)."""
    value: float
    """The metric's mean over the baseline's cases."""
    n: int = 0
    """Cases the mean is over."""
    change: float | None = None
    """Value minus the previous accepted value; None for the first point seen."""


class MetricHistory(_Record):
    """The accepted values of one metric of one suite, oldest first."""

    suite: str
    metric: str
    path: str
    """The baseline file, relative to the repository root."""
    primary: bool = True
    """Whether the metric gates (as of its latest baseline)."""
    higher_is_better: bool = True
    tolerance: float
    """The tolerance drift is measured against (the run's, else the latest baseline's)."""
    points: list[HistoryPoint] = Field(default_factory=list)
    reference: str | None = None
    """Commit of the point cumulative change is measured from (the `--since` reference)."""
    cumulative: float | None = None
    """Latest value minus the reference's value."""
    updates: int = 0
    """Accepted changes of the value after the reference."""


class DriftFinding(_Record):
    """A metric whose accepted changes since the reference add up to a drop beyond its tolerance."""

    suite: str
    metric: str
    change: float
    """Cumulative change since the reference, in the metric's own units (negative: worse, when higher is better)."""
    drop: float
    """The same change as a positive drop in the metric's bad direction."""
    updates: int
    """Accepted updates it took."""
    since: str
    """Short hash of the reference commit."""
    tolerance: float

    def text(self) -> str:
        """`judge:correctness fell 0.072 over 4 accepted updates since abc123; tolerance 0.03`."""
        verb = "fell" if self.change < 0 else "rose"
        updates = f"{self.updates} accepted update{'' if self.updates == 1 else 's'}"
        return f"{self.metric} {verb} {self.drop:.3f} over {updates} since {self.since}; tolerance {self.tolerance:g}"


class RunHistory(_Record):
    """What git holds of the baselines' history (`llmgate history`, sparklines, drift)."""

    root: str = ""
    """Repository root the history was read from."""
    commits: int = 0
    """Commits that changed a baseline file, as far as this clone's history reaches."""
    shallow: bool = False
    """The clone is shallow: older commits are missing."""
    since: str | None = None
    """The reference asked for (`--since`); None: each series' first point."""
    notes: list[str] = Field(default_factory=list)
    """What limits the history (shallow clone, unreadable files), each with what to do."""
    metrics: list[MetricHistory] = Field(default_factory=list)
    drift: list[DriftFinding] = Field(default_factory=list)
    accepted: list[str] = Field(default_factory=list)
    """Loosenings this branch accepted into its baselines since the pull request's base
    (`$GITHUB_BASE_REF`): not blocking, listed in the PR comment for the reviewer."""
    base: str | None = None
    """The commit those loosenings are measured from (the merge base with the PR's base branch)."""


class RunResults(_Record):
    """The results file: a run's measurements, its baselines and the verdict."""

    format_version: int = FORMAT_VERSION
    plugin_version: str
    created_at: str
    """ISO 8601, UTC."""
    duration: float = 0.0
    git_commit: str | None = None
    git_dirty: bool | None = None
    judge_provider: str | None = None
    """`provider:model` of the judge, or None when no rubric was used."""
    judge_price: str | None = None
    """Where the judge's prices came from (`genai-prices 0.2.3`, `llm_gate_judge_price (...)`,
    `offline judge: free`, or `price unknown (...)`); None when no judge call was made."""
    rejudged: dict[str, str] = Field(default_factory=dict)
    """Per suite whose baseline was re-judged (`--llm-gate-rejudge-baseline`): what changed."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """The gate's effective settings (alpha, tolerance, strict, ...), never secrets."""
    suites: dict[str, SuiteResult] = Field(default_factory=dict)
    baselines: dict[str, Baseline | None] = Field(default_factory=dict)
    """The baseline each suite was compared with (None when missing)."""
    verdicts: list[SuiteVerdict] = Field(default_factory=list)
    judge_stats: dict[str, RubricStats] = Field(default_factory=dict)
    calibration: dict[str, Any] = Field(default_factory=dict)
    """Per rubric: agreement statistics and calibrated estimates (calibration package)."""
    gate: GateResult
    jury: dict[str, Any] = Field(default_factory=dict)
    """Per rubric judged by several judges: the judges, the aggregation and inter-judge
    agreement (kappa with a bootstrap interval) per pair of judges."""
    judge_warnings: list[str] = Field(default_factory=list)
    """Warnings about the judge setup, e.g. self-preference (judge and SUT of one family)."""
    facts: RunFacts = Field(default_factory=RunFacts)
    """Replay misses, budgets, deadline, errored cases, unreadable baselines and labels: what the
    verdict weighs beside the metrics."""
    labels: list[dict[str, Any]] = Field(default_factory=list)
    """The human labels the run read (`labels/*.jsonl`), so `llmgate merge` recomputes the
    judge-human agreement over every shard's cases."""

    history: RunHistory | None = None
    """The primary metrics' accepted values from git and any drift (None outside git)."""


def merge_rubric_stats(a: RubricStats | None, b: RubricStats) -> RubricStats:
    """Sum two processes' (or shards') judge statistics for one rubric."""
    if a is None:
        return b
    total: dict[str, Any] = {
        f: getattr(a, f) + getattr(b, f)
        for f in (
            "verdicts",
            "errors",
            "calls",
            "cache_hits",
            "input_tokens",
            "output_tokens",
            "swapped_pairs",
            "consistent_pairs",
            "batched",
            "cache_read_tokens",
            "cache_write_tokens",
            "no_claims",
        )
    }
    for name in ("cost_usd", "list_cost_usd", "cache_savings_usd"):
        first, second = getattr(a, name), getattr(b, name)
        total[name] = None if first is None or second is None else first + second
    rates = [(s.first_position_rate, s.verdicts) for s in (a, b) if s.first_position_rate is not None]
    weight = sum(w for _, w in rates)
    rate = sum(r * w for r, w in rates) / weight if weight else None
    return RubricStats(rubric=a.rubric, first_position_rate=rate, **total)


_BASELINE_CASE = TypeAdapter(BaselineCase)

#: Reads a case record back whole (`CaseSpill.restore`): suite name, record -> record.
Restore = Callable[[str, "CaseResult"], "CaseResult"]


def results_json_chunks(results: RunResults, *, restore: Restore | None = None) -> Iterator[str]:
    """The results file's text (`dumps(results.model_dump(mode="json"), compact=True)`) in pieces.

    Suites' cases and baselines' cases are dumped one at a time, so writing the file of a large
    run holds one case's dict in memory rather than the whole run's tree and its text;
    `restore` gives each run case its fields that wait in the spill file.
    """
    from pytest_llmgate._files import Streamed, iter_dumps

    def run_cases(name: str, records: dict[str, CaseResult]) -> Streamed:
        if restore is None:
            return Streamed(records, lambda case_id: records[case_id].model_dump(mode="json"))
        return Streamed(records, lambda case_id: restore(name, records[case_id]).model_dump(mode="json"))

    def suite(name: str) -> dict[str, Any]:
        record = results.suites[name]
        data = record.model_dump(mode="json", exclude={"cases"})
        data["cases"] = run_cases(name, record.cases)
        return data

    def baseline(name: str) -> dict[str, Any] | None:
        record = results.baselines[name]
        if record is None:
            return None
        data = record.model_dump(mode="json", exclude={"cases"})
        cases = record.cases
        data["cases"] = Streamed(cases, lambda case_id: _BASELINE_CASE.dump_python(cases[case_id], mode="json"))
        return data

    data = results.model_dump(mode="json", exclude={"suites", "baselines"})
    data["suites"] = Streamed(results.suites, suite)
    data["baselines"] = Streamed(results.baselines, baseline)
    yield from iter_dumps(data)
    yield "\n"
