"""The `llmgate` command: label, labels import, calibrate, report, merge, promote, import, review,
rubrics, github-comment, validate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pytest_llmgate.calibration.commands import calibrate, label
from pytest_llmgate.gate.commands import merge
from pytest_llmgate.github import github_comment
from pytest_llmgate.golden.commands import import_command, promote_command, review_command
from pytest_llmgate.judge.commands import rubrics
from pytest_llmgate.report.commands import report


@click.group()
@click.version_option(package_name="pytest-llmgate")
def main() -> None:
    """pytest-llmgate tools around the results of `pytest --llm-gate`."""


main.add_command(label)
main.add_command(calibrate)
main.add_command(report)
main.add_command(merge)
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
