"""Click commands `llmgate promote`, `llmgate import` and `llmgate review` (added to the group in cli.py)."""

from __future__ import annotations

import configparser
import getpass
import importlib
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pytest_llmgate.datasets import Case, DatasetError

from .lock import GoldenSetBusy, golden_lock
from .scrub import Scrubber, load_scrubber
from .sets import GoldenSetFile

SCRUBBER_INI = "llm_gate_scrubber"


def _ini_scrubber(rootdir: Path) -> str | None:
    """`llm_gate_scrubber` from pyproject.toml's [tool.pytest.ini_options], or pytest.ini / tox.ini / setup.cfg."""
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        value = data.get("tool", {}).get("pytest", {}).get("ini_options", {}).get(SCRUBBER_INI)
        if value:
            return str(value)
    for name, section in (("pytest.ini", "pytest"), ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = rootdir / name
        if path.is_file():
            parser = configparser.ConfigParser()
            parser.read(path, encoding="utf-8")
            if parser.has_option(section, SCRUBBER_INI):
                return parser.get(section, SCRUBBER_INI).strip() or None
    return None


def _scrubber(spec: str | None) -> Scrubber:
    try:
        return load_scrubber(spec if spec is not None else _ini_scrubber(Path.cwd()))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _model(spec: str | None) -> type[Case]:
    if not spec:
        return Case
    module_name, _, attr = spec.partition(":")
    try:
        model = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        msg = f"'--model' {spec!r} cannot be loaded ({exc}); give module:Class of a Case subclass."
        raise click.ClickException(msg) from None
    if not (isinstance(model, type) and issubclass(model, Case)):
        msg = f"'--model' {spec!r} is not a subclass of pytest_llmgate.Case."
        raise click.ClickException(msg)
    return model


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The golden set's writer lock, as a command error when another writer keeps it too long."""
    try:
        with golden_lock(path):
            yield
    except GoldenSetBusy as exc:
        raise click.ClickException(str(exc)) from None


def _target(path: Path, model: type[Case]) -> GoldenSetFile:
    try:
        return GoldenSetFile(path, model=model)
    except DatasetError as exc:
        raise click.ClickException(f"{exc} (fix the golden set before adding to it)") from None


def _report(target: GoldenSetFile, added: list[str], duplicates: list[tuple[str, str]], what: str) -> None:
    for source, existing in duplicates:
        click.echo(f"skipped {source}: same input as {existing}")
    if not added:
        click.echo(f"nothing appended to {target.path}: no new {what}.")
        return
    shown = ", ".join(added[:10]) + (f" and {len(added) - 10} more" if len(added) > 10 else "")
    click.echo(f"appended {len(added)} pending case(s) to {target.path}: {shown}")
    click.echo(f"They count once a person writes their reference: llmgate review {target.path}")


model_option = click.option("--model", "model_spec", metavar="MODULE:CLASS", help="Case subclass of the golden set.")
scrubber_option = click.option(
    "--scrubber",
    metavar="MODULE:FUNCTION",
    default=None,
    help=f"Extra scrubbing after the built-in one. Default: ini {SCRUBBER_INI}, else the built-in only.",
)
to_option = click.option(
    "--to",
    "target_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Golden set to append to (created if missing).",
)


@click.command("promote")
@click.argument("results_file", metavar="RESULTS.json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--status",
    "statuses",
    multiple=True,
    required=True,
    type=click.Choice(["newly-failing", "regressed", "known-failing", "judge-inconsistent"]),
    help="Which cases to promote (repeat for several).",
)
@to_option
@click.option("--suite", "suites", multiple=True, help="Only cases of this suite (repeatable). Default: all.")
@model_option
@scrubber_option
def promote_command(
    results_file: Path,
    statuses: tuple[str, ...],
    target_path: Path,
    suites: tuple[str, ...],
    model_spec: str | None,
    scrubber: str | None,
) -> None:
    """Append cases of a gated run to a golden set, pending review (no reference until a person writes one)."""
    from pytest_llmgate.report.commands import load_results

    from .promote import promote

    results = load_results(results_file)
    model, scrub = _model(model_spec), _scrubber(scrubber)
    with _locked(target_path):
        target = _target(target_path, model)
        try:
            outcome = promote(results, results_file.as_posix(), statuses, target, scrub, suites=suites)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        target.write()
    if not outcome.selected:
        click.echo(f"no case of {results_file} is {' or '.join(statuses)}.")
    _report(target, outcome.added, outcome.duplicates, "cases")


@click.command("import")
@click.argument("traces_file", metavar="TRACES", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@to_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "otlp"]),
    required=True,
    help="jsonl: one JSON object per line; otlp: OpenTelemetry GenAI spans as OTLP JSON.",
)
@click.option("--input-field", default="input", show_default=True, help="jsonl: field holding the input (dotted).")
@click.option("--output-field", default=None, help="jsonl: field holding the output. Default: `output` when present.")
@click.option("--tool-calls-field", default=None, help="jsonl: field holding tool calls [{name, arguments}].")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep traces whose field (jsonl, dotted) or span attribute / name / status (otlp) equals VALUE. Repeatable.",
)
@click.option("--sample", "n", type=click.IntRange(min=1), default=None, help="Import at most N new cases (seeded).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--tag", "tags", multiple=True, help="Tag every imported case (repeatable).")
@model_option
@scrubber_option
def import_command(
    traces_file: Path,
    target_path: Path,
    fmt: str,
    input_field: str,
    output_field: str | None,
    tool_calls_field: str | None,
    filters: tuple[str, ...],
    n: int | None,
    seed: int,
    tags: tuple[str, ...],
    model_spec: str | None,
    scrubber: str | None,
) -> None:
    """Append production traces to a golden set, de-duplicated and pending review."""
    from .traces import TraceError, parse_filters, prepare_cases, queue_cases, read_jsonl_traces, read_otlp_traces

    shown = traces_file.as_posix()
    try:
        pairs = parse_filters(filters)
        text = traces_file.read_text(encoding="utf-8")
        skipped = 0
        if fmt == "jsonl":
            traces = read_jsonl_traces(
                text, shown, input_field=input_field, output_field=output_field, tool_calls_field=tool_calls_field
            )
        else:
            traces, skipped = read_otlp_traces(text, shown)
    except (TraceError, ValueError) as exc:
        raise click.ClickException(f"{exc} Nothing was appended.") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{shown}: not UTF-8 text. Nothing was appended.") from None
    model = _model(model_spec)
    prepared = prepare_cases(traces, _scrubber(scrubber), source_file=shown, fmt=fmt, filters=pairs, tags=tags)
    with _locked(target_path):  # scrubbed before: the lock is held only to read, de-duplicate and write
        target = _target(target_path, model)
        outcome = queue_cases(prepared, target, read=len(traces), n=n, seed=seed)
        target.write()
    other = f", {skipped} other span(s) passed over" if skipped else ""
    click.echo(f"read {outcome.read} trace(s){other}; {outcome.matched} matched the filters.")
    _report(target, outcome.added, outcome.duplicates, "traces")


@click.command("review")
@click.argument("golden_set", metavar="GOLDEN.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reviewer", default=None, help="Your name, stored with each review. Default: the login name.")
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0 = any free)."
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser; print the URL only.")
@model_option
def review_command(golden_set: Path, reviewer: str | None, port: int, no_browser: bool, model_spec: str | None) -> None:
    """Write the reference of pending cases in a browser page on 127.0.0.1; approved cases join the set."""
    from pytest_llmgate import localapp

    from .review import ReviewSession

    try:
        session = ReviewSession(golden_set, reviewer or getpass.getuser(), model=_model(model_spec))
    except (DatasetError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    count = len(session.pending())

    def describe(url: str) -> str:
        return f"Reviewing {count} pending case(s) of {golden_set} as {session.reviewer!r} at {url} - Ctrl-C to stop."

    localapp.serve(session, describe, port, open_browser=not no_browser, announce=_echo)


def _echo(text: Any) -> None:
    click.echo(text)
