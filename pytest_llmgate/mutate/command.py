"""`llmgate mutate`: plant one regression per operator in this run's outputs, gate each like a
real run, and report which the suites catch.

One pytest session gets the unmutated outputs (calling the SUT with `--llm-gate-save-outputs`,
or re-gating a saved file), then one session per operator gates the mutated outputs file
(`--llm-gate-outputs`: no SUT call; unmutated cases are judge-cache hits). An operator is planted
in every suite it applies to at once: suites are gated independently, so one session serves all.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_llmgate.mutate.estimate import Estimate, estimate
from pytest_llmgate.mutate.operators import Operator, all_operators
from pytest_llmgate.mutate.plant import (
    MutateError,
    Planted,
    plant,
    read_outputs,
    shapes_of,
    suites_of,
    write_outputs,
)
from pytest_llmgate.mutate.report import Mutant, MutationReport, SuiteReport, lines, score_line, write_html, write_json
from pytest_llmgate.mutate.runs import (
    Session,
    SuiteOutcome,
    check_args,
    run_session,
    spend_of,
    split_budget,
    suite_outcome,
)

#: Default share of a suite's cases each operator mutates. A mutant must be a regression a
#: perfect metric would FAIL: the demo's checks tolerate a 10-point drop and scores 5 points, so
#: with 10 % a check failing every mutated case drops by exactly its tolerance and is never
#: caught. At 20 % it drops twice the tolerance (a judge score that halves on mutated cases
#: drops 10 points), and most cases stay as they were: a partial regression, as real ones are.
DEFAULT_RATE = 0.20
USAGE = 4


@dataclass
class Options:
    """The command's settings."""

    pytest_args: list[str]
    outputs: Path | None
    """A saved outputs file to mutate instead of running the SUT."""
    operators: list[str]
    """Operator names or groups (text, tools, retrieval, json, user); empty: all."""
    rate: float
    seed: int
    min_score: float | None
    json_path: Path
    html_path: Path
    dry_run: bool = False


def load_user_operators(pytest_args: Sequence[str]) -> None:
    """Import the project's conftest.py files (a collect-only pytest session, in this process) so
    their `@mutation_operator` functions register."""
    import contextlib
    import io

    import pytest

    args = ["--collect-only", "-p", "no:terminal", "-p", "no:cacheprovider", *pytest_args]
    if importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]
    # silent: a problem of the args shows, in full, in the unmutated session that follows
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(args)


def select(names: Sequence[str], available: Sequence[Operator]) -> list[Operator]:
    """The operators `--operators` names (names or groups), in their listed order; all by default."""
    if not names:
        return list(available)
    wanted: list[Operator] = []
    for name in names:
        found = [op for op in available if op.name == name or op.group == name]
        if not found:
            known = ", ".join(op.name for op in available)
            msg = f"unknown mutation operator '{name}'; choose among: {known} (or a group: text, tools, retrieval, json, user)."
            raise MutateError(msg)
        wanted += [op for op in found if op not in wanted]
    return wanted


def _describe_shape(planted_shape: object) -> str:
    from pytest_llmgate.mutate.operators import Shape

    assert isinstance(planted_shape, Shape)
    parts = []
    if planted_shape.text is not None:
        parts.append("text" + (f" in '{planted_shape.text}'" if planted_shape.text else ""))
    if planted_shape.tools is not None:
        parts.append("tool calls" + (f" in '{planted_shape.tools}'" if planted_shape.tools else ""))
    if planted_shape.retrieval is not None:
        parts.append(f"retrieved ids in '{planted_shape.retrieval}'")
    if planted_shape.json and planted_shape.required:
        parts.append(f"JSON fields {', '.join(planted_shape.required)}")
    return "; ".join(parts) or "nothing an operator can change"


def _estimate_line(found: Estimate, mutants: int) -> str:
    from pytest_llmgate.judge.pricing import describe_dollars

    if found.price.startswith("offline"):
        tokens = "no tokens"
    elif found.tokens is None:
        tokens = "tokens unknown (no judge call of the unmutated run or the baselines' runs recorded any)"
    else:
        tokens = f"about {found.tokens:,} tokens"
    dollars = describe_dollars(found.dollars)
    return (
        f"estimate: {mutants} mutant session(s), at most {found.calls} judge call(s), {tokens}, {dollars} "
        f"({found.price}); cached calls are free"
    )


def _unmutated(args: list[str], folder: Path, outputs: Path | None, budget: float | None) -> tuple[Session, Path]:
    """The unmutated session: re-gating a saved outputs file, or calling the SUT and saving its outputs."""
    if outputs is not None:
        return run_session(args, folder / "unmutated", outputs=outputs, budget_usd=budget), outputs
    saved = folder / "unmutated.jsonl"
    return run_session(args, folder / "unmutated", save_outputs=saved, budget_usd=budget), saved


def _free(results: dict[str, object]) -> bool:
    settings = results.get("settings")
    judges = settings.get("judges") if isinstance(settings, dict) else None
    return isinstance(judges, list) and bool(judges) and all(str(j).startswith("offline") for j in judges)


def run_mutate(options: Options, echo: Callable[[str], None]) -> int:
    """`llmgate mutate`; 0, or 1 when `--min-score` is not met, or 4 when mutation testing cannot run."""
    try:
        return _run(options, echo)
    except MutateError as exc:
        echo(f"ERROR: {exc}")
        return USAGE


