"""One gated run: the state the plugin keeps between collection and the end of the session.

The plugin module only wires pytest hooks to the methods here; this module holds what a run
collects (cases, metrics, judge verdicts) and what it does at the end (verdict, files).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import subprocess
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pytest_llmgate.config import Settings
from pytest_llmgate.gate.accepted import record_run_context
from pytest_llmgate.gate.baseline import (
    UPDATE_REMEDY,
    BaselineError,
    NewerBaselineError,
    baseline_path,
    build_baseline,
    load_baseline,
    plugin_version,
    write_baseline,
)
from pytest_llmgate.gate.records import (
    FORMAT_VERSION,
    Against,
    Baseline,
    CaseFields,
    CaseResult,
    GateResult,
    JudgeVerdict,
    MetricKind,
    MetricSpec,
    RepeatResult,
    RubricStats,
    RunResults,
    SuiteResult,
)
from pytest_llmgate.gate.repeats import aggregate_case, prepare_suite
from pytest_llmgate.gate.spill import CaseSpill
from pytest_llmgate.gate.verdict import CHECKS_METRIC, evaluate
from pytest_llmgate.outputs import content_hash, output_text
from pytest_llmgate.report.links import relative_link
from pytest_llmgate.sut import (
    OutputsFile,
    SutCall,
    SutError,
    SutRunner,
    check_output,
    failure_message,
    load_outputs,
    process_items,
)
from pytest_llmgate.validate import SPEC_OVERRIDES

#: Every field name of a case record: the one fields-set all records share (see `case_record`).
_CASE_FIELDS = set(CaseResult.model_fields)
#: The per-case SUT duration; recorded as a metric only when a suite's marker names it in `metrics=`.
SUT_SECONDS_METRIC = "sut_seconds"
INTERRUPTED_LINE = (
    "interrupted: nothing gated, no file written; {cancelled} pending judge call(s) cancelled, "
    "{finished} finished and cached: a rerun pays only for what is missing."
)


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


class GateRun:
    """Everything one process of a gated session records (controller, or an xdist worker)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.started = time.time()
        self.suites: dict[str, SuiteResult] = {}
        self.dataset_ids: dict[str, list[str]] = {}
        self.overrides: dict[str, dict[str, Any]] = {}
        self._baselines: dict[str, Baseline | None] = {}
        self.baseline_errors: dict[str, str] = {}
        self._newer: set[str] = set()
        self._engines: list[Any] = []
        self._requests: dict[tuple[str, str, str], Any] = {}
        """The judge request of each (suite, case id, metric), kept for re-judging the baseline."""
        self.rubrics: dict[str, Any] = {}
        self.judge_missing: list[str] = []
        """Replay mode: `suite::case_id (rubric)` of judge calls not in the cache."""
        self.budget_exhausted = False
        self.unjudged_by_deadline = 0
        """Judge calls the run's deadline left unmade or cut off (their verdicts are judge errors)."""
        self.budget_usd_exhausted = False
        self._pending: list[tuple[str, str, int | None, Future[JudgeVerdict]]] = []
        self.judge_stats: dict[str, RubricStats] = {}
        self.results: RunResults | None = None
        self.written: list[Path] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        """Lines for the terminal summary that are neither warnings nor verdicts (batch mode)."""
        self.judge_price: str | None = None
        """Where the judge's prices came from (set when the engine starts)."""
        self.rejudged: dict[str, dict[str, Any]] = {}
        """Per suite re-judged with `--llm-gate-rejudge-baseline`: `note`, `metrics` (names) and
        `values` (case id -> metric -> the baseline output's value under this run's judge, or None)."""
        # concurrent SUT calls, repeats, outputs from a file
        self.sut_specs: dict[str, Any] = {}
        """Per suite: the marker's `sut=` (a callable, or the name of a fixture returning one)."""
        self.outputs_file: OutputsFile | None = (
            load_outputs(settings.outputs_path) if settings.outputs_path is not None else None
        )
        self._sut_runner: SutRunner | None = None
        self._sut_fns: dict[str, Any] = {}
        self._sut_all_submitted: set[str] = set()
        self._item_calls: dict[str, list[SutCall]] = {}
        self.problems: list[str] = []
        """Usage errors found at collection (golden sets, markers, baselines): exit 4 before any test."""
        self.errored: list[str] = []
        """`suite::case_id` of cases that errored outside their checks (setup or test body)."""
        self.interrupted = False
        self.stopped: str | None = None
        """Why the session ended without a gate (interrupt, usage error): the one line to print."""
        # results streamed to disk
        self.spill = CaseSpill()
        """Finished cases' outputs and details, out of memory until the files at the end read them back."""

    # -- collection -------------------------------------------------------------------------
    def register_suite(
        self,
        suite: str,
        dataset: str,
        fingerprint: str,
        case_ids: list[str],
        overrides: dict[str, Any],
        *,
        pending: int = 0,
    ) -> None:
        """Called once per golden test function, at collection; `pending` cases await review and are not run."""
        from pytest_llmgate.gate.verdict import gating_options

        primary, slices = gating_options(overrides.get("primary"), overrides.get("slices"))
        self.suites[suite] = SuiteResult(
            suite=suite,
            dataset=dataset,
            pending_review=pending,
            fingerprints={"dataset": fingerprint, "format": str(FORMAT_VERSION)},
            primary=primary,
            thresholded=sorted(overrides.get("metrics") or {}),
            slices=slices,
        )
        self.dataset_ids[suite] = case_ids
        self.overrides[suite] = overrides
        self.declare_metric(suite, MetricSpec(name=CHECKS_METRIC, kind="binary"))

    def declare_metric(self, suite: str, spec: MetricSpec) -> None:
        """Add a metric to a suite once, with the marker's per-metric and suite-wide thresholds."""
        result = self.suites[suite]
        if spec.name in result.metrics:
            return
        overrides = self.overrides.get(suite, {})
        per_metric = dict(overrides.get("metrics", {}).get(spec.name, {}))
        unknown = set(per_metric) - set(SPEC_OVERRIDES)
        if unknown:
            msg = (
                f"golden marker of {suite}: unknown setting(s) {sorted(unknown)} for metric '{spec.name}'; "
                f"use {', '.join(SPEC_OVERRIDES)}."
            )
            raise ValueError(msg)
        update = {key: overrides[key] for key in ("tolerance", "alpha") if overrides.get(key) is not None}
        update.update(per_metric)
        result.metrics[spec.name] = spec.model_copy(update=update)

    def baseline(self, suite: str) -> Baseline | None:
        """The committed baseline of a suite (loaded once; a broken file is recorded as a problem)."""
        if suite not in self._baselines:
            try:
                self._baselines[suite] = load_baseline(self.baseline_file(suite))
            except BaselineError as exc:
                self.baseline_errors[suite] = str(exc)
                self._baselines[suite] = None
                if isinstance(exc, NewerBaselineError):
                    self._newer.add(suite)
        return self._baselines[suite]

    def baseline_file(self, suite: str) -> Path:
        return baseline_path(self.settings.baseline_dir, suite)

    def newer_baseline_problem(self, suite: str) -> str | None:
        """The message when a suite's baseline is in a newer format (a usage error, not a gate failure)."""
        self.baseline(suite)
        return self.baseline_errors[suite] if suite in self._newer else None

    # -- recording --------------------------------------------------------------------------
    def case_record(self, suite: str, case: Any, nodeid: str) -> CaseResult:
        result = self.suites[suite]
        record = result.cases.get(case.id)
        if record is None or record.nodeid != nodeid:
            record = CaseResult(case_id=case.id, nodeid=nodeid, case=CaseFields(case))
            # pydantic adds each assigned field to a per-record set (read only by exclude_unset,
            # which nothing here uses); one shared set of every field name costs nothing per case.
            object.__setattr__(record, "__pydantic_fields_set__", _CASE_FIELDS)
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
    def register_sut(self, suite: str, sut: Any, repeat: int) -> None:
        """Called at collection, after `register_suite`: the suite's SUT (if any) and its runs per case."""
        self.suites[suite].repeat = repeat
        if sut is not None:
            self.sut_specs[suite] = sut
        if SUT_SECONDS_METRIC in self.overrides.get(suite, {}).get("metrics", {}):
            self.declare_metric(suite, MetricSpec(name=SUT_SECONDS_METRIC, higher_is_better=False))

    def outputs_count(self, suite: str, case_ids: list[str]) -> int | None:
        """The runs per case an outputs file holds for a suite (the most any of its cases has)."""
        if self.outputs_file is None:
            return None
        counts = [len(found) for cid in case_ids if (found := self.outputs_file.get(suite, cid)) is not None]
        return max(counts) if counts else None

    def check_outputs_file(self, wanted: list[tuple[str, str]]) -> str | None:
        """Before any test runs: the first selected (suite, case id) the outputs file cannot feed."""
        if self.outputs_file is None:
            return None
        path = self.outputs_file.path
        for suite, case_id in wanted:
            found = self.outputs_file.get(suite, case_id)
            runs = self.suites[suite].repeat
            if found is None:
                return (
                    f"--llm-gate-outputs {path}: no output for case '{case_id}' of {suite}. "
                    f'Add a line {{"id": "{case_id}", "output": ...}} to the file, or deselect the case.'
                )
            if len(found) != runs:
                return (
                    f"--llm-gate-outputs {path}: case '{case_id}' of {suite} has {len(found)} output(s), "
                    f"the suite runs each case {runs} time(s). Give {runs} output(s) for every case."
                )
        return None

    def sut_runner(self) -> SutRunner:
        if self._sut_runner is None:
            self._sut_runner = SutRunner(concurrency=self.settings.sut_concurrency, timeout=self.settings.sut_timeout)
        return self._sut_runner

    def case_outputs(self, request: Any, suite: str, case: Any) -> Any:
        """The `output` fixture: this case's output(s), from the outputs file or the SUT runner.

        On first use in a suite the SUT calls of every item of the suite this process will run
        are submitted; this item waits for its own case only. Failures are raised later, in
        the call phase (`call_test`), so they fail the item rather than erroring its setup.
        """
        import pytest

        runs = self.suites[suite].repeat
        if self.outputs_file is not None:
            problem = self.check_outputs_file([(suite, case.id)])
            if problem:
                pytest.fail(problem, pytrace=False)
            found = self.outputs_file.get(suite, case.id) or []
            calls = [SutCall(output=value) for value in found[:runs]]
        else:
            runner = self.sut_runner()
            fn = self._sut_callable(request, suite)
            key = (suite, case.id)
            runner.submit(key, fn, case, runs)
            self._submit_ahead(request.session, suite, fn, runs)
            capture = request.config.pluginmanager.getplugin("capturemanager")
            suspend = capture.global_and_fixture_disabled if capture is not None else None
            calls = runner.wait(key, progress=self.settings.progress, suspend=suspend)
            runner.forget(key)
        if not calls:
            pytest.fail(f"no output for case '{case.id}' of {suite}.", pytrace=False)
        self._item_calls[request.node.nodeid] = calls
        return None if calls[0].failed else calls[0].output

    def _sut_callable(self, request: Any, suite: str) -> Any:
        import pytest

        fn = self._sut_fns.get(suite)
        if fn is None:
            spec = self.sut_specs.get(suite)
            fn = request.getfixturevalue(spec) if isinstance(spec, str) else spec
            if not callable(fn):
                msg = f"{suite}: sut={spec!r} must be a callable or name a fixture returning one (got {type(fn).__name__})."
                pytest.fail(msg, pytrace=False)
            self._sut_fns[suite] = fn
        return fn

    def _submit_ahead(self, session: Any, suite: str, fn: Any, runs: int) -> None:
        """Submit the suite's other items this process will run (on xdist: those queued to it so far)."""
        if suite in self._sut_all_submitted:
            return
        runner = self.sut_runner()
        for item in process_items(session):
            callspec = getattr(item, "callspec", None)
            if callspec is None or item.nodeid.split("[", 1)[0] != suite:
                continue
            case = callspec.params.get("case")
            if case is not None:
                runner.submit((suite, case.id), fn, case, runs)
        if not hasattr(session.config, "workerinput"):
            self._sut_all_submitted.add(suite)

    def call_test(self, item: Any, suite: str, case: Any) -> bool | None:
        """Call a golden test: once with its output, or once per run with repeat=K (True: called here)."""
        __tracebackhide__ = True
        calls = self._item_calls.pop(item.nodeid, None)
        runs = self.suites[suite].repeat
        record = self.case_record(suite, case, item.nodeid)
        if runs == 1:
            if calls is not None:
                timed = SUT_SECONDS_METRIC in self.suites[suite].metrics
                self._record_call(record, calls[0], case.id, None, timed=timed)
            return None
        return self._call_runs(item, suite, case, record, calls, runs)

    def _record_call(
        self, record: CaseResult | RepeatResult, call: SutCall, case_id: str, run: int | None, *, timed: bool
    ) -> None:
        __tracebackhide__ = True
        if call.seconds is not None:
            record.sut_seconds = round(call.seconds, 6)
        if call.failed:
            raise SutError(failure_message(call, case_id, self.settings.sut_timeout, run)) from call.error
        check_output(call.output, case_id)
        record.output = call.output
        if timed and record.sut_seconds is not None:
            record.metrics[SUT_SECONDS_METRIC] = record.sut_seconds

    def _call_runs(
        self, item: Any, suite: str, case: Any, record: CaseResult, calls: list[SutCall] | None, runs: int
    ) -> bool:
        """repeat=K: the test body once per run, each with its own output and records; a failed
        check in one run does not stop the others; the first one is raised at the end."""
        __tracebackhide__ = True
        import inspect

        import pytest

        function = item.obj
        if inspect.iscoroutinefunction(function):
            pytest.fail(f"{suite}: repeat={runs} needs a plain (not async) test function.", pytrace=False)
        args = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
        gate = args.get("llm_gate")
        timed = SUT_SECONDS_METRIC in self.suites[suite].metrics
        record.repeats = []
        first_failure: AssertionError | None = None
        for index in range(runs):
            result = RepeatResult()
            record.repeats.append(result)
            try:
                if calls is not None:
                    self._record_call(result, calls[index], case.id, index, timed=timed)
                    args["output"] = result.output
                if gate is not None and hasattr(gate, "use_run"):  # the llm_gate fixture's LLMGate
                    gate.use_run(result, index)
                function(**args)
            except AssertionError as exc:
                result.passed, result.failure = False, failure_text(exc)
                result.metrics[CHECKS_METRIC] = 0.0
                first_failure = first_failure or exc
            except Exception as exc:
                result.passed, result.failure = False, failure_text(exc)
                result.metrics[CHECKS_METRIC] = 0.0
                raise
            else:
                result.metrics[CHECKS_METRIC] = 1.0
        if first_failure is not None:
            raise first_failure
        return True

    def close_sut(self) -> None:
        """Stop the SUT runner's threads (at the end of the session)."""
        if self._sut_runner is not None:
            self._sut_runner.close()
            self._sut_runner = None

    def note_error(self, suite: str, case_id: str) -> None:
        """A case errored outside its checks (fixture error, the SUT raising): an update must not use this run."""
        key = f"{suite}::{case_id}"
        if key not in self.errored:
            self.errored.append(key)

    def count_external(self, name: str, *, error: bool) -> None:
        """Count a verdict from outside the judge engine (deepeval), so its error rate is gated too."""
        stat = self.judge_stats.setdefault(name, RubricStats(rubric=name))
        stat.verdicts += 1
        stat.errors += int(error)

    def pricer(self, spec: str) -> Any:
        """A judge's pricer (`pytest_llmgate.judge.pricing`), from its spec and the ini price."""
        from pytest_llmgate.judge.pricing import parse_price, pricer_for
        from pytest_llmgate.judge.providers import parse_spec

        kind, model, _ = parse_spec(spec)
        override = parse_price(self.settings.judge_price) if self.settings.judge_price else None
        return pricer_for(kind, model, override)

    def budget_problem(self) -> str | None:
        """Why `--llm-gate-budget-usd` cannot be kept with this judge (its price is unknown)."""
        if self.settings.budget_usd is None:
            return None
        for spec in self.settings.judges or (self.settings.judge,):
            pricer = self.pricer(spec)
            if not (pricer.known or pricer.free):
                return (
                    f"'--llm-gate-budget-usd' needs the judge's price, and {spec} has none: "
                    f"{pricer.source}. Set llm_gate_judge_price or use --llm-gate-budget-tokens."
                )
        return None

    def engine(self) -> Any:
        """The (first) judge engine, started on first use (so a run without judges imports no SDK)."""
        return self.engines()[0]

    def engines(self) -> list[Any]:
        """One judge engine per judge of the jury (one without a jury), started on first use."""
        if not self._engines:
            import pytest

            from pytest_llmgate.judge.engine import JudgeEngine, Spending
            from pytest_llmgate.judge.providers import JudgeConfigError
            from pytest_llmgate.judge.rubrics import RubricError, load_pack, load_rubrics

            engines = []
            spending = Spending()  # the budgets cover every judge of a jury together
            try:
                self.rubrics = {**load_pack(), **load_rubrics(self.settings.rubrics_dir)}
                for spec in self.settings.judges or (self.settings.judge,):
                    engines.append(
                        JudgeEngine(
                            provider=spec,
                            rubrics=self.rubrics,
                            cache_dir=self.settings.cache_dir,
                            concurrency=self.settings.concurrency,
                            budget_tokens=self.settings.budget_tokens,
                            replay_only=self.settings.replay,
                            timeout=self.settings.judge_timeout,
                            max_retries=self.settings.judge_retries,
                            deadline=self._deadline_left(),
                            batch=self._batch_options(),
                            pricer=self.pricer(spec),
                            budget_usd=self.settings.budget_usd,
                            spending=spending,
                        )
                    )
                self.judge_price = "; ".join(dict.fromkeys(engine.pricer.source for engine in engines))
            except (JudgeConfigError, RubricError) as exc:
                for engine in engines:
                    engine.close()
                # Every later judge call would fail the same way: stop with the one remedy.
                pytest.exit(f"LLM gate judge: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            for engine in engines:
                engine.start()
            self._engines = engines
        return self._engines

    def _batch_options(self) -> Any:
        if not self.settings.batch or self.settings.cache_dir is None:
            return None
        from pytest_llmgate.judge.batch import BatchOptions

        return BatchOptions(state_dir=self.settings.cache_dir, poll_interval=self.settings.batch_poll_interval)

    def batching(self) -> bool:
        """True when verdicts arrive only at the end of the session (batch mode)."""
        return any(engine.batching for engine in self._engines)

    def _deadline_left(self) -> float | None:
        """Seconds left of the judge deadline, which counts from the start of the session."""
        if self.settings.judge_deadline is None:
            return None
        return max(0.0, self.settings.judge_deadline - (time.time() - self.started))

    def _rubric(self, rubric_name: str) -> Any:
        from pytest_llmgate.judge.rubrics import PACK_PREFIX

        if rubric_name not in self.rubrics:
            local = sorted(name for name in self.rubrics if not name.startswith(PACK_PREFIX))
            built_in = sorted(name for name in self.rubrics if name.startswith(PACK_PREFIX))
            msg = (
                f"unknown rubric '{rubric_name}' (rubrics in {self.settings.rubrics_dir}: {', '.join(local) or 'none'}; "
                f"built-in: {', '.join(built_in)}). Add rubrics/{rubric_name}.yaml or fix the name."
            )
            raise KeyError(msg)
        return self.rubrics[rubric_name]

    def submit_judge(
        self,
        suite: str,
        case: Any,
        record: CaseResult | RepeatResult,
        rubric_name: str,
        against: Against | None,
        candidate: Any,
        context: list[str] | None = None,
        *,
        repeat: int | None = None,
    ) -> Future[JudgeVerdict]:
        from pytest_llmgate.conversations import as_turns
        from pytest_llmgate.judge.engine import JudgeRequest

        engines = self.engines()
        rubric = self._rubric(rubric_name)
        if "context" in rubric.needs and not context:
            msg = (
                f"rubric '{rubric_name}' judges the answer against retrieved context, and case '{case.id}' has none; "
                "pass context=[chunk texts] to llm_gate.judge() or texts= to llm_gate.retrieval()."
            )
            raise ValueError(msg)
        if "reference" in rubric.needs and case.reference is None:
            msg = f"rubric '{rubric_name}' needs a reference answer, and case '{case.id}' has none; add 'reference' to the case."
            raise ValueError(msg)
        metric = f"judge:{rubric.name}"
        if against is None and rubric.kind == "pairwise":
            against = "reference"
        reference = case.reference if rubric.show_reference else None
        if against is None and reference is not None and rubric.mode != "claims":
            against = "reference"
        result = self.suites[suite]
        result.fingerprints["judge"] = " + ".join(engine.identity for engine in engines)
        known = result.fingerprints.get(f"rubric:{rubric.name}")
        if known is not None and known != rubric.content_hash:
            msg = (
                f"two different rubrics named '{rubric.name}' fill the metric '{metric}' in {suite} "
                f"(a built-in llmgate:{rubric.name} and rubrics/{rubric.name}.yaml?); use one of them."
            )
            raise ValueError(msg)
        result.fingerprints[f"rubric:{rubric.name}"] = rubric.content_hash
        self_value = 0.5 if against == "baseline" else None
        kind: MetricKind = "binary" if rubric.kind == "pass_fail" else "continuous"
        self.declare_metric(suite, MetricSpec(name=metric, kind=kind, self_value=self_value))

        text = output_text(candidate)
        other: str | None = None
        if against == "baseline":
            base = self.baseline(suite)
            base_case = base.cases.get(case.id) if base else None
            if base_case is None or base_case.output is None or self.settings.update:
                # Compared with itself (update) or with nothing: no call, no value unless it is a self-comparison.
                return self._settled(
                    suite,
                    case.id,
                    repeat,
                    rubric,
                    metric,
                    against,
                    text,
                    value=0.5 if self.settings.update else None,
                    label="tie (baseline is this run)" if self.settings.update else None,
                    note=None if self.settings.update else "no baseline output for this case",
                )
            other = output_text(base_case.output)
            if other == text:
                return self._settled(
                    suite,
                    case.id,
                    repeat,
                    rubric,
                    metric,
                    against,
                    text,
                    value=0.5,
                    label="tie (identical to baseline)",
                    note=None,
                )
        turns = as_turns(case.input)
        request = JudgeRequest(
            rubric=rubric_name,
            suite=suite,
            case_id=case.id,
            metric=metric,
            input=output_text(case.input) if turns is None else "",
            candidate=text,
            reference=reference,
            other=other,
            against=against,
            context=tuple(context) if context else None,
            conversation=tuple(turns) if turns is not None else None,
        )
        self._requests[(suite, case.id, metric)] = request
        future = self._submit(rubric, request)
        self._pending.append((suite, case.id, repeat, future))
        return future

    def _submit(self, rubric: Any, request: Any) -> Future[JudgeVerdict]:
        """One request to the judge, or to every judge of the jury."""
        engines = self.engines()
        if len(engines) == 1:
            return engines[0].submit(request)
        return self._jury(rubric, [engine.submit(request) for engine in engines], engines)

    def _jury(self, rubric: Any, members: list[Future[JudgeVerdict]], engines: list[Any]) -> Future[JudgeVerdict]:
        """A future of the jury's verdict, set when every judge's verdict is in."""
        from pytest_llmgate.judge.jury import aggregate

        combined: Future[JudgeVerdict] = Future()
        method = rubric.aggregate or self.settings.jury_aggregate
        provider = " + ".join(engine.provider_name for engine in engines)

        def done(_: Future[JudgeVerdict]) -> None:
            if all(member.done() for member in members) and not combined.done():
                try:
                    combined.set_result(aggregate([member.result() for member in members], method, provider))
                except Exception as exc:  # noqa: BLE001 - a waiting test must not hang on a bug
                    combined.set_exception(exc)

        for member in members:
            member.add_done_callback(done)
        return combined

    def _settled(
        self,
        suite: str,
        case_id: str,
        repeat: int | None,
        rubric: Any,
        metric: str,
        against: Against | None,
        text: str,
        *,
        value: float | None,
        label: str | None,
        note: str | None,
    ) -> Future[JudgeVerdict]:
        """A verdict that needs no judge call; `note` marks one that records no value."""
        verdict = JudgeVerdict(
            rubric=rubric.name,
            rubric_version=rubric.version,
            kind=rubric.kind,
            against=against,
            metric=metric,
            value=value,
            label=label,
            error=f"skipped: {note}" if note else None,
            provider="none",
            output_hash=content_hash(text),
        )
        future: Future[JudgeVerdict] = Future()
        future.set_result(verdict)
        self._pending.append((suite, case_id, repeat, future))
        return future

    def cancel_judges(self) -> tuple[int, int]:
        """Cancel every pending judge call at once (finished ones are already cached): (cancelled, finished)."""
        cancelled = sum(1 for _, _, _, future in self._pending if not future.done())
        finished = len(self._pending) - cancelled
        for engine in self._engines:
            engine.close()
        self._engines = []
        self._pending.clear()
        return cancelled, finished

    def stop(self, reason: str | None = None) -> None:
        """End without a gate: cancel the judge, write nothing, keep one line saying what happened."""
        cancelled, finished = self.cancel_judges()
        self.spill.close()
        if reason is None:
            self.stopped = INTERRUPTED_LINE.format(cancelled=cancelled, finished=finished)
        else:
            self.stopped = reason

    def collect_judges(self) -> None:
        """Wait for every queued verdict and attach it to its case (values only when not an error).

        Ctrl-C during the wait cancels what is pending and marks the run interrupted.
        """
        try:
            for engine in self._engines:  # a jury's batches run side by side
                engine.send_batches()
            for engine in self._engines:
                engine.wait(progress=self.settings.progress)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop()
            return
        for suite, case_id, repeat, future in self._pending:
            verdict = future.result()
            case = self.suites[suite].cases[case_id]
            record: CaseResult | RepeatResult = case if repeat is None else case.repeats[repeat]
            record.judge.append(verdict)
            if verdict.error is None and verdict.value is not None:
                record.metrics[verdict.metric] = verdict.value
        self._pending.clear()
        if self._engines and self.settings.rejudge_baseline:
            self._rejudge_baselines()
        for name, result in self.suites.items():
            if result.repeat > 1:
                for case in result.cases.values():
                    aggregate_case(case)
                    self.spill.put(name, case)
        for engine in self._engines:
            for rubric, stat in engine.stats().items():
                self.judge_stats[rubric] = merge_rubric_stats(self.judge_stats.get(rubric), stat)
            self.judge_missing += [f"{suite}::{case_id} ({rubric})" for suite, case_id, rubric in engine.missing]
            self.budget_exhausted = self.budget_exhausted or engine.budget_exhausted
            self.notes += [note for note in engine.notes() if note not in self.notes]
            self.budget_usd_exhausted = self.budget_usd_exhausted or engine.budget_usd_exhausted
            self.unjudged_by_deadline += engine.unjudged_calls
            engine.close()
        self._engines = []

    def _rejudge_baselines(self) -> None:
        """Judge each baseline's stored outputs with this run's judge, where the judge or a rubric
        changed, so old and new outputs are compared under the same judge (cached like any call)."""
        from pytest_llmgate.gate.verdict import judge_keys_changed

        engines = self._engines
        identity = " + ".join(engine.identity for engine in engines)
        jobs: list[tuple[str, str, str, Future[JudgeVerdict]]] = []
        for name, suite in sorted(self.suites.items()):
            base = self.baseline(name)
            changed = judge_keys_changed(suite, base) if base is not None else []
            if base is None or not changed:
                continue
            entry = self.rejudged.setdefault(name, {"note": "", "metrics": [], "values": {}})
            metrics: set[str] = set(entry["metrics"])
            for case_id, record in sorted(suite.cases.items()):
                base_case = base.cases.get(case_id)
                for verdict in record.judge:
                    spec = suite.metrics.get(verdict.metric)
                    affected = "judge" in changed or f"rubric:{verdict.rubric}" in changed
                    # A pairwise verdict against the baseline's output is a tie by definition there.
                    if spec is None or spec.self_value is not None or not affected:
                        continue
                    metrics.add(verdict.metric)
                    asked = self._requests.get((name, case_id, verdict.metric))
                    if base_case is None or base_case.output is None or asked is None:
                        continue
                    # The same request (input, reference, context, conversation), the baseline's output judged.
                    request = dataclasses.replace(asked, candidate=output_text(base_case.output))
                    jobs.append((name, case_id, verdict.metric, self._submit(self.rubrics[asked.rubric], request)))
            entry["metrics"] = sorted(metrics)
            old = ", ".join(f"{key} {base.fingerprints.get(key, 'absent')}" for key in changed)
            entry["note"] = f"baseline re-judged with {identity} (it was judged with {old})"
        for engine in engines:
            engine.wait(progress=self.settings.progress)
        for name, case_id, metric, future in jobs:
            verdict = future.result()
            value = verdict.value if verdict.error is None else None
            self.rejudged[name]["values"].setdefault(case_id, {})[metric] = value

    def _apply_rejudged(self, baselines: dict[str, Baseline | None]) -> dict[str, str]:
        """Baselines with the re-judged values in place of the old judge's; returns the notes.

        Values of an affected metric that were not re-judged (no stored output, a judge error,
        a case not run) are dropped: they come from the old judge and would pair unlike with like."""
        from pytest_llmgate.gate.verdict import judge_keys_changed

        notes: dict[str, str] = {}
        for name, entry in sorted(self.rejudged.items()):
            base = baselines.get(name)
            if base is None:
                continue
            base = base.model_copy(deep=True)
            values: dict[str, dict[str, float | None]] = entry["values"]
            judged = 0
            for case_id, base_case in base.cases.items():
                for metric in entry["metrics"]:
                    value = values.get(case_id, {}).get(metric)
                    if value is None:
                        base_case.metrics.pop(metric, None)
                    else:
                        base_case.metrics[metric] = round(value, 6)
                        judged += 1
            suite = self.suites[name]
            for key in judge_keys_changed(suite, base):
                base.fingerprints[key] = suite.fingerprints[key]
            for metric in entry["metrics"]:
                if metric in suite.metrics:
                    base.metrics.setdefault(metric, suite.metrics[metric])
            for metric in entry["metrics"]:
                found = [c.metrics[metric] for c in base.cases.values() if metric in c.metrics]
                if found:
                    base.aggregates[metric] = {"mean": round(sum(found) / len(found), 6), "n": float(len(found))}
                else:
                    base.aggregates.pop(metric, None)
            baselines[name] = base
            notes[name] = f"{entry['note']}: {judged} value(s) of {', '.join(entry['metrics']) or 'no metric'}"
        return notes

    def _url_fingerprint_notes(self, baselines: dict[str, Baseline | None]) -> None:
        """Older baselines recorded an OpenAI-compatible judge with its URL: accepted, and said."""
        from pytest_llmgate.judge.providers import judge_identity

        for name, base in sorted(baselines.items()):
            old = base.fingerprints.get("judge") if base is not None else None
            new = self.suites[name].fingerprints.get("judge")
            if old and new and old != new and judge_identity(old) == new:
                self.warnings.append(
                    f"{name}: the baseline's judge fingerprint {old!r} includes a server URL; accepted as "
                    f"{new!r} (same provider and model). Run --llm-gate-update to record it without the URL."
                )

    # -- xdist ------------------------------------------------------------------------------
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
        for key in data.get("errored", []):
            if key not in self.errored:
                self.errored.append(key)
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
    def finish(self) -> RunResults:
        """Compare with baselines, decide, write results/reports, and (update mode) baselines."""
        try:
            return self._finish()
        finally:
            self.spill.close()
            if self.spill.failed:
                self.warnings.append(self.spill.failed)

    def _finish(self) -> RunResults:
        settings = self.settings
        for suite in self.suites.values():
            suite.cases = dict(sorted(suite.cases.items()))
            prepare_suite(suite)
            suite.metrics = dict(sorted(suite.metrics.items()))
        baselines = {name: self.baseline(name) for name in sorted(self.suites)}
        self._url_fingerprint_notes(baselines)
        rejudged = self._apply_rejudged(baselines)
        if settings.rejudge_baseline and not rejudged:
            self.warnings.append(
                "--llm-gate-rejudge-baseline: every baseline was judged by this run's judge and rubrics; "
                "nothing was re-judged."
            )
        commit, dirty = _git_state(settings.rootdir)
        results = RunResults(
            plugin_version=plugin_version(),
            created_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
            duration=round(time.time() - self.started, 3),
            git_commit=commit,
            git_dirty=dirty,
            judge_provider=next(
                (s.fingerprints["judge"] for s in self.suites.values() if "judge" in s.fingerprints), None
            ),
            settings=settings.public(),
            suites=dict(sorted(self.suites.items())),
            baselines=baselines,
            verdicts=[],
            judge_stats=dict(sorted(self.judge_stats.items())),
            gate=GateResult(status="PASS", passed=True),
            judge_price=self.judge_price,
            rejudged=rejudged,
        )
        self._jury_and_warnings(results)
        paths = {name: self._relative(self.baseline_file(name)) for name in self.suites}
        self.warnings += record_run_context(results, self.dataset_ids, settings.rootdir, settings.baseline_dir)
        extra = self._calibrate(results) + self._judge_reasons()
        results = evaluate(results, baseline_paths=paths, extra_reasons=extra)
        for verdict in results.verdicts:
            if verdict.suite in self.baseline_errors:
                verdict.problems = [p for p in verdict.problems if not p.startswith("no baseline")]
                verdict.problems.insert(0, self.baseline_errors[verdict.suite])
        if self.baseline_errors:
            results = results.model_copy(
                update={
                    "gate": GateResult(
                        status="FAIL",
                        passed=False,
                        reasons=list(self.baseline_errors.values()) + results.gate.reasons,
                        remedy=results.gate.remedy or "Re-run with --llm-gate-update to accept the new scores.",
                    )
                }
            )
        if self.judge_missing and not results.gate.passed:
            # A replay miss is not a regression: the cache lacks the call.
            remedy = "Run once without --llm-gate-replay to fill the cache, then replay."
            results = results.model_copy(update={"gate": results.gate.model_copy(update={"remedy": remedy})})
        if settings.shard:
            index, count = settings.shard
            line = (
                f"shard {index}/{count}: partial run, merge with `llmgate merge` to gate "
                f"({self._relative(settings.results_path)} and the other shards' results files)."
            )
            results = results.model_copy(
                update={"gate": GateResult(status=results.gate.status, passed=True, reasons=[line])}
            )
        if settings.update:
            refusals = self._update_refusals(results)
            if refusals:
                self.results = results.model_copy(
                    update={
                        "gate": GateResult(
                            status="FAIL",
                            passed=False,
                            reasons=["baselines not updated, nothing written:", *refusals],
                            remedy="Fix the cause above, then re-run with --llm-gate-update.",
                        )
                    }
                )
                return self.results
            for verdict in results.verdicts:
                verdict.problems = [_in_update_terms(problem) for problem in verdict.problems]
            written = self._write_baselines(results.baselines)
            results = results.model_copy(
                update={
                    "gate": GateResult(
                        status="PASS",
                        passed=True,
                        reasons=[
                            f"baselines updated: {len(written)} file(s) written; the comparison shown is "
                            f"against the previous baselines."
                        ],
                    )
                }
            )
        self.results = results
        self._write_outputs(results, only_results=bool(settings.shard))
        return results

    def _jury_and_warnings(self, results: RunResults) -> None:
        """Inter-judge agreement of a jury, and the self-preference warning, into the results."""
        if results.judge_provider is None:
            return
        from pytest_llmgate.judge.jury import agreement, self_preference_warnings

        judges = list(self.settings.judges or (self.settings.judge,))
        results.judge_warnings += self_preference_warnings(judges, self.settings.sut_model)
        if len(judges) < 2:
            return
        scales: dict[str, tuple[int, int] | None] = {}
        aggregates: dict[str, str] = {}
        for rubric in self._used_rubrics(results):
            single = rubric.kind == "pointwise" and rubric.mode == "single"
            scales[rubric.name] = (rubric.scale_min, rubric.scale_max) if single else None
            aggregates[rubric.name] = rubric.aggregate or self.settings.jury_aggregate
        results.jury = agreement(results, scales, aggregates)

    def _used_rubrics(self, results: RunResults) -> list[Any]:
        """The rubrics the suites' fingerprints name (loaded again on an xdist controller)."""
        rubrics = self.rubrics
        if not rubrics:
            from pytest_llmgate.judge.rubrics import RubricError, load_pack, load_rubrics

            try:
                rubrics = {**load_pack(), **load_rubrics(self.settings.rubrics_dir)}
            except RubricError:
                return []
        hashes = {value for suite in results.suites.values() for key, value in suite.fingerprints.items()}
        return [rubric for rubric in rubrics.values() if rubric.content_hash in hashes]

    def _update_refusals(self, results: RunResults) -> list[str]:
        """Why this run must not become the baseline: errors outside checks, judge errors, nothing run."""
        from pytest_llmgate.gate.verdict import judge_error_reasons

        reasons = []
        if self.errored:
            shown = ", ".join(self.errored[:10]) + (
                f" and {len(self.errored) - 10} more" if len(self.errored) > 10 else ""
            )
            reasons.append(f"{len(self.errored)} case(s) errored outside their checks: {shown}")
        reasons += judge_error_reasons(results, self.settings.max_judge_error_rate)
        reasons += self._judge_reasons()
        if not any(suite.cases for suite in self.suites.values()):
            reasons.append("no case ran (all deselected or skipped); an update needs the cases it rewrites")
        return reasons

    def _judge_reasons(self) -> list[str]:
        reasons = []
        if self.judge_missing:
            shown = ", ".join(sorted(self.judge_missing)[:10])
            more = f" and {len(self.judge_missing) - 10} more" if len(self.judge_missing) > 10 else ""
            reasons.append(
                f"replay: {len(self.judge_missing)} judge call(s) are not in the cache: {shown}{more}. "
                f"Run once without --llm-gate-replay to record them."
            )
        if self.budget_exhausted:
            reasons.append(
                f"the judge token budget ({self.settings.budget_tokens}) ran out: verdicts after it "
                f"are judge errors. Raise --llm-gate-budget-tokens or judge fewer cases."
            )
        if self.budget_usd_exhausted:
            reasons.append(
                f"the judge dollar budget (${self.settings.budget_usd:g}) ran out: verdicts after it "
                f"are judge errors. Raise --llm-gate-budget-usd or judge fewer cases."
            )
        if self.unjudged_by_deadline:
            reasons.append(
                f"the judge deadline ({self.settings.judge_deadline:g} s) was reached: "
                f"{self.unjudged_by_deadline} judge call(s) were left unjudged and counted as judge errors. "
                f"Raise --llm-gate-judge-deadline; a rerun pays only for what is missing (the rest is cached)."
            )
        return reasons

    def _calibrate(self, results: RunResults) -> list[str]:
        """Agreement of the judge with human labels, when labels exist (and the gate on it)."""
        if not results.judge_stats and not self.settings.min_agreement:
            return []
        labels_dir = self.settings.labels_dir
        if not self.settings.min_agreement and not (labels_dir.is_dir() and any(labels_dir.glob("*.jsonl"))):
            return []  # no labels, no threshold: nothing to calibrate, and scipy.stats stays unimported
        from pytest_llmgate.calibration.integration import calibrate_run

        calibration, reasons = calibrate_run(results, self.settings)
        results.calibration.update(calibration)
        return reasons

    def _write_baselines(self, compared: dict[str, Baseline | None]) -> list[Path]:
        """Write every suite's baseline; deselected cases are kept from the baseline compared with
        (re-judged, when it was: so no value of the old judge survives under the new fingerprint)."""
        written = []
        for name, result in sorted(self.suites.items()):
            if not result.cases:
                continue  # every case deselected: the committed file stays as it is
            path = self.baseline_file(name)
            previous = None if name in self.baseline_errors else compared.get(name, self._baselines.get(name))
            whole = self.spill.whole_suite(name, result)
            baseline = build_baseline(whole, previous, set(self.dataset_ids.get(name, [])))
            write_baseline(path, baseline)
            written.append(path)
        self.written += written
        return written

    def _write_outputs(self, results: RunResults, *, only_results: bool = False) -> None:
        from pytest_llmgate._files import atomic_write_chunks, atomic_write_text
        from pytest_llmgate.gate.records import results_json_chunks

        settings = self.settings
        atomic_write_chunks(settings.results_path, results_json_chunks(results, restore=self.spill.restore))
        self.written.append(settings.results_path)
        if only_results:
            return
        if settings.save_outputs_path is not None:
            from pytest_llmgate.sut import outputs_lines

            atomic_write_text(settings.save_outputs_path, outputs_lines(self.spill.whole(results.suites)))
            self.written.append(settings.save_outputs_path)
        try:
            from pytest_llmgate.report.html import render_html
            from pytest_llmgate.report.markdown import append_github_step_summary, render_markdown
        except ImportError as exc:  # the report package is optional while it is being built
            self.warnings.append(f"report not written: {exc}")
            return
        render_html(results, settings.html_path, restore=self.spill.restore)
        self.written.append(settings.html_path)
        markdown = render_markdown(results, report_path=relative_link(settings.html_path, settings.markdown_path))
        atomic_write_text(settings.markdown_path, markdown)
        self.written.append(settings.markdown_path)
        append_github_step_summary(markdown)

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.settings.rootdir).as_posix()
        except ValueError:
            return path.as_posix()


def failure_text(exc: BaseException) -> str:
    """How a failed check reads in the results: a CheckFailed's message, else the exception's line."""
    import traceback

    if type(exc).__name__ == "CheckFailed":
        return str(exc)[:4000]
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]


def _in_update_terms(problem: str) -> str:
    """A verdict problem as an update run reports it: no advice to run the update it is."""
    if problem.startswith("no baseline"):
        return "no previous baseline: this update creates it."
    return problem.replace(" " + UPDATE_REMEDY, "").replace(f"Regenerate it: {UPDATE_REMEDY}", "rewritten now.")


def merge_rubric_stats(a: RubricStats | None, b: RubricStats) -> RubricStats:
    """Sum two processes' judge statistics for one rubric."""
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
