"""`llmgate merge`: gate once over the results of several shards (`--llm-gate-shard I/N`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pytest_llmgate._files import atomic_write_text, dumps
from pytest_llmgate.gate.records import GateResult, RunResults
from pytest_llmgate.report.commands import load_results


def merge_results(parts: list[RunResults]) -> RunResults:
    """One run from several shards: cases united per suite, judge statistics summed, verdict recomputed."""
    from pytest_llmgate.gate.repeats import prepare_suite
    from pytest_llmgate.gate.verdict import evaluate
    from pytest_llmgate.run import merge_rubric_stats

    first = parts[0]
    suites = {}
    baselines = dict(first.baselines)
    stats = {}
    paths: dict[str, str] = {}
    for part in parts:
        for name, suite in part.suites.items():
            if name not in suites:
                suites[name] = suite.model_copy(deep=True)
                continue
            mine = suites[name]
            if mine.fingerprints.get("dataset") != suite.fingerprints.get("dataset"):
                msg = f"suite {name}: the shards ran different versions of {suite.dataset}; re-run them on one commit."
                raise click.ClickException(msg)
            overlap = set(mine.cases) & set(suite.cases)
            if overlap:
                msg = (
                    f"suite {name}: case(s) {sorted(overlap)[:5]} appear in more than one shard; merge each shard once."
                )
                raise click.ClickException(msg)
            mine.cases.update(suite.cases)
            mine.cases = dict(sorted(mine.cases.items()))
            mine.fingerprints.update(suite.fingerprints)
            for metric, spec in suite.metrics.items():
                mine.metrics.setdefault(metric, spec)
            mine.repeat = max(mine.repeat, suite.repeat)
            mine.repeat_binary = sorted(set(mine.repeat_binary) | set(suite.repeat_binary))
        for name, baseline in part.baselines.items():
            if baselines.get(name) is None:
                baselines[name] = baseline
        for rubric, stat in part.judge_stats.items():
            stats[rubric] = merge_rubric_stats(stats.get(rubric), stat)
        for verdict in part.verdicts:
            paths.setdefault(verdict.suite, verdict.baseline_path)
    for suite in suites.values():
        prepare_suite(suite)
    settings = dict(first.settings, shard=None)
    merged = first.model_copy(
        update={
            "suites": dict(sorted(suites.items())),
            "baselines": baselines,
            "judge_stats": dict(sorted(stats.items())),
            "settings": settings,
            "duration": round(sum(p.duration for p in parts), 3),
            "verdicts": [],
            "gate": GateResult(status="PASS", passed=True),
        }
    )
    return evaluate(merged, baseline_paths=paths)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("reports/llm-gate.json"),
    show_default=True,
    help="Merged results file.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("reports/llm-gate.html"),
    show_default=True,
    help="HTML report of the merged run.",
)
def merge(results: tuple[Path, ...], output: Path, html_path: Path) -> None:
    """Merge the results files of shards and gate once; exit 1 when the gate fails."""
    from pytest_llmgate.report.terminal import render

    merged = merge_results([load_results(path) for path in results])
    atomic_write_text(output, dumps(merged.model_dump(mode="json"), compact=True))
    try:
        from pytest_llmgate.report.html import render_html
    except ImportError:
        render_html = None
    if render_html is not None:
        render_html(merged, html_path)
    click.echo(render(merged, width=120, color=sys.stdout.isatty()), nl=False)
    click.echo(f"wrote {output}")
    if not merged.gate.passed:
        sys.exit(1)
