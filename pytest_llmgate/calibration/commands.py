"""Click commands `llmgate label` and `llmgate calibrate` (added to the `llmgate` group in cli.py)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import click

from pytest_llmgate.gate.records import RunResults
from pytest_llmgate.report.commands import load_results

from .labels import DEFAULT_LABELS_DIR, LabelFileError, labels_path, load_labels, rubric_key
from .sampling import STRATA
from .scales import RubricInfo, load_rubric_info


def _rubric_info(name: str, rubrics_dir: Path, results: RunResults) -> RubricInfo:
    """The kind and scale of rubric `name`: from `rubrics_dir`, else the built-in pack, else
    (pass/fail and pairwise only) from the verdicts."""
    name = rubric_key(name)
    try:
        return load_rubric_info(name, rubrics_dir)
    except FileNotFoundError:
        kinds = {
            verdict.kind
            for suite in results.suites.values()
            for case in suite.cases.values()
            for verdict in case.judge
            if verdict.rubric == name
        }
        if kinds and kinds <= {"pass_fail", "pairwise"} and len(kinds) == 1:
            return RubricInfo(name=name, kind=kinds.pop())
        msg = (
            f"rubric {name!r} is neither in {rubrics_dir} nor built in; pass --rubrics-dir with its YAML "
            "(a pointwise scale is needed)."
        )
        raise click.ClickException(msg) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _rubrics_in(results: RunResults) -> list[str]:
    return sorted(
        {verdict.rubric for suite in results.suites.values() for case in suite.cases.values() for verdict in case.judge}
    )


@click.command("label")
@click.argument("results_file", metavar="RESULTS.json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rubric", help="Rubric to label. Default: the only rubric in the results.")
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labels file. Default: datasets/labels/<rubric>.jsonl.",
)
@click.option("--labeler", default=None, help="Your name, stored with each label. Default: the login name.")
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0 = any free)."
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    help="Label a seeded uniform sample of N outputs. Default: all.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sample and of the pairwise order.")
@click.option(
    "--strata",
    "strata",
    multiple=True,
    type=click.Choice(STRATA),
    help="Extra stratum to add (repeatable), reported apart from the uniform sample.",
)
@click.option(
    "--per-stratum", default=10, show_default=True, type=click.IntRange(min=1), help="Outputs per extra stratum."
)
@click.option(
    "--rubrics-dir",
    default="rubrics",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder of rubric YAML files (for the kind and scale).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just print the URL.")
def label(
    results_file: Path,
    rubric: str | None,
    labels_file: Path | None,
    labeler: str | None,
    port: int,
    sample: int | None,
    seed: int,
    strata: tuple[str, ...],
    per_stratum: int,
    rubrics_dir: Path,
    no_browser: bool,
) -> None:
    """Label judged outputs in a local web page, blind to the judge's verdict."""
    from .app import LabelSession, serve

    results = load_results(results_file)
    if rubric is None:
        names = _rubrics_in(results)
        if len(names) != 1:
            msg = f"--rubric is required: the results hold {len(names)} rubrics ({', '.join(names) or 'none'})."
            raise click.UsageError(msg)
        rubric = names[0]
    rubric = rubric_key(rubric)
    info = _rubric_info(rubric, rubrics_dir, results)
    try:
        session = LabelSession.create(
            results,
            info,
            labels_file or labels_path(rubric),
            labeler or getpass.getuser(),
            sample=sample,
            seed=seed,
            strata=strata,
            per_stratum=per_stratum,
        )
    except (LabelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None

    def announce(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    serve(session, port, open_browser=not no_browser, announce=announce)


def parse_thresholds(values: tuple[str, ...]) -> dict[str, float]:
    """`rubric=0.4` pairs into a mapping."""
    thresholds: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            thresholds[rubric_key(name.strip())] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            msg = f"'--min-agreement' must look like RUBRIC=0.4 (got {value!r})."
            raise click.BadParameter(msg)
    return thresholds


@click.command("calibrate")
@click.argument("results_file", metavar="RESULTS.json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--labels-dir",
    default=str(DEFAULT_LABELS_DIR),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder of <rubric>.jsonl label files.",
)
@click.option(
    "--rubrics-dir",
    default="rubrics",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder of rubric YAML files (for the kind and scale).",
)
@click.option(
    "--min-agreement",
    "min_agreement",
    multiple=True,
    metavar="RUBRIC=VALUE",
    help="Fail (exit 1) when the rubric's agreement statistic is below VALUE (repeatable).",
)
@click.option("--statistic", default="kappa_low", show_default=True, help="Statistic compared with --min-agreement.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap intervals.")
@click.option(
    "--half-width",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0.001, max=1.0),
    help="Also say how many uniform labels an accuracy interval of +/- this width needs.",
)
def calibrate(
    results_file: Path,
    labels_dir: Path,
    rubrics_dir: Path,
    min_agreement: tuple[str, ...],
    statistic: str,
    seed: int,
    half_width: float,
) -> None:
    """Print judge-human agreement and calibrated estimates per rubric."""
    from rich.console import Console

    from .calibrate import calibrate as run_calibration
    from .calibrate import calibration_table, check_min_agreement

    results = load_results(results_file)
    thresholds = parse_thresholds(min_agreement)
    present = _rubrics_in(results)
    names = sorted(set(present) | set(thresholds))
    labels: list[Any] = []
    rubrics: dict[str, Any] = {}
    try:
        for name in names:
            labels += load_labels(labels_path(name, labels_dir), missing_ok=True)
            if name in present:
                rubrics[name] = _rubric_info(name, rubrics_dir, results)
        calibration = run_calibration(results, labels, rubrics, seed=seed)
        failures = check_min_agreement(calibration, thresholds, statistic) if thresholds else []
    except (LabelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    import sys

    from .sampling import labels_needed

    Console(width=None if sys.stdout.isatty() else 160).print(calibration_table(calibration))
    for name in present:
        judged = sum(
            1
            for suite in results.suites.values()
            for case in suite.cases.values()
            for verdict in case.judge
            if verdict.rubric == name and verdict.error is None
        )
        if judged:
            needed = labels_needed(half_width, population=judged)
            have = calibration.get(name, {}).get("n_labels", 0)
            click.echo(
                f"{name}: a 95% accuracy interval of +/-{half_width:g} over {judged} judged outputs needs "
                f"about {needed} uniform labels (worst case); {have} applicable now."
            )
    for entry in calibration.values():
        if entry["n_stale"]:
            click.echo(f"{entry['rubric']}: {entry['n_stale']} labels are of older outputs (stale) and were ignored.")
    for line in failures:
        click.echo(f"FAIL {line}", err=True)
    if failures:
        raise SystemExit(1)
