"""The `llmgate` command: label, calibrate, report, merge, promote, import, review, github-comment."""

from __future__ import annotations

import click

from pytest_llmgate.calibration.commands import calibrate, label
from pytest_llmgate.gate.commands import merge
from pytest_llmgate.github import github_comment
from pytest_llmgate.golden.commands import import_command, promote_command, review_command
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
