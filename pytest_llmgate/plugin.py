"""pytest hooks of pytest-llmgate: options, the `golden` marker, the `llm_gate` fixture, session end.

Thin on purpose: logic lives in `run`, `datasets`, `gate` and `report`, imported only when
`--llm-gate` is given, so an ordinary pytest session pays nothing for the plugin.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmgate._rootdir import pytest_load_initial_conftests as pytest_load_initial_conftests
from pytest_llmgate.config import read_settings
from pytest_llmgate.options import add_options

if TYPE_CHECKING:
    from pytest_llmgate.recorder import CaseDesk
    from pytest_llmgate.session import GateSession as GateRun

SKIP_REASON = "LLM gate evals run with --llm-gate"
MARKER_KWARGS = ("model", "tolerance", "alpha", "metrics", "primary", "slices", "sut", "repeat")
CHECK_FAILED = "check failed"
USAGE_PREFIX = "LLM gate usage error: "
run_key = pytest.StashKey["GateRun"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "golden(path, *, model=Case, tolerance=None, alpha=None, metrics=None, primary=None, slices=None, sut=None, "
        "repeat=1): parametrize the test with the cases of a golden JSONL set, one item per case, and gate on its "
        "metrics with --llm-gate; sut= (a callable or a fixture name) is called concurrently for the cases and feeds "
        "the 'output' fixture.",
    )
    settings = read_settings(config)
    if not settings.enabled:
        config.pluginmanager.register(SkipEvals(), "llmgate-off")
        return
    if _is_worker(config):
        from dataclasses import replace

        from pytest_llmgate.config import worker_budgets, worker_concurrency

        workerinput = config.workerinput  # type: ignore[attr-defined]
        share = worker_concurrency(settings.concurrency, workerinput)
        tokens, usd = worker_budgets(settings.budget_tokens, settings.budget_usd, workerinput)
        settings = replace(settings, progress=False, concurrency=share, budget_tokens=tokens, budget_usd=usd)
    from pytest_llmgate.judge.spec import JudgeConfigError, parse_spec
    from pytest_llmgate.session import GateSession as GateRun
    from pytest_llmgate.sut import OutputsFileError

    try:
        for spec in settings.judges or (settings.judge,):
            parse_spec(spec)
    except JudgeConfigError as exc:
        raise pytest.UsageError(f"--llm-gate-judge: {exc}") from None
    problems: list[str] = []
    if not _is_worker(config):
        from pytest_llmgate.validate import check_project

        # Rubrics, labels and min_agreement names, before any test: a late error would waste every call.
        _, problems = check_project(settings)
        if problems and not config.option.collectonly:
            raise pytest.UsageError(*problems)
    if not _is_worker(config):  # what killed runs left: temp files beside baselines and reports, spill files
        from pytest_llmgate.gate.spill import sweep_killed_runs

        sweep_killed_runs(settings.baseline_dir, settings.results_path.parent, settings.html_path.parent)
    try:
        run = GateRun(settings)
    except OutputsFileError as exc:
        raise pytest.UsageError(f"--llm-gate-outputs: {exc}") from None
    budget_problem = run.budget_problem()
    if budget_problem:
        raise pytest.UsageError(budget_problem)
    if _is_worker(config):
        run.warmup.disable()
    run.problems += problems  # --collect-only (llmgate validate): listed with the collection's problems
    config.stash[run_key] = run
    config.pluginmanager.register(GatePlugin(run), "llmgate-run")
    if not _is_worker(config):
        from pytest_llmgate.interrupts import guard_interrupts

        config.add_cleanup(guard_interrupts())
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(run), "llmgate-xdist")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _golden_problems(marker: pytest.Mark, where: str) -> list[str]:
    """What is wrong with a golden marker's arguments, each line starting with the test's file:line."""
    from pytest_llmgate.validate import check_marker

    if len(marker.args) != 1 or not isinstance(marker.args[0], (str, Path)):
        return [f"{where}: @pytest.mark.golden takes one path to a JSONL golden set (got {marker.args!r})."]
    unknown = sorted(set(marker.kwargs) - set(MARKER_KWARGS))
    if unknown:
        return [f"{where}: @pytest.mark.golden got unknown argument(s) {unknown}; use {', '.join(MARKER_KWARGS)}."]
    from pytest_llmgate.gate.verdict import gating_options

    problems = [f"{where}: @pytest.mark.golden {problem}" for problem in check_marker(dict(marker.kwargs))]
    try:
        gating_options(marker.kwargs.get("primary"), marker.kwargs.get("slices"))
    except ValueError as exc:
        problems.append(f"{where}: @pytest.mark.golden: {exc}")
    return problems


def _golden_marker(metafunc: pytest.Metafunc) -> pytest.Mark | None:
    """The test's golden marker (None for other tests); a golden test must take a 'case' argument."""
    marker = metafunc.definition.get_closest_marker("golden")
    if marker is not None and "case" not in metafunc.fixturenames:
        msg = f"{metafunc.definition.nodeid}: a test marked @pytest.mark.golden must take a 'case' argument."
        pytest.fail(msg, pytrace=False)
    return marker


