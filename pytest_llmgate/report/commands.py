"""`llmgate report`: re-render the HTML report (and markdown) from a results file."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from pytest_llmgate.gate.records import FORMAT_VERSION, RunResults

__all__ = ["load_results", "report"]


def load_results(path: Path) -> RunResults:
    """Load a results file, or raise `click.ClickException` naming the file and what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"Cannot read results file '{path}': {exc}."
        raise click.ClickException(msg) from exc
    try:
        results = RunResults.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "file"
        count = exc.error_count()
        more = f" (and {count - 1} more error{'s' if count > 2 else ''})" if count > 1 else ""
        msg = (
            f"'{path}' is not a valid llm-gate results file: {where}: {first.get('msg', 'invalid')}{more}. "
            "Re-create it with `pytest --llm-gate`."
        )
        raise click.ClickException(msg) from exc
    if results.format_version != FORMAT_VERSION:
        msg = (
            f"'{path}' has results format {results.format_version}, this plugin reads format {FORMAT_VERSION}. "
            "Re-create it with `pytest --llm-gate`."
        )
        raise click.ClickException(msg)
    return results


@click.command("report")
@click.argument("results_file", metavar="RESULTS.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--compare",
    "compare_file",
    metavar="OTHER.json",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="An earlier results file to compare with (shown as 'before').",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the HTML report. Default: RESULTS.json with the suffix .html.",
)
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the markdown summary to this file. Default: not written.",
)
def report(results_file: Path, compare_file: Path | None, output: Path | None, markdown_file: Path | None) -> None:
    """Render the HTML report for RESULTS.json, optionally compared with OTHER.json."""
    from pytest_llmgate.report.html import render_html
    from pytest_llmgate.report.markdown import write_markdown

    results = load_results(results_file)
    compare = load_results(compare_file) if compare_file is not None else None
    target = output if output is not None else results_file.with_suffix(".html")
    path = render_html(results, target, compare=compare)
    click.echo(f"Report written to {path}")
    if markdown_file is not None:
        from pytest_llmgate.report.links import relative_link

        written = write_markdown(results, markdown_file, report_path=relative_link(path, markdown_file))
        click.echo(f"Markdown summary written to {written}")
