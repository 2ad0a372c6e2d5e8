"""The HTML report's charts: distributions and paired differences per metric, position consistency
of the judge, and confusion matrices of calibration, as small data structures the template draws as SVG.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_llmgate.gate.records import RunResults
from pytest_llmgate.report._format import EPS, as_text, finite, fmt
from pytest_llmgate.report.case_data import higher_is_better, metric_names, primary_names


def _histogram(values: list[float], low: float, high: float, bins: int) -> list[int]:
    counts = [0] * bins
    width = (high - low) / bins if high > low else 1.0
    for value in values:
        index = int((value - low) / width) if high > low else 0
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def _distribution_chart(metric: str, kind: str, now: list[float], before: list[float]) -> dict[str, Any]:
    """Histogram of a metric's values now and in the baseline, on a shared axis."""
    values = now + before
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    bins = 2 if kind == "binary" else 10
    if high <= low:
        bins = 1
    now_counts = _histogram(now, low, high, bins)
    before_counts = _histogram(before, low, high, bins)
    now_share = [c / len(now) if now else 0.0 for c in now_counts]
    before_share = [c / len(before) if before else 0.0 for c in before_counts]
    top = max(now_share + before_share + [1e-12])
    width, height, pad = 240, 90, 14
    slot = (width - 2) / bins
    bars = []
    for i in range(bins):
        x = 1 + i * slot
        for j, (share, count, cls) in enumerate(
            ((before_share[i], before_counts[i], "bar-before"), (now_share[i], now_counts[i], "bar-now"))
        ):
            h = (height - pad) * share / top
            bars.append(
                {
                    "x": round(x + j * slot / 2 + 1, 2),
                    "y": round(height - pad - h, 2),
                    "w": round(max(slot / 2 - 2, 1), 2),
                    "h": round(h, 2),
                    "cls": cls,
                    "title": f"{'before' if j == 0 else 'now'}: {count} case{'s' if count != 1 else ''}"
                    f" in [{low + i * (high - low) / bins:.2f}, {low + (i + 1) * (high - low) / bins:.2f}]",
                }
            )
    return {
        "metric": metric,
        "width": width,
        "height": height,
        "axis_y": height - pad,
        "low": fmt(low, 2),
        "high": fmt(high, 2),
        "bars": bars,
        "n_now": len(now),
        "n_before": len(before),
    }


def _difference_chart(metric: str, diffs: list[float]) -> dict[str, Any]:
    """Per-case differences (direction-adjusted: negative is worse) as a diverging histogram."""
    worse = [d for d in diffs if d < -EPS]
    better = [d for d in diffs if d > EPS]
    same = len(diffs) - len(worse) - len(better)
    span = max([abs(d) for d in worse + better] + [EPS])
    half = 5
    worse_counts = _histogram([-d for d in worse], 0.0, span, half)[::-1]
    better_counts = _histogram(better, 0.0, span, half)
    counts = worse_counts + [same] + better_counts
    top = max(counts + [1])
    width, height, pad = 240, 90, 14
    slot = (width - 2) / len(counts)
    bars = []
    for i, count in enumerate(counts):
        cls = "bar-worse" if i < half else ("bar-same" if i == half else "bar-better")
        h = (height - pad) * count / top
        if i < half:
            hi = span * (half - i) / half
            title = f"{count} worse by {hi - span / half:.3f} to {hi:.3f}"
        elif i == half:
            title = f"{count} unchanged"
        else:
            lo = span * (i - half - 1) / half
            title = f"{count} better by {lo:.3f} to {lo + span / half:.3f}"
        bars.append(
            {
                "x": round(1 + i * slot + 1, 2),
                "y": round(height - pad - h, 2),
                "w": round(max(slot - 2, 1), 2),
                "h": round(h, 2),
                "cls": cls,
                "title": title,
            }
        )
    return {
        "metric": metric,
        "width": width,
        "height": height,
        "axis_y": height - pad,
        "span": fmt(span, 2),
        "bars": bars,
        "worse": len(worse),
        "same": same,
        "better": len(better),
    }


def consistency_bars(rows: list[tuple[str, int, int]]) -> dict[str, Any] | None:
    """Horizontal bars: share of order-swapped verdicts that agreed, per rubric."""
    rows = [row for row in rows if row[2] > 0]
    if not rows:
        return None
    width, row_height = 240, 22
    bars = []
    for i, (rubric, consistent, pairs) in enumerate(rows):
        share = consistent / pairs
        bars.append(
            {
                "rubric": rubric,
                "y": i * row_height,
                "w": round((width - 2) * share, 2),
                "label": f"{share:.0%} ({consistent}/{pairs})",
            }
        )
    return {"width": width, "height": len(rows) * row_height, "row_height": row_height, "bars": bars}