def _parametrize_cases(run: GateRun, metafunc: pytest.Metafunc, marker: pytest.Mark) -> None:
    """Register the suite with the run and parametrize the test with its golden set's active cases."""
    suite = metafunc.definition.nodeid
    from pytest_llmgate.datasets import REVIEW_KEY, Case, DatasetError, dataset_fingerprint, is_active, load_cases

    file, line, _ = metafunc.definition.location
    where = f"{file}:{line + 1}" if line is not None else file
    from pytest_llmgate.validate import golden_set_problems, primary_problems

    problems = _golden_problems(marker, where) + primary_problems(marker.kwargs, where, run.settings.rubrics_dir)
    if problems:
        _defer(run, metafunc, problems)
        return
    path, kwargs = str(marker.args[0]), dict(marker.kwargs)
    model = kwargs.pop("model", None) or Case
    sut, repeat = kwargs.pop("sut", None), kwargs.pop("repeat", None)
    problems = _sut_problems(where, sut, repeat, "output" in metafunc.fixturenames, run.outputs_file is not None)
    if problems:
        _defer(run, metafunc, problems)
        return
    problem = None
    try:
        every_case = load_cases(path, model=model, rootdir=run.settings.rootdir, include_inactive=True)
        fingerprint = dataset_fingerprint(_resolve(path, run.settings.rootdir))
    except (DatasetError, TypeError) as exc:
        problem = f"{where}: {exc}" if isinstance(exc, TypeError) else str(exc)
    if problem is not None:  # outside the except: no "During handling of the above exception"
        _defer(run, metafunc, golden_set_problems(path, model, run.settings.rootdir) or [problem])
        return
    cases = [c for c in every_case if is_active(c)]
    pending = sum(1 for c in every_case if c.metadata.get(REVIEW_KEY) == "pending")
    run.register_suite(
        suite,
        _display_path(path, run.settings.rootdir),
        fingerprint,
        [c.id for c in cases],
        kwargs,
        pending=pending,
        tags=[str(tag) for c in cases for tag in (getattr(c, "tags", None) or [])],
    )
    from pytest_llmgate.gate.design import announce  # units per test, slices that cannot FAIL

    announce(metafunc.config, run, suite, cases)
    newer = run.newer_baseline_problem(suite)
    if newer:
        _defer(run, metafunc, [newer])
        return
    from_file = run.outputs_count(suite, [c.id for c in cases]) if "output" in metafunc.fixturenames else None
    run.register_sut(suite, sut, run.settings.repeat or repeat or from_file or 1)
    if run.settings.shard:
        index, count = run.settings.shard
        cases = [c for i, c in enumerate(cases) if i % count == index - 1]
    metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def _sut_problems(where: str, sut: Any, repeat: Any, takes_output: bool, outputs_file: bool) -> list[str]:
    """What is wrong with a golden marker's `sut=` and `repeat=`, for the test's signature."""
    where = f"{where}: @pytest.mark.golden"
    problems = []
    if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1):
        problems.append(f"{where}: 'repeat' must be a positive integer (got {repeat!r}).")
    if sut is not None and not (callable(sut) or isinstance(sut, str)):
        problems.append(
            f"{where}: 'sut' must be a callable or the name of a fixture returning one (got {type(sut).__name__})."
        )
    elif sut is not None and not takes_output:
        problems.append(f"{where}(sut=...): the test must take an 'output' argument to receive the SUT's output.")
    if takes_output and sut is None and not outputs_file:
        problems.append(f"{where}: the 'output' argument needs sut= on the marker (or --llm-gate-outputs FILE.jsonl).")
    return problems


def _defer(run: GateRun, metafunc: pytest.Metafunc, problems: list[str]) -> None:
    """Keep a usage error for the end of collection (raised there once, exit 4), and collect no case.

    An xdist worker cannot stop the session: it reports a collection error, which the
    controller turns into exit 4 (`XdistHooks`).
    """
    if _is_worker(metafunc.config):
        pytest.fail(USAGE_PREFIX + "\n".join(problems), pytrace=False)
    run.problems += [p for p in problems if p not in run.problems]
    metafunc.parametrize(
        "case", [pytest.param(None, marks=pytest.mark.skip(reason="invalid golden set"))], ids=["invalid"]
    )


