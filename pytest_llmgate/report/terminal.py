"""The gate's section of pytest's terminal summary (rich tables, written through pytest)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_llmgate._files import printable
from pytest_llmgate._redact import provider_model
from pytest_llmgate.gate.drift import drift_lines
from pytest_llmgate.gate.reasons import reason_lines, shown_remedies
from pytest_llmgate.gate.records import MetricVerdict, RepeatStats, RunResults, SliceVerdict

if TYPE_CHECKING:
    from pytest_llmgate.config import Settings


class SessionSummary(Protocol):
    """What the terminal section reads of a gated session (the session is never imported here)."""

    results: RunResults | None
    warnings: list[str]
    notes: list[str]
    stopped: str | None
    written: list[Path]
    settings: Settings


STATUS_STYLE = {
    "pass": "green",
    "improved": "green bold",
    "fail": "red bold",
    "below_floor": "red bold",
    "inconclusive": "yellow",
    "new": "cyan",
    "no_data": "dim",
}
GATE_STYLE = {"PASS": "green bold", "FAIL": "red bold", "INCONCLUSIVE": "yellow bold"}
MAX_CASES_SHOWN = 15
#: Slice rows printed per suite before "and N more (see the report)".
MAX_SLICE_ROWS = 30


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "–" if value is None else format(value, fmt)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _interval(m: MetricVerdict) -> str:
    if m.diff is None:
        return "–"
    low = "-inf" if m.ci_low is None else f"{m.ci_low:+.3f}"
    high = "+inf" if m.ci_high is None else f"{m.ci_high:+.3f}"
    return f"[{low}, {high}]"


def _metric_row(m: MetricVerdict) -> list[str]:
    interval = _interval(m)
    diff = "–" if m.diff is None else f"{m.diff:+.3f}"
    shown_p = m.p_adjusted if m.primary else m.p_value
    p = "–" if shown_p is None else f"{shown_p:.3g}"
    arrow = "↑" if m.higher_is_better else "↓"
    style = STATUS_STYLE.get(m.status, "")
    status = m.status.upper().replace("_", " ")
    return [
        f"{m.metric} {arrow}",
        _num(m.baseline_mean),
        _num(m.current_mean),
        diff,
        interval,
        p,
        _num(m.mde),
        str(m.n_paired),
        f"[{style}]{status}[/]",
    ]


def _metric_table(metrics: list[MetricVerdict], level: float, p_header: str) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for column, justify in (
        ("metric", "left"),
        ("baseline", "right"),
        ("now", "right"),
        ("diff", "right"),
        (f"{level:.0%} CI", "right"),
        (p_header, "right"),
        ("MDE", "right"),
        ("n", "right"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for metric in metrics:
        table.add_row(*[escape(c) if i == 0 else c for i, c in enumerate(_metric_row(metric))])
    return table


def _slice_table(rows: list[tuple[SliceVerdict, MetricVerdict]], level: float) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for column, justify in (
        ("  slice", "left"),
        ("metric", "left"),
        ("baseline", "right"),
        ("now", "right"),
        ("diff", "right"),
        (f"{level:.0%} CI", "right"),
        ("p", "right"),
        ("MDE", "right"),
        ("n", "right"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for piece, m in rows:
        cells = _metric_row(m)
        name = f"  {piece.tag}" + (" (gated)" if piece.gated else "")
        table.add_row(escape(name), *[escape(c) if i == 0 else c for i, c in enumerate(cells)])
    return table


def render(results: RunResults, *, width: int = 100, color: bool = False, extra: list[str] | None = None) -> str:
    """The summary as text: per suite a metric table and case changes, judge stats, the verdict."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color or "NO_COLOR" in os.environ,
        highlight=False,
        soft_wrap=True,
        color_system="standard" if color else None,
    )
    for verdict in results.verdicts:
        suite = results.suites.get(verdict.suite)
        n_cases = len(suite.cases) if suite else 0
        dataset = suite.dataset if suite else "?"
        pending = f" (+{suite.pending_review} pending review, not gated)" if suite and suite.pending_review else ""
        console.print(
            f"[bold]{escape(verdict.suite)}[/]  {escape(dataset)}, {_plural(n_cases, 'case')}{pending}, "
            f"baseline {escape(verdict.baseline_path)}"
        )
        for problem in verdict.problems:
            console.print(f"  [red]✗[/] {escape(problem)}")
        level = verdict.metrics[0].ci_level if verdict.metrics else 0.9
        primary = [m for m in verdict.metrics if m.primary]
        secondary = [m for m in verdict.metrics if not m.primary]
        if primary:
            console.print(_metric_table(primary, level, "p (Holm)"))
        if secondary:
            console.print("  [dim]secondary metrics (reported, not gated):[/]")
            console.print(_metric_table(secondary, level, "p"))
        if verdict.slices:
            from pytest_llmgate.report.slices import order_slices, slices_heading

            rows = order_slices(verdict.slices, MAX_SLICE_ROWS)
            console.print(escape(slices_heading(verdict.slices, rows)))
            if rows.shown:
                console.print(_slice_table(rows.shown, level))
        newly = [c for c in verdict.cases if c.kind == "newly_failing"]
        known = [c for c in verdict.cases if c.kind == "known_failing"]
        fixed = [c for c in verdict.cases if c.kind == "fixed"]
        if newly:
            console.print(f"  [red]{_plural(len(newly), 'newly failing case')}[/]:")
            for change in newly[:MAX_CASES_SHOWN]:
                first = " | ".join(line.strip() for line in (change.failure or "").strip().splitlines()[:3])[:200]
                console.print(f"    {escape(change.case_id)}  {escape(first)}")
            if len(newly) > MAX_CASES_SHOWN:
                console.print(f"    … and {len(newly) - MAX_CASES_SHOWN} more (see the report)")
        if known:
            ids = ", ".join(c.case_id for c in known[:MAX_CASES_SHOWN])
            more = f" and {len(known) - MAX_CASES_SHOWN} more" if len(known) > MAX_CASES_SHOWN else ""
            console.print(f"  known failing (failed in the baseline too): {escape(ids)}{more}")
        if fixed:
            console.print(f"  [green]fixed[/]: {escape(', '.join(c.case_id for c in fixed[:MAX_CASES_SHOWN]))}")
        if suite is not None and suite.repeat_stats is not None:
            _print_repeats(console, suite.repeat_stats)
        console.print()
    if results.judge_stats:
        table = Table(
            title=f"judge: {provider_model(results.judge_provider) or '?'}",
            title_justify="left",
            box=None,
            pad_edge=False,
            padding=(0, 1),
            header_style="bold",
        )
        from pytest_llmgate.judge.pricing import cost_line, describe_dollars, run_cost

        claims = any(stat.no_claims for stat in results.judge_stats.values())
        columns = ["rubric", "verdicts", "errors", "consistent", "1st-pos rate", "calls", "cache hits", "tokens"]
        for column in [*columns, "cache read", "cost"] + (["no claims"] if claims else []):
            table.add_column(column, justify="left" if column == "rubric" else "right", no_wrap=True)
        for stat in results.judge_stats.values():
            consistent = (
                f"{stat.consistent_pairs}/{stat.swapped_pairs} ({stat.consistent_pairs / stat.swapped_pairs:.0%})"
                if stat.swapped_pairs
                else "–"
            )
            table.add_row(
                escape(stat.rubric),
                str(stat.verdicts),
                str(stat.errors),
                consistent,
                _num(stat.first_position_rate, ".2f"),
                str(stat.calls),
                str(stat.cache_hits),
                str(stat.input_tokens + stat.output_tokens),
                str(stat.cache_read_tokens),
                "–" if stat.cost_usd is None else describe_dollars(stat.cost_usd),
                *([str(stat.no_claims)] if claims else []),
            )
        console.print(table)
        cost = run_cost(results)
        if cost is not None:
            console.print(escape(cost_line(cost)))
        for suite_id, note in results.rejudged.items():
            console.print(f"{escape(suite_id)}: {escape(note)}")
        console.print()
    for line in extra or []:
        console.print(line, markup=False)
    for warning in results.judge_warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    for line in drift_lines(results):
        console.print(f"[yellow]drift:[/] {escape(line)}")
    gate = results.gate
    shard = results.settings.get("shard")
    if shard:
        console.print(f"LLM gate: [bold]partial run[/] (shard {escape(str(shard))})")
    else:
        console.print(f"LLM gate: [{GATE_STYLE[gate.status]}]{gate.status}[/]")
    for line in reason_lines(gate.reasons):
        console.print(f"  - {escape(line)}")
    for remedy in shown_remedies(gate.reasons, gate.remedy):
        console.print(f"  {escape(remedy)}")
    return buffer.getvalue()


