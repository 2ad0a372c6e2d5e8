"""The `llmgate` command: label, labels import, calibrate, report, merge, validate."""

from __future__ import annotations

import sys

import click

from pytest_llmgate.calibration.commands import calibrate, label
from pytest_llmgate.gate.commands import merge
from pytest_llmgate.report.commands import report


@click.group()
@click.version_option(package_name="pytest-llmgate")
def main() -> None:
    """pytest-llmgate tools around the results of `pytest --llm-gate`."""


main.add_command(label)
main.add_command(calibrate)
main.add_command(report)
main.add_command(merge)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def validate(pytest_args: tuple[str, ...]) -> None:
    """Check golden sets, rubrics, labels and baselines without running a test; exit 4 on any problem.

    PYTEST_ARGS (paths, -k, -c, --rootdir) select the suites as they would for pytest.
    """
    from pytest_llmgate.validate import validate_project

    sys.exit(validate_project(list(pytest_args)))
