"""The `llmgate` command: label, labels import, calibrate, report, merge, plan, promote, import, review,
rubrics, github-comment, validate, cache, history, mutate."""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pytest_llmgate.calibration.commands import calibrate, label
from pytest_llmgate.gate.commands import merge, plan
from pytest_llmgate.github import github_comment
from pytest_llmgate.golden.commands import import_command, promote_command, review_command
from pytest_llmgate.judge.commands import rubrics
from pytest_llmgate.report.commands import report

if TYPE_CHECKING:
    from pytest_llmgate.judge.cache import JudgeCache


@click.group()
@click.version_option(package_name="pytest-llmgate")
def main() -> None:
    """pytest-llmgate tools around the results of `pytest --llm-gate`."""


main.add_command(label)
main.add_command(calibrate)
main.add_command(report)
main.add_command(merge)
main.add_command(plan)
main.add_command(promote_command)
main.add_command(import_command)
main.add_command(review_command)
main.add_command(github_comment)
main.add_command(rubrics)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def validate(pytest_args: tuple[str, ...]) -> None:
    """Check golden sets, rubrics, labels and baselines without running a test; exit 4 on any problem.

    PYTEST_ARGS (paths, -k, -c, --rootdir) select the suites as they would for pytest.
    """
    from pytest_llmgate.validate_command import validate_project

    sys.exit(validate_project(list(pytest_args)))


@main.group()
def labels() -> None:
    """Human calibration labels."""


@labels.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--results",
    "results_file",
    default=Path("reports/llm-gate.json"),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file whose judged outputs the labels apply to.",
)
@click.option("--rubric", default=None, help="Rubric of every row. Default: the CSV's 'rubric' column.")
@click.option(
    "--labels-dir",
    default=Path("datasets/labels"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the labels files (<rubric>.jsonl).",
)
@click.option(
    "--rubrics-dir",
    default=Path("rubrics"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the rubric YAML files (for each rubric's scale).",
)
def import_labels(csv_file: Path, results_file: Path, rubric: str | None, labels_dir: Path, rubrics_dir: Path) -> None:
    """Append the labels of a CSV (columns case_id, label, labeler; optional rubric, suite, stratum).

    Every row must match a judged output in the results file (its output hash is filled in);
    one bad row and nothing is appended (exit 4).
    """
    from pytest_llmgate.calibration.commands import _rubric_info, _rubrics_in
    from pytest_llmgate.calibration.label_import import ImportProblems, import_labels, parse_rows
    from pytest_llmgate.report.commands import load_results

    results = load_results(results_file)
    infos = {name: _rubric_info(name, rubrics_dir, results) for name in _rubrics_in(results)}
    try:
        rows = parse_rows(csv_file, results, infos, default_rubric=rubric, shown_results=results_file.as_posix())
    except ImportProblems as exc:
        for problem in exc.problems:
            click.echo(f"ERROR: {problem}", err=True)
        click.echo(f"No label imported: fix the {len(exc.problems)} row(s) above and import again.", err=True)
        sys.exit(4)
    imported = import_labels(rows, labels_dir)
    for path, count in sorted(imported.counts.items()):
        click.echo(f"appended {count} label(s) to {path}")


def _open_cache(directory: Path) -> JudgeCache:
    from pytest_llmgate.judge.cache import CACHE_FILE, JudgeCache

    if not (directory / CACHE_FILE).is_file():
        msg = f"no judge cache at {directory / CACHE_FILE}; run `pytest --llm-gate` with a judge, or pass --dir."
        raise click.ClickException(msg)
    return JudgeCache(directory)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "–"
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


_DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".llmgate"),
    show_default=True,
    help="The judge cache folder (ini llm_gate_cache_dir).",
)


@main.group(invoke_without_command=True)
@_DIR_OPTION
@click.pass_context
def cache(ctx: click.Context, directory: Path) -> None:
    """Show the judge cache: its path, size, entries and hit rate."""
    ctx.obj = directory
    if ctx.invoked_subcommand is not None:
        return
    store = _open_cache(directory)
    try:
        summary = store.summary()
    finally:
        store.close()
    rate = "–" if summary.hit_rate is None else f"{summary.hit_rate:.1%}"
    click.echo(f"judge cache: {summary.path}")
    click.echo(f"size:        {_size(summary.size_bytes)}")
    click.echo(f"entries:     {summary.entries}")
    click.echo(f"hit rate:    {rate} ({summary.hits} hits, {summary.misses} misses)")
    click.echo(f"last used:   oldest entry {_when(summary.oldest_use)}, newest {_when(summary.newest_use)}")


@cache.command()
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    metavar="DAYS",
    help="Remove entries not used for this many days.",
)
@click.pass_obj
def prune(directory: Path, days: float) -> None:
    """Remove judge-cache entries not used for DAYS days (then compact the file)."""
    store = _open_cache(directory)
    try:
        before = store.summary()
        removed = store.prune(days)
        after = store.summary()
    finally:
        store.close()
    click.echo(
        f"removed {removed} of {before.entries} entries not used for {days:g} days; "
        f"{after.entries} left, {_size(after.size_bytes)}"
    )