def suite_charts(
    results: RunResults, compare: RunResults | None, suite_id: str, reference: Mapping[str, dict[str, Any]] | None
) -> dict[str, Any]:
    suite = results.suites[suite_id]
    names = metric_names(suite.metrics, [case.metrics for case in suite.cases.values()])
    gating = set(primary_names(results, suite_id))
    distributions: list[tuple[str, dict[str, Any]]] = []
    differences: list[tuple[str, dict[str, Any]]] = []
    folded: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        # Primary metrics are drawn first; the others go into a folded block after them.
        into = (distributions, differences) if name in gating else (folded, folded)
        spec = suite.metrics.get(name)
        kind = spec.kind if spec is not None else "continuous"
        higher = higher_is_better(suite.metrics, name)
        now = [v for v in (finite(c.metrics.get(name)) for c in suite.cases.values()) if v is not None]
        before = (
            [v for v in (finite(c["metrics"].get(name)) for c in reference.values()) if v is not None]
            if reference
            else []
        )
        into[0].append(("distribution", _distribution_chart(name, kind, now, before)))
        diffs = []
        for case_id, case in suite.cases.items():
            other = (reference or {}).get(case_id)
            a = finite(case.metrics.get(name))
            b = finite(other["metrics"].get(name)) if other else None
            if a is not None and b is not None:
                diffs.append((a - b) if higher else (b - a))
        if diffs:
            into[1].append(("difference", _difference_chart(name, diffs)))
    per_rubric: dict[str, list[int]] = {}
    for case in suite.cases.values():
        for verdict in case.judge:
            counts = per_rubric.setdefault(verdict.rubric, [0, 0])
            if verdict.consistent is not None:
                counts[1] += 1
                counts[0] += int(verdict.consistent)
    consistency = consistency_bars([(rubric, c[0], c[1]) for rubric, c in sorted(per_rubric.items())])
    return {
        "distributions": [c for _, c in distributions],
        "differences": [c for _, c in differences],
        "folded": [{"kind": k, "chart": c} for k, c in folded],
        "consistency": consistency,
    }


def find_confusion(entry: dict[str, Any]) -> tuple[Any, Any, tuple[str, ...]] | None:
    """(matrix, labels, path) of a confusion matrix at `confusion` or `agreement.confusion`.

    Accepts `{"confusion": [[...]], "labels": [...]}` and `{"confusion": {"matrix": ..., "labels": ...}}`.
    """
    for path in (("confusion",), ("agreement", "confusion")):
        holder: Any = entry
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue
        block = holder.get(path[-1])
        if isinstance(block, list):
            return block, holder.get("labels"), path
        if isinstance(block, dict) and isinstance(block.get("matrix"), list):
            return block["matrix"], block.get("labels"), path
    return None


def stat_text(value: Any) -> str:
    """A statistic for display: `{"value", "low", "high", "method"}` as `v [low, high] (method)`."""
    if isinstance(value, dict) and "value" in value:
        number = finite(value.get("value"))
        text = fmt(number) if number is not None else as_text(value.get("value")) or "—"
        low, high = finite(value.get("low")), finite(value.get("high"))
        if low is not None and high is not None:
            text += f" [{fmt(low)}, {fmt(high)}]"
        if isinstance(value.get("method"), str):
            text += f" ({value['method']})"
        return text
    if isinstance(value, (int, float, bool)) or value is None:
        return fmt(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def confusion_chart(matrix: Any, labels: Any) -> dict[str, Any] | None:
    if not (
        isinstance(matrix, list)
        and matrix
        and all(isinstance(row, list) and row and len(row) == len(matrix[0]) for row in matrix)
        and all(finite(v) is not None for row in matrix for v in row)
    ):
        return None
    size_r, size_c = len(matrix), len(matrix[0])
    names = [as_text(x) for x in labels] if isinstance(labels, list) else []
    row_names = names if len(names) == size_r else [str(i) for i in range(size_r)]
    col_names = names if len(names) == size_c else [str(i) for i in range(size_c)]
    top = max([float(v) for row in matrix for v in row] + [1e-12])
    cell, left, top_pad = 34, 70, 34
    return {
        "cell": cell,
        "left": left,
        "top": top_pad,
        "width": left + cell * size_c + 4,
        "height": top_pad + cell * size_r + 4,
        "rows": row_names,
        "cols": col_names,
        "cells": [
            {
                "x": left + j * cell,
                "y": top_pad + i * cell,
                "value": fmt(int(v)) if float(v).is_integer() else fmt(float(v), 2),
                "opacity": round(0.08 + 0.85 * max(float(v), 0.0) / top, 3),
                "title": f"human {row_names[i]}, judge {col_names[j]}: {v}",
            }
            for i, row in enumerate(matrix)
            for j, v in enumerate(row)
        ],
    }