def _print_repeats(console: Any, stats: RepeatStats) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pytest_llmgate.gate.repeats import FLAKY_METRIC, summary_rows

    k = stats.k
    console.print(f"  repeats: every case run {k} times ({_plural(stats.cases, 'case')})")
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for column in ("  metric", "pass@1", f"pass@{k}", f"pass^{k}", "within-case var", "flaky"):
        table.add_column(column, justify="left" if column == "  metric" else "right", no_wrap=True)
    for row in summary_rows(stats):
        table.add_row(
            "  " + escape(row["metric"]),
            row["pass_at_1"],
            row["pass_at_k"],
            row["pass_hat_k"],
            row["variance"],
            row["flaky"],
        )
    console.print(table)
    flaky = stats.flaky.get(FLAKY_METRIC, [])
    if flaky:
        more = f" and {len(flaky) - MAX_CASES_SHOWN} more" if len(flaky) > MAX_CASES_SHOWN else ""
        shown = ", ".join(flaky[:MAX_CASES_SHOWN])
        console.print(
            f"  [yellow]{_plural(len(flaky), 'flaky case')}[/] (checks differ across runs): {escape(shown)}{more}"
        )


def write_summary(terminalreporter: Any, run: SessionSummary) -> None:
    """Write the gate's section; nothing when there is nothing to say."""
    tr = terminalreporter
    if run.results is None and not run.warnings and not run.stopped:
        return
    tr.write_sep("=", "LLM gate")
    for warning in run.warnings:
        tr.write_line(f"warning: {warning}", yellow=True)
    for note in run.notes:
        tr.write_line(note)
    if run.stopped:
        tr.write_line(f"LLM gate: {run.stopped}", yellow=True)
    if run.results is None:
        return
    from pytest_llmgate.judge.jury import agreement_lines

    extra = agreement_lines(run.results.jury) + _calibration_lines(run.results)
    text = render(run.results, width=max(tr._tw.fullwidth, 120), color=tr.hasmarkup, extra=extra)
    tr.write(printable(text))  # pytest would print a lone surrogate's whole section escaped
    root = run.settings.rootdir

    def shown(path: Path) -> str:
        try:
            return str(path.relative_to(root))
        except ValueError:
            return str(path)

    report = run.settings.html_path
    for path in run.written:
        if path != report:
            tr.write_line(f"wrote {shown(path)}")
    if report in run.written:
        tr.write_line(f"report: {shown(report)}", bold=True)


def _calibration_lines(results: RunResults) -> list[str]:
    if not results.calibration:
        return []
    try:
        from pytest_llmgate.calibration.integration import calibration_lines
    except ImportError:
        return []
    return calibration_lines(results.calibration)