@main.command()
@click.option(
    "--baseline-dir",
    default=Path("baselines"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the committed baselines (ini llm_gate_baseline_dir).",
)
@click.option(
    "--since",
    "since",
    default=None,
    metavar="REV",
    help="Commit (or tag) cumulative change and drift are measured from. Default: each baseline's first committed version.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.option(
    "--html",
    "html_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML page (one chart per metric) to this path.",
)
@click.option("--all-metrics", is_flag=True, help="Show secondary metrics too (default: the primary metrics).")
@click.option(
    "--tolerance",
    default=0.03,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Tolerance of a metric whose baseline records none (ini llm_gate_tolerance).",
)
@click.option("--fail-drift", is_flag=True, help="Exit 1 when a primary metric drifted beyond its tolerance.")
def history(
    baseline_dir: Path,
    since: str | None,
    as_json: bool,
    html_path: Path | None,
    all_metrics: bool,
    tolerance: float,
    fail_drift: bool,
) -> None:
    """Each metric's accepted baseline values across the commits that changed them, from git; drift flagged.

    Run it in a clone with the full history (in GitHub Actions: actions/checkout with fetch-depth: 0).
    Exit 4 outside git, 1 with --fail-drift when a metric drifted.
    """
    from pytest_llmgate.gate.history import HistoryError, read_history
    from pytest_llmgate.report.history import history_lines, write_history_page

    try:
        found = read_history(Path.cwd(), baseline_dir, since=since, default_tolerance=tolerance)
    except HistoryError as exc:
        click.echo(f"ERROR: {exc}", err=True)
        sys.exit(4)
    if not all_metrics:
        found = found.model_copy(update={"metrics": [m for m in found.metrics if m.primary]})
    if as_json:
        click.echo(found.model_dump_json(indent=2))
    else:
        for line in history_lines(found, all_metrics=all_metrics):
            click.echo(line)
    if html_path is not None:
        write_history_page(found, html_path, all_metrics=all_metrics)
        click.echo(f"wrote {html_path}", err=as_json)
    if fail_drift and found.drift:
        sys.exit(1)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--outputs",
    "outputs",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Mutate this saved outputs file (`--llm-gate-save-outputs`) instead of running the SUT.",
)
@click.option(
    "--operators",
    "operators",
    multiple=True,
    metavar="NAMES",
    help="Operators to plant, comma-separated names or groups (text, tools, retrieval, json, user); "
    "repeatable. Default: every operator the outputs fit.",
)
@click.option(
    "--rate",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of each suite's cases an operator mutates (drawn among the cases it changes).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the cases drawn and of the operators.")
@click.option(
    "--min-score",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="Exit 1 when the overall mutation score is below PERCENT (for CI). Default: exit 0.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/llm-gate-mutants.json"),
    show_default=True,
    help="The mutation report (JSON); the mutants' files go to the folder beside it of the same name.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/llm-gate-mutants.html"),
    show_default=True,
    help="The mutation report page (self-contained HTML).",
)
@click.option("--dry-run", is_flag=True, help="Plant the mutants and print the estimate; run no mutant.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def mutate(
    outputs: Path | None,
    operators: tuple[str, ...],
    rate: float,
    seed: int,
    min_score: float | None,
    json_path: Path,
    html_path: Path,
    dry_run: bool,
    pytest_args: tuple[str, ...],
) -> None:
    """Plant one regression per mutation operator in this run's outputs and report which the gate catches.

    PYTEST_ARGS (paths, -k, -n, --llm-gate-judge, --llm-gate-budget-usd ...) go to every
    `pytest --llm-gate` session. Exit 0, or 1 below --min-score, or 4 when it cannot run.
    """
    from pytest_llmgate.mutate.command import Options, run_mutate

    names = [name.strip() for value in operators for name in value.split(",") if name.strip()]
    options = Options(
        pytest_args=list(pytest_args),
        outputs=outputs,
        operators=names,
        rate=rate,
        seed=seed,
        min_score=min_score,
        json_path=json_path,
        html_path=html_path,
        dry_run=dry_run,
    )
    sys.exit(run_mutate(options, click.echo))
