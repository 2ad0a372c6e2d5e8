"""The `llmgate` command: label, calibrate, report, merge, baseline."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="pytest-llmgate")
def main() -> None:
    """pytest-llmgate tools around the results of `pytest --llm-gate`."""


def _register() -> None:
    for module, name in (
        ("pytest_llmgate.report.commands", "report"),
        ("pytest_llmgate.calibration.commands", "label"),
        ("pytest_llmgate.calibration.commands", "calibrate"),
        ("pytest_llmgate.gate.commands", "merge"),
    ):
        try:
            command = getattr(__import__(module, fromlist=[name]), name)
        except (ImportError, AttributeError):
            continue
        main.add_command(command)


_register()
