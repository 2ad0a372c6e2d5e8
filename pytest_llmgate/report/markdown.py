"""The markdown summary: verdict, metric tables and newly failing cases, short enough for a PR.

Strings from the run (suite names, case ids, reasons) are escaped so they show as text in
GitHub-flavoured markdown: no table breaks, no links, no raw HTML.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from pytest_llmgate._files import UNENCODABLE
from pytest_llmgate._redact import provider_model
from pytest_llmgate.gate.reasons import reason_lines, shown_remedies
from pytest_llmgate.gate.records import MetricVerdict, RepeatStats, RunResults
from pytest_llmgate.report.html import atomic_write_text, fmt, fmt_p, fmt_signed

__all__ = ["append_github_step_summary", "render_markdown", "write_markdown"]

#: Newly failing case ids listed per suite before "and N more".
MAX_CASE_IDS = 20
#: Slice rows of a suite shown before the rest of its flagged rows (gated first, then the worst).
MAX_SLICE_ROWS = 30
#: GitHub caps a PR comment at 65,536 characters; stay well below.
MAX_CHARS = 60_000
#: Inline markdown syntax; line-start syntax (`-`, `+`, `1.`) cannot occur: text never starts a line.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]|~!#$])")
_ICONS = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️"}


def md_escape(text: object, limit: int = 300) -> str:
    """One line of untrusted text as inert markdown: HTML entities, escaped specials, capped."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MARKDOWN_SPECIALS.sub(r"\\\1", value)
    # Direction overrides and isolates would reorder the rest of the line when rendered.
    return re.sub("[\u202a-\u202e\u2066-\u2069]", lambda m: f"U+{ord(m.group()):04X}", value)


def render_markdown(results: RunResults, *, report_path: str | None = None) -> str:
    """The run's verdict as markdown for a PR comment or `$GITHUB_STEP_SUMMARY`.

    `report_path` is the HTML report's path relative to where the markdown is written.
    """
    gate = results.gate
    lines = [f"## {_ICONS.get(gate.status, '')} LLM gate: {gate.status}".replace("  ", " "), ""]
    for line in reason_lines(gate.reasons):
        lines.append(f"- {md_escape(line)}")
    for remedy in shown_remedies(gate.reasons, gate.remedy):
        lines += ["", f"**Remedy:** {md_escape(remedy)}"]
    for warning in results.judge_warnings:
        lines += ["", f"**Warning:** {md_escape(warning)}"]
    lines += history_markdown(results)
    commit = results.git_commit or "unknown"
    meta = (
        f"Run {md_escape(results.created_at)} · commit {md_escape(commit)}{' (dirty)' if results.git_dirty else ''}"
        f" · judge {md_escape(provider_model(results.judge_provider) or 'none')} · {results.duration:.1f} s"
    )
    lines += ["", meta]
    from pytest_llmgate.judge.pricing import cost_line, run_cost

    cost = run_cost(results)
    if cost is not None:
        lines.append(md_escape(cost_line(cost)))
    for suite_id, note in sorted(results.rejudged.items()):
        lines.append(f"{md_escape(suite_id)}: {md_escape(note)}")
    if report_path:
        # A link relative to the markdown file, so it opens from the folder (or artifact) it sits in.
        lines.append(f"Full report: [{md_escape(report_path)}]({quote(report_path)})")
    verdicts = {verdict.suite: verdict for verdict in results.verdicts}
    for suite_id in sorted(set(results.suites) | set(verdicts)):
        verdict = verdicts.get(suite_id)
        suite = results.suites.get(suite_id)
        n_cases = len(suite.cases) if suite is not None else 0
        pending = (
            f" (+{suite.pending_review} pending review, not gated)"
            if suite is not None and suite.pending_review
            else ""
        )
        lines += ["", f"### {md_escape(suite_id)}", "", f"{n_cases} case{'s' if n_cases != 1 else ''}{pending}"]
        if verdict is None:
            continue
        if verdict.problems:
            lines.append("")
        for problem in verdict.problems:
            lines.append(f"- ❌ {md_escape(problem)}")
        if verdict.metrics:
            lines += [
                "",
                "| Metric | n | Baseline | Now | Δ | Interval | p (Holm) | Verdict |",
                "|---|--:|--:|--:|--:|--:|--:|---|",
            ]
            for mv in [m for m in verdict.metrics if m.primary]:
                lines.append(_metric_line(mv, mv.metric))
            secondary = [m for m in verdict.metrics if not m.primary]
            if secondary:
                lines += [
                    "",
                    f"<details><summary>{len(secondary)} secondary metric(s), reported, not gated</summary>",
                    "",
                    "| Metric | n | Baseline | Now | Δ | Interval | p | Verdict |",
                    "|---|--:|--:|--:|--:|--:|--:|---|",
                ]
                lines += [_metric_line(m, m.metric) for m in secondary]
                lines += ["", "</details>"]
        from pytest_llmgate.report.slices import order_slices

        # Gated slices first, then the worst (as the terminal and the HTML report order them).
        ordered = order_slices(verdict.slices, MAX_SLICE_ROWS)
        flagged = ordered.shown + [(p, m) for p, m in ordered.folded if m.status not in ("pass", "new")]
        if flagged:
            lines += [
                "",
                "Slices (tags) that are gated or not shown non-inferior:",
                "",
                "| Slice | Metric | n | Baseline | Now | Δ | Interval | p | Verdict |",
                "|---|---|--:|--:|--:|--:|--:|--:|---|",
            ]
            for piece, mv in flagged:
                tag = md_escape(piece.tag, 60) + (" (gated)" if piece.gated else "")
                lines.append(f"| {tag} " + _metric_line(mv, mv.metric))
        newly = [change for change in verdict.cases if change.kind == "newly_failing"]
        known = sum(1 for change in verdict.cases if change.kind == "known_failing")
        fixed = sum(1 for change in verdict.cases if change.kind == "fixed")
        if newly:
            shown = ", ".join(md_escape(change.case_id, 80) for change in newly[:MAX_CASE_IDS])
            more = f" and {len(newly) - MAX_CASE_IDS} more" if len(newly) > MAX_CASE_IDS else ""
            lines += ["", f"**Newly failing ({len(newly)}):** {shown}{more}"]
        if known or fixed:
            lines += ["", f"Known failing: {known} · fixed: {fixed}"]
        if suite is not None and suite.repeat_stats is not None:
            lines += _repeat_lines(suite.repeat_stats)
    text = "\n".join(lines).rstrip() + "\n"
    if len(text) > MAX_CHARS:
        cut = text.rfind("\n", 0, MAX_CHARS - 200)
        text = text[:cut] + "\n\n_Summary truncated; see the HTML report for the rest._\n"
    return text


