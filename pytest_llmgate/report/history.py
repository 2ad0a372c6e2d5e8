"""The baselines' history, rendered: a terminal table, JSON, a self-contained HTML page with one
inline-SVG chart per metric, and the sparklines of the main report.

Commit messages and author names are untrusted text: they reach a page only through Jinja2's
autoescaping (or `markupsafe.escape` in the SVG built here), and the pages carry a
Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from pytest_llmgate._files import atomic_write_text
from pytest_llmgate.gate.records import HistoryPoint, MetricHistory, RunHistory, RunResults

TEMPLATES = Path(__file__).parent / "templates"
#: The history page's file name, written beside the main report.
HISTORY_PAGE = "llm-gate-history.html"
#: Points a sparkline of the main report shows (the most recent).
SPARK_POINTS = 20


def _short(commit: str) -> str:
    return commit if commit == "uncommitted" else commit[:7]


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


# ----------------------------------------------------------------------------- terminal


def history_lines(history: RunHistory, *, all_metrics: bool = False) -> list[str]:
    """The history as plain lines: per suite and metric, every accepted value, then the drift."""
    lines = [f"baseline history from git ({history.root}): {history.commits} commit(s) changed baselines"]
    lines += [f"note: {note}" for note in history.notes]
    shown = [m for m in history.metrics if all_metrics or m.primary]
    if not shown:
        lines.append("no committed baseline with a primary metric yet.")
    for series in shown:
        since = f" since {_short(series.reference)}" if series.reference else ""
        role = "" if series.primary else " (secondary)"
        lines += [
            "",
            f"{series.suite}  {series.metric}{role}  tolerance {series.tolerance:g}  "
            f"cumulative {_signed(series.cumulative)}{since} over {series.updates} accepted update(s)",
        ]
        lines.append(f"  {'commit':<11} {'date':<10} {'value':>7} {'change':>7}  author / message")
        for point in series.points:
            marker = "*" if point.commit == series.reference else " "
            lines.append(
                f" {marker}{_short(point.commit):<11} {point.date[:10]:<10} {point.value:>7.3f} "
                f"{_signed(point.change):>7}  {point.author} · {point.subject}"
            )
    if history.drift:
        lines.append("")
        for finding in history.drift:
            lines.append(f"DRIFT: {finding.suite}: {finding.text()}")
    return lines


# ----------------------------------------------------------------------------- SVG


def _point_title(point: HistoryPoint, metric: str) -> str:
    when = f" · {point.date[:10]}" if point.date else ""
    change = f" ({_signed(point.change)})" if point.change is not None else ""
    who = f" · {point.author}" if point.author else ""
    return f"{metric} {point.value:.3f}{change} · {_short(point.commit)}{when}{who} · {point.subject}"


def chart_svg(
    series: MetricHistory,
    *,
    width: int = 640,
    height: int = 160,
    now: float | None = None,
    last: int | None = None,
    axes: bool = True,
) -> Markup:
    """One metric's accepted values as an inline SVG line; each point titled with its commit.

    `now` (the current run's value) is drawn as a hollow last point; `last` keeps the most recent points.
    """
    points = series.points[-last:] if last else list(series.points)
    values = [p.value for p in points] + ([now] if now is not None else [])
    if not values:
        return Markup("")
    pad_left = 44 if axes else 3
    pad = 3 if not axes else 12
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 0.5 if axes else low - 1, high + 0.5 if axes else high + 1
    span = high - low
    count = len(values)

    def x(i: int) -> float:
        return pad_left + (width - pad_left - pad) * (i / (count - 1) if count > 1 else 0.5)

    def y(v: float) -> float:
        return pad + (height - 2 * pad) * (1 - (v - low) / span)

    coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values[: len(points)]))
    label = f"{series.metric} over {len(points)} accepted value(s)"
    parts = [
        f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(label)}" data-metric="{escape(series.metric)}">'
    ]
    if axes:
        parts.append(
            f'<text x="{pad_left - 6}" y="{y(high) + 4:.1f}" text-anchor="end" font-size="11" fill="currentColor" class="axis">{high:.3f}</text>'
            f'<text x="{pad_left - 6}" y="{y(low) + 4:.1f}" text-anchor="end" font-size="11" fill="currentColor" '
            f'class="axis">{low:.3f}</text>'
            f'<line x1="{pad_left}" x2="{width - pad}" y1="{y(low):.1f}" y2="{y(low):.1f}" stroke="currentColor" '
            f'stroke-opacity="0.25" class="grid"></line>'
        )
    if len(points) > 1:
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="currentColor" stroke-width="1.5" class="line"></polyline>'
        )
    radius = 3.5 if axes else 2
    for i, point in enumerate(points):
        cls = "dot reference" if point.commit == series.reference else "dot"
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(point.value):.1f}" r="{radius}" fill="currentColor" class="{cls}" '
            f'data-commit="{escape(_short(point.commit))}"><title>{escape(_point_title(point, series.metric))}</title>'
            f"</circle>"
        )
    if now is not None:
        i = count - 1
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(now):.1f}" r="{radius}" class="dot now" fill="none" stroke="currentColor">'
            f"<title>{escape(f'{series.metric} now {now:.3f} (this run)')}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# ----------------------------------------------------------------------------- pages


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _csp(style: str) -> str:
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    return "; ".join(
        ["default-src 'none'", f"style-src 'sha256-{digest}'", "img-src data:", "base-uri 'none'", "form-action 'none'"]
    )


def render_history_page(history: RunHistory, *, all_metrics: bool = False) -> str:
    """The history as one self-contained HTML page (no script, no network): a chart and a table per metric."""
    style = (TEMPLATES / "history.css").read_text(encoding="utf-8")
    shown = [m for m in history.metrics if all_metrics or m.primary]
    metrics = [
        {
            "series": series,
            "chart": chart_svg(series),
            "since": _short(series.reference) if series.reference else "",
            "cumulative": _signed(series.cumulative),
            "rows": [
                {
                    "commit": _short(p.commit),
                    "date": p.date[:10],
                    "author": p.author,
                    "subject": p.subject,
                    "value": f"{p.value:.3f}",
                    "n": p.n,
                    "change": _signed(p.change),
                    "reference": p.commit == series.reference,
                }
                for p in reversed(series.points)
            ],
        }
        for series in shown
    ]
    return (
        _environment()
        .get_template("history.html.j2")
        .render(
            history=history,
            metrics=metrics,
            drift=[f"{f.suite}: {f.text()}" for f in history.drift],
            csp=_csp(style),
            style=Markup(style),
        )
    )


def write_history_page(history: RunHistory, path: Path, *, all_metrics: bool = False) -> Path:
    """Write the history page atomically."""
    return atomic_write_text(path, render_history_page(history, all_metrics=all_metrics))


def history_view(results: RunResults) -> dict[str, Any]:
    """What the main report shows of the history: drift warnings, a link, a sparkline per primary metric."""
    history = results.history
    if history is None:
        return {"available": False, "drift": [], "suites": {}, "notes": [], "accepted": [], "page": HISTORY_PAGE}
    now: dict[tuple[str, str], tuple[float | None, float | None]] = {
        (v.suite, m.metric): (m.baseline_mean, m.current_mean) for v in results.verdicts for m in v.metrics
    }
    suites: dict[str, list[dict[str, Any]]] = {}
    for series in history.metrics:
        if not series.primary:
            continue
        baseline, current = now.get((series.suite, series.metric), (None, None))
        suites.setdefault(series.suite, []).append(
            {
                "metric": series.metric,
                "spark": chart_svg(series, width=140, height=28, now=current, last=SPARK_POINTS, axes=False),
                "points": min(len(series.points), SPARK_POINTS),
                "baseline": "–" if baseline is None else f"{baseline:.3f}",
                "now": "–" if current is None else f"{current:.3f}",
                "cumulative": _signed(series.cumulative),
                "since": _short(series.reference) if series.reference else "",
                "updates": series.updates,
                "drift": any(f.suite == series.suite and f.metric == series.metric for f in history.drift),
            }
        )
    return {
        "available": True,
        "drift": [f"{f.suite}: {f.text()}" for f in history.drift],
        "fail_drift": bool(results.settings.get("fail_drift")),
        "suites": suites,
        "notes": list(history.notes),
        "accepted": list(history.accepted),
        "page": HISTORY_PAGE,
    }