def _run(options: Options, echo: Callable[[str], None]) -> int:
    check_args(options.pytest_args)
    args, budget = split_budget(options.pytest_args)
    if not 0 < options.rate <= 1:
        msg = f"'--rate' must be in (0, 1] (got {options.rate})."
        raise MutateError(msg)
    load_user_operators(args)
    operators = select(options.operators, all_operators())
    folder = options.json_path.parent / options.json_path.stem
    spent = 0.0

    echo("llmgate mutate: gating the unmutated outputs")
    base, outputs_file = _unmutated(args, folder, options.outputs, budget)
    if budget is not None and base.results is not None and _free(base.results):
        # the offline judge is free, and a dollar budget on it makes every judge request fail
        echo("the offline judge is free: --llm-gate-budget-usd does not apply")
        budget = None
        base, outputs_file = _unmutated(args, folder, options.outputs, budget)
    if base.results is None or not outputs_file.is_file():
        tail = "\n".join(base.output.strip().splitlines()[-15:])
        msg = (
            f"the unmutated run (pytest exit {base.exit_code}) wrote no results to mutate:\n{tail}\n"
            "Fix it so `pytest --llm-gate` runs (a baseline must exist: `pytest --llm-gate --llm-gate-update`)."
        )
        raise MutateError(msg)
    base_spend = spend_of(base.results)
    spent += base_spend.dollars or 0.0
    rows = read_outputs(outputs_file)
    suites = suites_of(base.results)
    shapes = shapes_of(rows, suites)
    reports: dict[str, SuiteReport] = {}
    for name, info in suites.items():
        outcome = suite_outcome(base.results, name)
        suite_report = SuiteReport(suite=name, cases=len(info.case_ids), baseline_gate=outcome.gate)
        if outcome.status == "caught":
            why = "; ".join(c.metric for c in outcome.caught_by)
            suite_report.skipped = (
                f"the unmutated run FAILs already ({why}), so every mutant would count as caught; fix that "
                "or accept it with --llm-gate-update, then mutate"
            )
        elif outcome.status == "unscored":
            suite_report.skipped = f"the unmutated run did not gate it ({outcome.note})"
        else:
            echo(f"  {name}: {len(info.case_ids)} cases; outputs hold {_describe_shape(shapes[name])}")
        reports[name] = suite_report
    live = {name: info for name, info in suites.items() if not reports[name].skipped}

    planted: list[tuple[Operator, Path, list[Planted]]] = []
    for operator in operators:
        mutated, found = plant(rows, live, operator, rate=options.rate, seed=options.seed, shapes=shapes)
        path = folder / f"{operator.name}.jsonl"
        if found:
            write_outputs(path, mutated)
            planted.append((operator, path, found))
        else:
            path.unlink(missing_ok=True)
    everything = [p for _, _, found in planted for p in found]
    echo(_estimate_line(estimate(base.results, everything), len(planted)))
    if budget is not None:
        echo(f"budget: ${budget:g} for the whole command (the unmutated run spent ${spent:.4g})")

    report = MutationReport(seed=options.seed, rate=options.rate, suites=[], operators=[op.name for op in operators])
    for index, (operator, path, found) in enumerate(planted, start=1):
        if options.dry_run:
            outcomes = {p.suite: SuiteOutcome(status="unscored", gate="not gated", note="--dry-run") for p in found}
        elif budget is not None and spent >= budget:
            note = f"the judge budget (--llm-gate-budget-usd {budget:g}) was spent"
            outcomes = {p.suite: SuiteOutcome(status="unscored", gate="not gated", note=note) for p in found}
        else:
            remaining = None if budget is None else budget - spent
            session = run_session(args, folder / operator.name, outputs=path, budget_usd=remaining)
            spend = spend_of(session.results)
            spent += spend.dollars or 0.0
            report.calls += spend.calls
            report.cache_hits += spend.cache_hits
            if spend.dollars is None or report.dollars is None:
                report.dollars = None
            else:
                report.dollars += spend.dollars
            outcomes = {p.suite: suite_outcome(session.results, p.suite) for p in found}
            if session.results is None:
                tail = " | ".join(session.output.strip().splitlines()[-3:])
                for outcome in outcomes.values():
                    outcome.note = f"pytest exit {session.exit_code}: {tail}"
        for p in found:
            reports[p.suite].mutants.append(
                Mutant(
                    suite=p.suite,
                    operator=operator.name,
                    description=operator.description,
                    cases=p.cases,
                    eligible=p.eligible,
                    outcome=outcomes[p.suite],
                    outputs_file=path.as_posix(),
                    example=p.example,
                )
            )
        shown = ", ".join(f"{outcomes[p.suite].status}" for p in found)
        echo(f"  [{index}/{len(planted)}] {operator.name}: {shown}")
    report.suites = [reports[name] for name in sorted(reports)]

    echo("")
    for line in lines(report):
        echo(line)
    echo(f"judge calls sent by the mutants: {report.calls} ({report.cache_hits} cache hits)")
    if options.dry_run:
        echo(f"dry run: the mutated outputs files are in {folder.as_posix()}/; no mutant gated, no report written")
        return 0
    write_json(report, options.json_path)
    write_html(report, options.html_path)
    echo(f"wrote {options.json_path.as_posix()}")
    echo(f"report: {options.html_path.as_posix()}")
    caught, total = report.score()
    if options.min_score is not None:
        achieved = 100.0 * caught / total if total else 0.0
        if achieved < options.min_score:
            echo(
                f"llmgate mutate: FAIL: {score_line(caught, total)} is below --min-score {options.min_score:g}%; "
                "add the checks or rubrics that catch the blind spots above."
            )
            return 1
    return 0