def _resolve(path: str, rootdir: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else rootdir / candidate


def _display_path(path: str, rootdir: Path) -> str:
    resolved = _resolve(path, rootdir)
    try:
        return resolved.relative_to(rootdir).as_posix()
    except ValueError:
        return resolved.as_posix()


def _suite_of(item: pytest.Item) -> str:
    return item.nodeid.split("[", 1)[0]


#: Per item: its golden case, or None (looked up once; each item's hooks and fixtures ask for it).
_case_key = pytest.StashKey[Any]()


def _golden_case(item: pytest.Item) -> Any:
    found = item.stash.get(_case_key, _case_key)
    if found is not _case_key:
        return found
    callspec = getattr(item, "callspec", None)
    case = None
    if callspec is not None and item.get_closest_marker("golden") is not None:
        case = callspec.params.get("case")
    item.stash[_case_key] = case
    return case


class SkipEvals:
    """Registered without --llm-gate: golden tests collect as one skipped item, the fixtures skip."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if _golden_marker(metafunc) is not None:
            metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON), id="golden")])

    @pytest.fixture
    def llm_gate(self) -> Any:
        """Record this case's output, metrics and judge requests for the gate (see pytest_llmgate.LLMGate)."""
        pytest.skip(SKIP_REASON)

    @pytest.fixture
    def output(self) -> Any:
        """The case's output from the marker's `sut=` (called concurrently) or from --llm-gate-outputs."""
        pytest.skip(SKIP_REASON)


class GatePlugin:
    """The gated run's hooks, registered in `pytest_configure` only with --llm-gate (as pytest's
    stepwise and junitxml plugins are): each hook hands its part of the session to `run`."""

    def __init__(self, run: GateRun) -> None:
        self.run = run

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        marker = _golden_marker(metafunc)
        if marker is not None:
            _parametrize_cases(self.run, metafunc, marker)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.run.problems:
            raise pytest.UsageError(*self.run.problems)

    @pytest.fixture
    def llm_gate(self, request: pytest.FixtureRequest) -> Any:
        """Record this case's output, metrics and judge requests for the gate (see pytest_llmgate.LLMGate)."""
        case = _golden_case(request.node)
        if case is None:
            msg = "the llm_gate fixture needs a test marked @pytest.mark.golden(...) that takes a 'case' argument."
            raise pytest.UsageError(msg)
        from pytest_llmgate.recorder import LLMGate

        return LLMGate(_case_desk(self.run, _suite_of(request.node), case, request.node.nodeid))

    @pytest.fixture
    def output(self, request: pytest.FixtureRequest) -> Any:
        """The case's output from the marker's `sut=` (called concurrently) or from --llm-gate-outputs."""
        case = _golden_case(request.node)
        if case is None:
            msg = (
                "the output fixture needs a test marked @pytest.mark.golden(..., sut=...) that takes a 'case' argument."
            )
            raise pytest.UsageError(msg)
        return self.run.case_outputs(request, _suite_of(request.node), case)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        run = self.run
        # unused lines and in-body suites of an outputs file, said in the summary
        from pytest_llmgate.sut import outputs_file_notes

        run.notes += outputs_file_notes(run.outputs_file, run.dataset_ids, _golden_suites(items))
        # An xdist worker cannot stop the session here: its items fail one by one instead (run.case_outputs).
        if run.outputs_file is None or _is_worker(config):
            return
        wanted = [
            (_suite_of(item), case.id)
            for item in items
            if "output" in getattr(item, "fixturenames", ()) and (case := _golden_case(item)) is not None
        ]
        problem = run.check_outputs_file(wanted)
        if problem and problem not in run.problems:
            run.problems.append(problem)  # raised by pytest_collection_finish with the others, exit 4

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Any:
        __tracebackhide__ = True
        case = _golden_case(pyfuncitem)
        if case is None:
            return None
        return self.run.call_test(pyfuncitem, _suite_of(pyfuncitem), case)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        case = _golden_case(item)
        if case is not None:
            _record_report(self.run, item, call, report, case)
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if report.when == "call" and getattr(report, "llm_gate_check_failed", False):
            return CHECK_FAILED, "c", ("CHECK FAILED", {"yellow": True})
        return None

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest raises its own Interrupted (a KeyboardInterrupt) after collection errors: not a Ctrl-C.
        if excinfo.errisinstance(KeyboardInterrupt) and type(excinfo.value).__name__ != "Interrupted":
            self.run.interrupted = True

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        status = _finish_session(self.run, session, exitstatus)
        if status is not None:
            session.exitstatus = status

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """After junitxml wrote its file: add the judge metrics that were not known when it wrote each case."""
        xml_path = getattr(config.option, "xmlpath", None)
        if self.run.results is None or not xml_path or _is_worker(config):
            return
        path = Path(xml_path)
        if path.exists():
            from pytest_llmgate.report.junit import amend_junit

            amend_junit(path, self.run.results)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if _is_worker(config):
            return
        from pytest_llmgate.report.terminal import write_summary

        write_summary(terminalreporter, self.run)


def _case_desk(run: GateRun, suite: str, case: Any, nodeid: str) -> CaseDesk:
    """What the `llm_gate` fixture's object may use of the session for one case: its record and
    bound callables, never the session itself (as junitxml's `record_property` is one function)."""
    from functools import partial

    from pytest_llmgate.recorder import CaseDesk

    return CaseDesk(
        suite=suite,
        case=case,
        record=run.case_record(suite, case, nodeid),
        declare_metric=partial(run.declare_metric, suite),
        count_external=lambda name, error: run.count_external(name, error=error),
        submit_judge=partial(run.submit_judge, suite),
        batching=run.batching,
        rubric_needs=run.rubric_needs,
    )


def _golden_suites(items: list[pytest.Item]) -> list[tuple[str, bool]]:
    """(suite, takes the `output` argument) of every golden item."""
    return [(_suite_of(i), "output" in getattr(i, "fixturenames", ())) for i in items if _golden_case(i) is not None]


def _record_report(run: GateRun, item: pytest.Item, call: pytest.CallInfo[None], report: Any, case: Any) -> None:
    """A golden item's outcome into its case record: a failed check is data for the gate, an error is noted."""
    excinfo = call.excinfo
    if excinfo is not None and excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        return
    if call.when != "call":
        if report.failed:
            run.note_error(_suite_of(item), case.id, excinfo.exconly() if excinfo is not None else report.longreprtext)
        return
    record = run.case_record(_suite_of(item), case, item.nodeid)
    failure = None
    if excinfo is not None:
        failure = excinfo.exconly()
        if type(excinfo.value).__name__ == "CheckFailed":
            failure = str(excinfo.value)
        failure = failure[:4000]
        if excinfo.errisinstance(AssertionError) and report.failed:
            # A failed check is data for the gate, not a failed build: the gate decides.
            report.outcome = "passed"
            report.llm_gate_check_failed = True
        else:
            run.note_error(_suite_of(item), case.id, failure)
    run.finish_case(record, passed=excinfo is None, failure=failure, duration=call.duration)
    if getattr(item.config.option, "xmlpath", None):  # junitxml is their only reader; they cost memory per case
        for name, value in sorted(record.metrics.items()):
            item.user_properties.append((sys.intern(f"llm_gate.{name}"), value))


def _finish_session(run: GateRun, session: pytest.Session, exitstatus: int) -> int | None:
    """End the gated run: collect the judge, gate (controller) or ship the records (xdist worker).

    Returns the exit status the gate sets, or None to leave pytest's."""
    run.close_sut()
    if run.interrupted:
        run.stop()
    elif exitstatus in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.INTERRUPTED):
        run.stop(f"not gated, no file written: the session stopped early (exit {int(exitstatus)}).")
    elif session.config.option.collectonly:
        run.stop("")
    else:
        run.collect_judges()
    if run.stopped is not None:
        return pytest.ExitCode.INTERRUPTED if run.interrupted else None
    if _is_worker(session.config):
        session.config.workeroutput["llm_gate"] = run.worker_payload()  # type: ignore[attr-defined]
        return None
    if not run.suites:
        return None
    try:
        results = run.finish()
    except OSError as exc:
        run.warnings.append(f"could not write the gate's files: {exc}")
        return pytest.ExitCode.TESTS_FAILED
    if not results.gate.passed and session.exitstatus == pytest.ExitCode.OK:
        return pytest.ExitCode.TESTS_FAILED
    return None


class XdistHooks:
    """Registered with --llm-gate when pytest-xdist is present: merge what each worker recorded."""

    def __init__(self, run: GateRun) -> None:
        self.run = run
        self.usage_error = False

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and USAGE_PREFIX in str(report.longrepr):
            self.usage_error = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.usage_error and not _is_worker(session.config):
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get("llm_gate")
        if payload:
            self.run.merge_payload(payload)