def _repeat_lines(stats: RepeatStats) -> list[str]:
    from pytest_llmgate.gate.repeats import FLAKY_METRIC, summary_rows

    k = stats.k
    lines = [
        "",
        f"Repeats: every case run {k} times",
        "",
        f"| Metric | pass@1 | pass@{k} | pass^{k} | Within-case variance | Flaky |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in summary_rows(stats):
        lines.append(
            f"| {md_escape(row['metric'], 80)} | {row['pass_at_1']} | {row['pass_at_k']} | {row['pass_hat_k']}"
            f" | {row['variance']} | {row['flaky']} |"
        )
    flaky = stats.flaky.get(FLAKY_METRIC, [])
    if flaky:
        shown = ", ".join(md_escape(case_id, 80) for case_id in flaky[:MAX_CASE_IDS])
        more = f" and {len(flaky) - MAX_CASE_IDS} more" if len(flaky) > MAX_CASE_IDS else ""
        lines += ["", f"**Flaky ({len(flaky)}):** {shown}{more}"]
    return lines


def _metric_line(mv: MetricVerdict, name: str) -> str:
    """One metric row; a primary shows its Holm-adjusted p, a secondary its own."""
    if mv.diff is None:
        interval = "—"
    else:
        low = "−∞" if mv.ci_low is None else fmt_signed(mv.ci_low)
        high = "+∞" if mv.ci_high is None else fmt_signed(mv.ci_high)
        interval = f"{low} … {high}"
    status = mv.status.replace("_", " ")
    if mv.status in ("fail", "below_floor"):
        status = f"**{status}**"
    p = mv.p_adjusted if mv.primary else mv.p_value
    return (
        f"| {md_escape(name, 80)} | {mv.n_paired} | {fmt(mv.baseline_mean)} | {fmt(mv.current_mean)}"
        f" | {fmt_signed(mv.diff)} | {interval} | {fmt_p(p)} | {status} |"
    )


def write_markdown(results: RunResults, path: Path, *, report_path: str | None = None) -> Path:
    """Write the markdown summary to `path` atomically and return the path."""
    return atomic_write_text(Path(path), render_markdown(results, report_path=report_path))


def append_github_step_summary(markdown: str) -> Path | None:
    """Append `markdown` to the file named by `$GITHUB_STEP_SUMMARY`; None when it is not set."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8", errors=UNENCODABLE) as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path


def history_markdown(results: RunResults) -> list[str]:
    """Baselines as code in the summary: drift warnings, and each primary metric's accepted trend."""
    from pytest_llmgate.gate.drift import drift_lines

    lines: list[str] = []
    for line in drift_lines(results):
        lines += ["", f"**Drift:** {md_escape(line)}"]
    history = results.history
    if history is not None and history.accepted:
        base = (history.base or "")[:7]
        lines += ["", f"**Loosened in this branch, accepted with `--llm-gate-update`** (baseline settings vs {base}):"]
        lines += [f"- {md_escape(text)}" for text in history.accepted]
    moved = [m for m in history.metrics if m.primary and m.updates] if history is not None else []
    if history is None or not moved:
        return lines
    lines += ["", "**Accepted history** (committed baselines, from git):"]
    for series in moved[:20]:
        start = (
            series.points[0].value
            if series.reference is None
            else next((p.value for p in series.points if p.commit == series.reference), series.points[0].value)
        )
        since = (series.reference or "")[:7]
        lines.append(
            f"- {md_escape(series.suite)} `{md_escape(series.metric)}`: {start:.3f} → {series.points[-1].value:.3f} "
            f"({(series.cumulative or 0.0):+.3f} over {series.updates} accepted update(s) since {md_escape(since)}; "
            f"tolerance {series.tolerance:g})"
        )
    for note in history.notes:
        lines.append(f"- {md_escape(note)}")
    return lines
