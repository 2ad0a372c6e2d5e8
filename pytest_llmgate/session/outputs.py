"""The SUT feed: the `output` fixture from the SUT runner or an outputs file, submit-ahead, repeats."""

from __future__ import annotations

from typing import Any

from pytest_llmgate.gate.records import (
    CaseResult,
    MetricSpec,
    RepeatResult,
)
from pytest_llmgate.gate.verdict import CHECKS_METRIC
from pytest_llmgate.session.cases import CasesJob
from pytest_llmgate.session.state import SUT_SECONDS_METRIC
from pytest_llmgate.sut import (
    SutCall,
    SutError,
    SutRunner,
    check_output,
    failure_message,
    process_items,
)


class OutputsJob(CasesJob):
    """The SUT feed: the `output` fixture from the SUT runner or an outputs file, submit-ahead, repeats."""

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
            calls = self.outputs_file.calls(suite, case.id)[:runs]
        else:
            runner = self.sut_runner()
            fn = self._sut_callable(request, suite)
            key = (suite, case.id)
            runner.submit(key, fn, case, runs)
            self._submit_ahead(request.session, suite, fn, runs)
            capture = request.config.pluginmanager.getplugin("capturemanager")
            suspend = capture.global_and_fixture_disabled if capture is not None else None
            calls = runner.wait(key, progress=self.settings.progress, suspend=suspend, idle=self.warmup.while_waiting)
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
        """Submit the suite's other items this process will run (on xdist: those queued to it so
        far, each looked at once)."""
        if suite in self._sut_all_submitted:
            return
        worker = hasattr(session.config, "workerinput")
        seen = self._ahead_seen.setdefault(suite, set()) if worker else None
        calls = []
        for item in process_items(session, seen):
            callspec = getattr(item, "callspec", None)
            if callspec is None or item.nodeid.split("[", 1)[0] != suite:
                continue
            case = callspec.params.get("case")
            if case is not None:
                calls.append(((suite, case.id), fn, case))
        self.sut_runner().submit_many(calls, runs)
        if not worker:
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


def failure_text(exc: BaseException) -> str:
    """How a failed check reads in the results: a CheckFailed's message, else the exception's line."""
    import traceback

    if type(exc).__name__ == "CheckFailed":
        return str(exc)[:4000]
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
