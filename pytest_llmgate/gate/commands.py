"""`llmgate merge`: gate once over the results of several shards (`--llm-gate-shard I/N`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pytest_llmgate._files import atomic_write_chunks
from pytest_llmgate.gate.records import (
    GateResult,
    RubricStats,
    RunFacts,
    RunResults,
    merge_rubric_stats,
    results_json_chunks,
)
from pytest_llmgate.report.commands import load_results


def merge_results(parts: list[RunResults]) -> RunResults:
    """One run from several shards: cases united per suite, judge statistics and facts (replay misses,
    budgets, errors) summed, calibration recomputed over every case, then the verdict the whole
    run would have had (`gate.verdict.evaluate`, as the live run)."""
    from pytest_llmgate.gate.repeats import prepare_suite
    from pytest_llmgate.gate.verdict import evaluate

    first = parts[0]
    suites = {}
    baselines = dict(first.baselines)
    stats: dict[str, RubricStats] = {}
    paths: dict[str, str] = {}
    facts = RunFacts()
    infos: dict[str, dict[str, object]] = {}
    labels: list[dict[str, object]] = []
    for part in parts:
        facts.merge(part.facts)
        for rubric, entry in part.calibration.items():
            infos.setdefault(rubric, entry)
        labels = labels or part.labels
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
            "facts": facts,
            "labels": labels,
            "calibration": {},
        }
    )
    if labels or settings.get("min_agreement"):
        from pytest_llmgate.calibration.integration import recalibrate

        merged.calibration = recalibrate(merged, infos)
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
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the markdown summary of the merged run to this file. Default: not written.",
)
def merge(results: tuple[Path, ...], output: Path, html_path: Path, markdown_path: Path | None) -> None:
    """Merge the results files of shards and gate once; exit 1 when the gate fails."""
    from pytest_llmgate.report.terminal import render

    merged = merge_results([load_results(path) for path in results])
    atomic_write_chunks(output, results_json_chunks(merged))  # one case at a time, not one string
    from pytest_llmgate.report.html import render_html

    render_html(merged, html_path)
    if markdown_path is not None:
        from pytest_llmgate.report.links import relative_link
        from pytest_llmgate.report.markdown import write_markdown

        click.echo(
            f"wrote {write_markdown(merged, markdown_path, report_path=relative_link(html_path, markdown_path))}"
        )
    click.echo(render(merged, width=120, color=sys.stdout.isatty()), nl=False)
    click.echo(f"wrote {output}")
    if not merged.gate.passed:
        sys.exit(1)


@click.command()
@click.argument(
    "results_file", metavar="[RESULTS.json]", required=False, type=click.Path(path_type=Path, dir_okay=False)
)
@click.option(
    "--drop", type=float, default=None, help="The drop of the mean to catch (FAIL), e.g. 0.05; omit to size PASS only."
)
@click.option("--metric", default=None, help="Plan this metric (default: every primary metric).")
@click.option("--power", type=float, default=0.8, show_default=True, help="Chance of each goal (catch / certify).")
@click.option(
    "--discordance",
    type=float,
    default=None,
    help="Without a results file: the share of cases whose pass/fail flips between runs.",
)
@click.option(
    "--sd", type=float, default=None, help="Without a results file: the sd of the per-case change of a score."
)
@click.option(
    "--step",
    type=float,
    default=None,
    help="Without a results file, with --sd: the score's smallest change (e.g. 0.25 for 1-5 judge scores). "
    "Default: 0 (a continuous score).",
)
@click.option(
    "--cluster-size",
    type=float,
    default=1.0,
    show_default=True,
    help="Without a results file: mean cases per declared cluster (with --sd: the sd must be the cluster-robust one).",
)
@click.option(
    "--tolerance", type=float, default=None, help="Without a results file: the tolerance (default: the gate's)."
)
@click.option("--alpha", type=float, default=None, help="Without a results file: alpha (default: the gate's).")
@click.option("--primaries", type=int, default=1, show_default=True, help="Without a results file: primary metrics.")
@click.option("--cases", type=int, default=None, help="Without a results file: the set's size now (for repeats).")
def plan(
    results_file: Path | None,
    drop: float | None,
    metric: str | None,
    power: float,
    discordance: float | None,
    sd: float | None,
    step: float | None,
    cluster_size: float,
    tolerance: float | None,
    alpha: float | None,
    primaries: int,
    cases: int | None,
) -> None:
    """How many cases the gate needs to catch a drop of --drop (FAIL) and to certify its tolerance
    (PASS an unchanged app), from RESULTS.json or from assumptions."""
    from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_TOLERANCE
    from pytest_llmgate.gate.plan import (
        PlanRow,
        cases_needed,
        cases_to_certify,
        detectable_at,
        pass_probability,
        plan_from_results,
        repeats_to_certify,
    )

    if not 0 < power < 1:
        raise click.BadParameter(f"'--power' must lie between 0 and 1 (got {power!r}).", param_hint="--power")
    if drop is not None and not 0 < drop < 1e9:
        raise click.BadParameter(f"'--drop' must be a number above 0 (got {drop!r}).", param_hint="--drop")
    if results_file is not None:
        if discordance is not None or sd is not None:
            msg = "give a results file or --discordance/--sd, not both: the file's spread is the observed one."
            raise click.UsageError(msg)
        rows = plan_from_results(load_results(results_file), drop, metric=metric, power=power)
        if not rows:
            msg = f"no {'metric ' + repr(metric) if metric else 'primary metric'} with paired cases in {results_file}."
            raise click.ClickException(msg)
    else:
        if (discordance is None) == (sd is None):
            msg = "give a results file, or exactly one of --discordance (pass rates) and --sd (scores)."
            raise click.UsageError(msg)
        if cluster_size < 1:
            raise click.BadParameter(f"must be at least 1 (got {cluster_size!r}).", param_hint="--cluster-size")
        kind = "binary" if discordance is not None else "continuous"
        spread = float(discordance if discordance is not None else sd)  # type: ignore[arg-type]
        if kind == "binary" and cluster_size > 1:
            msg = "with --cluster-size, give the cluster-robust --sd of the per-case change, not --discordance."
            raise click.UsageError(msg)
        tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
        level = DEFAULT_ALPHA if alpha is None else alpha
        common = {"tolerance": tol, "alpha": level, "step": step, "cluster_size": cluster_size}
        try:
            needed = None if drop is None else cases_needed(drop, kind, spread, family=primaries, power=power, **common)  # type: ignore[arg-type]
            to_certify = cases_to_certify(kind, spread, power=power, **common)  # type: ignore[arg-type]
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        now = None if cases is None else detectable_at(cases, kind, spread, family=primaries, power=power, **common)  # type: ignore[arg-type]
        rows = [
            PlanRow(
                "assumed",
                metric or kind,
                kind,  # type: ignore[arg-type]
                cases,
                spread,
                None if now is None or now == float("inf") else now,
                drop,
                needed,
                tol,
                step=1.0 if step is None else step,
                cluster_size=cluster_size,
                pass_now=None if cases is None else pass_probability(cases, kind, spread, **common),  # type: ignore[arg-type]
                to_certify=to_certify,
                repeats=None if cases is None else repeats_to_certify(cases, kind, spread, power=power, **common),  # type: ignore[arg-type]
            )
        ]
    for line in plan_lines(rows, drop, power):
        click.echo(line)


def plan_lines(rows: list[Any], drop: float | None, power: float) -> list[str]:
    """The plan table: for each metric, what it sees now, what catching `drop` needs, what
    certifying its tolerance (an unchanged app PASSing with `power`) needs."""
    from pytest_llmgate.gate.plan import short_name

    catch = f"catch {drop:g}" if drop is not None else "catch"
    lines = [
        f"cases needed to FAIL a true drop of {drop:g} and to PASS an unchanged app, each with {power:.0%} power"
        if drop is not None
        else f"cases needed to PASS an unchanged app (certify the tolerance) with {power:.0%} power",
        "(the gate's whole rule; a regression that breaks cases raises the share that change):",
        f"{'suite':<30} {'metric':<22} {'kind':<10} {'spread':>7} {'n now':>6} {'detects now':>11} {catch:>11} "
        f"{'PASS now':>8} {'certify':>9} {'or K':>5}",
    ]
    for row in rows:
        now = "–" if row.n is None else str(row.n)
        detects = "–" if row.detectable_now is None else f"{row.detectable_now:.3f}"
        if row.drop is None:
            needed_text = "–"
        elif row.needed is not None:
            needed_text = str(row.needed)
        else:
            needed_text = "never" if row.drop <= row.tolerance else f">{1_000_000}"
        pass_now = "–" if row.pass_now is None else f"{row.pass_now:.0%}"
        certify = str(row.to_certify) if row.to_certify is not None else f">{1_000_000}"
        repeats = "–" if row.repeats is None else f"K={row.repeats}"
        lines.append(
            f"{short_name(row.suite, 30):<30} {short_name(row.metric, 22):<22} {row.kind:<10} {row.spread:>7.3f} {now:>6} "
            f"{detects:>11} {needed_text:>11} {pass_now:>8} {certify:>9} {repeats:>5}"
        )
    if drop is not None and any(drop <= row.tolerance for row in rows):
        lines.append(
            "never: the drop is not beyond the tolerance; the gate FAILs only drops beyond it. Lower the tolerance."
        )
    lines += [
        "spread: share of cases that flip (pass rates) or sd of the per-case change (scores, clustered pass rates).",
        "certify: cases with which an unchanged app PASSes (the drop shown within the tolerance); "
        "or K: repeats per case that do it on the cases you have (when the changes are run-to-run noise).",
    ]
    return lines
