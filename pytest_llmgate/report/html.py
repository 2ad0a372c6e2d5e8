"""The HTML report: one self-contained file a reviewer opens to see what changed.

The header, metric tables and charts are rendered here with Jinja2 (autoescaped); the case
table is rendered in the browser from one embedded JSON block, a page at a time, so a run
of 10,000 cases opens quickly. Above `COMPRESS_ABOVE` bytes that block is gzip-compressed
and base64-encoded (the page inflates it with the browser's `DecompressionStream`), which
makes a large report several times smaller; small reports keep plain, greppable JSON. Every string from a case, an output or a judge is untrusted:
it reaches the page only through autoescaping or the DOM's `textContent`, and a strict
Content-Security-Policy (script and style allowed by hash only) backs that up.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pytest_llmgate._files import atomic_write_text as _atomic_write_text
from pytest_llmgate.gate.records import CaseResult, JudgeVerdict, MetricSpec, RepeatStats, RunResults

__all__ = ["atomic_write_text", "build_case_data", "read_case_data", "render_html", "render_html_string"]

TEMPLATES = Path(__file__).parent / "templates"
#: Differences smaller than this are treated as "no change" (float noise).
EPS = 1e-9
#: Keys of a golden case shown as its input and its reference, first match wins.
INPUT_KEYS = ("input", "question", "query", "prompt", "messages")
REFERENCE_KEYS = ("reference", "expected", "expected_output", "ideal", "answer")
#: Case data JSON longer than this many bytes is embedded gzip-compressed and base64-encoded.
COMPRESS_ABOVE = 256 * 1024
#: The `data-encoding` of a compressed case-data block (a plain block has none).
GZIP_BASE64 = "gzip+base64"


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a report atomically; a lone surrogate in a model output is replaced, not fatal."""
    return _atomic_write_text(path, text, errors="replace")


def as_text(value: Any) -> str:
    """A value as display text: strings as they are, anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell; an em dash for a missing value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, int):
            return str(value)
        return f"{value:.{digits}f}"
    return str(value)


def fmt_signed(value: float | None, digits: int = 3) -> str:
    """A difference with its sign (a true minus sign), or an em dash."""
    if value is None:
        return "—"
    if abs(value) < EPS:
        return f"{0:.{digits}f}"
    return f"{value:+.{digits}f}".replace("-", "−")


def fmt_p(value: float | None) -> str:
    """A p-value: three significant digits, `<0.001` below that."""
    if value is None:
        return "—"
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def embed_json(data: Any) -> Markup:
    """JSON for a `<script type="application/json">` block that cannot end the block early.

    ASCII-only output escapes U+2028/2029 and lone surrogates; `<`, `>` and `&` become
    unicode escapes, so neither `</script>` nor `<!--` can appear in the text.
    """
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def embed_case_data(data: Any, compress_above: int | None = None) -> tuple[Markup, str]:
    """The case-data block's text and its encoding: plain JSON (`""`) or `GZIP_BASE64`.

    The compressed form is the plain form's bytes, gzipped with a fixed mtime (so equal runs
    give equal files) and base64-encoded: only `A-Za-z0-9+/=`, inert inside `<script>`.
    """
    limit = COMPRESS_ABOVE if compress_above is None else compress_above
    text = str(embed_json(data))
    if len(text) <= limit:
        return Markup(text), ""
    packed = gzip.compress(text.encode("ascii"), compresslevel=6, mtime=0)
    return Markup(base64.b64encode(packed).decode("ascii")), GZIP_BASE64


_DATA_BLOCK = re.compile(
    r'<script type="(?P<type>[^"]+)" id="llmgate-data"(?: data-encoding="(?P<encoding>[^"]*)")?>(?P<text>[^<]*)</script>'
)


def read_case_data(html: str) -> dict[str, Any]:
    """The case data embedded in a rendered report, plain or compressed (for tools and tests)."""
    match = _DATA_BLOCK.search(html)
    if match is None:
        msg = "The HTML has no llmgate-data block; is it a pytest-llmgate report? Re-render it with `llmgate report RESULTS.json`."
        raise ValueError(msg)
    encoding = match["encoding"] or ""
    if encoding == "":
        return json.loads(match["text"])
    if encoding != GZIP_BASE64:
        msg = f"The case data has an unknown encoding {encoding!r} (expected {GZIP_BASE64!r}); re-render the report with this version."
        raise ValueError(msg)
    try:
        raw = gzip.decompress(base64.b64decode(match["text"], validate=True))
    except (binascii.Error, OSError, EOFError) as exc:
        msg = f"The compressed case data is corrupt ({exc}); re-render the report."
        raise ValueError(msg) from exc
    return json.loads(raw.decode("ascii"))


# --------------------------------------------------------------------------- view model


def _metric_names(specs: dict[str, MetricSpec], cases: list[dict[str, float]]) -> list[str]:
    names = list(specs)
    extra = sorted({name for metrics in cases for name in metrics} - set(names))
    return names + extra


def _higher_is_better(specs: dict[str, MetricSpec], metric: str) -> bool:
    spec = specs.get(metric)
    return True if spec is None else spec.higher_is_better


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _pick(case: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in case and case[key] is not None:
            return key, case[key]
    return None, None


def _retrieval(details: dict[str, Any]) -> dict[str, Any] | None:
    block = details.get("retrieval")
    if not isinstance(block, dict):
        return None
    ranks = block.get("ranks")
    retrieved = block.get("retrieved")
    rank_rows: list[list[Any]] = []
    if isinstance(ranks, dict):
        for doc_id, rank in ranks.items():
            rank_rows.append([str(doc_id), rank if isinstance(rank, int) and not isinstance(rank, bool) else None])
        rank_rows.sort(key=lambda row: (row[1] is None, row[1] or 0, row[0]))
    retrieved_ids = [as_text(item) for item in retrieved] if isinstance(retrieved, list) else []
    return {"ranks": rank_rows, "retrieved": retrieved_ids}


def _conversation(value: Any, intern: Any) -> list[list[Any]] | None:
    """A conversation input as [role, string index] turns, or None for any other input."""
    if not isinstance(value, list) or not value:
        return None
    turns = []
    for message in value:
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)):
            return None
        turns.append([message["role"], intern(as_text(message.get("content")))])
    return turns


def _judge_rows(case: CaseResult, intern: Any) -> list[dict[str, Any]]:
    return [_judge_row(verdict, intern) for verdict in case.judge]


def _judge_row(verdict: JudgeVerdict, intern: Any) -> dict[str, Any]:
    """One verdict for the case view: the context the judge saw, claims, every juror's verdict."""
    row = _verdict_row(verdict, intern)
    row["ctx"] = None if verdict.context is None else [intern(chunk) for chunk in verdict.context]
    row["claims"] = (
        None if verdict.claims is None else [[intern(c.claim), c.verdict, intern(c.reason)] for c in verdict.claims]
    )
    row["jury"] = None if verdict.jury is None else [_judge_row(member, intern) for member in verdict.jury]
    return row


def _verdict_row(verdict: JudgeVerdict, intern: Any) -> dict[str, Any]:
    return {
        "rubric": verdict.rubric,
        "version": verdict.rubric_version,
        "kind": verdict.kind,
        "against": verdict.against,
        "metric": verdict.metric,
        "value": _finite(verdict.value),
        "label": verdict.label,
        "consistent": verdict.consistent,
        "error": intern(verdict.error),
        "provider": verdict.provider,
        "calls": [
            {
                "order": call.order,
                "score": _finite(call.score),
                "preference": call.preference,
                "reason": intern(call.reason),
                "cached": call.cached,
                "attempts": call.attempts,
                "tokens_in": call.input_tokens,
                "tokens_out": call.output_tokens,
                "error": intern(call.error),
            }
            for call in verdict.calls
        ],
    }


def _reference_cases(results: RunResults, compare: RunResults | None, suite: str) -> dict[str, dict[str, Any]] | None:
    """Per case of `suite`: what it is compared with (baseline, or the `compare` run)."""
    if compare is not None:
        before = compare.suites.get(suite)
        if before is None:
            return None
        return {
            case_id: {"passed": case.passed, "metrics": case.metrics, "output": case.output}
            for case_id, case in before.cases.items()
        }
    baseline = results.baselines.get(suite)
    if baseline is None:
        return None
    return {
        case_id: {"passed": case.passed, "metrics": case.metrics, "output": case.output}
        for case_id, case in baseline.cases.items()
    }


def _case_changes(
    results: RunResults, compare: RunResults | None, suite: str, reference: dict[str, dict[str, Any]] | None
) -> dict[str, str]:
    """Case id to `newly_failing` / `known_failing` / `fixed` for one suite."""
    if compare is None:
        for verdict in results.verdicts:
            if verdict.suite == suite:
                return {change.case_id: change.kind for change in verdict.cases}
    changes: dict[str, str] = {}
    current = results.suites[suite].cases
    for case_id, case in current.items():
        before = (reference or {}).get(case_id)
        if not case.passed:
            changes[case_id] = "known_failing" if before is not None and not before["passed"] else "newly_failing"
        elif before is not None and not before["passed"]:
            changes[case_id] = "fixed"
    return changes


def _primary_names(results: RunResults, suite_id: str) -> list[str]:
    """The suite's primary metrics as the verdict decided them (all recorded ones when there is no verdict)."""
    for verdict in results.verdicts:
        if verdict.suite == suite_id:
            return [m.metric for m in verdict.metrics if m.primary]
    return list(results.suites[suite_id].metrics)


def build_case_data(results: RunResults, compare: RunResults | None = None) -> dict[str, Any]:
    """The JSON the page's script renders the case table and case details from."""
    # Long texts go into one pool, each distinct string once: a reference often equals the
    # baseline output, an unchanged output equals both, and both orders share a reason.
    pool: dict[str, int] = {}

    def intern(text: str | None) -> int | None:
        if text is None:
            return None
        return pool.setdefault(text, len(pool))

    cases: list[dict[str, Any]] = []
    directions: dict[str, dict[str, bool]] = {}
    all_metrics: list[str] = []
    primary_columns: list[str] = []
    for suite_id in sorted(results.suites):
        suite = results.suites[suite_id]
        reference = _reference_cases(results, compare, suite_id)
        changes = _case_changes(results, compare, suite_id, reference)
        names = _metric_names(suite.metrics, [case.metrics for case in suite.cases.values()])
        directions[suite_id] = {name: _higher_is_better(suite.metrics, name) for name in names}
        for name in names:
            if name not in all_metrics:
                all_metrics.append(name)
        gating = _primary_names(results, suite_id)
        for name in gating:
            if name not in primary_columns:
                primary_columns.append(name)
        for case_id in sorted(suite.cases):
            case = suite.cases[case_id]
            before = (reference or {}).get(case_id)
            now_metrics = {k: v for k, v in ((k, _finite(v)) for k, v in case.metrics.items()) if v is not None}
            before_metrics = None
            worst: float | None = None
            worst_metric: str | None = None
            tags: list[str] = []
            if before is not None:
                before_metrics = {
                    k: v for k, v in ((k, _finite(v)) for k, v in before["metrics"].items()) if v is not None
                }
                signed = []
                for name, value in now_metrics.items():
                    if name in before_metrics:
                        delta = value - before_metrics[name]
                        signed.append((delta if directions[suite_id].get(name, True) else -delta, name))
                # The worst change among the primary metrics only: one unit per column, named.
                ranked = [item for item in signed if item[1] in gating] or signed
                if signed:
                    worst, worst_metric = min(ranked)
                    if min(value for value, _ in signed) < -EPS:
                        tags.append("regressed")
                    elif max(value for value, _ in signed) > EPS:
                        tags.append("improved")
            change = changes.get(case_id)
            if change is not None:
                tags.append(change)
            judge = _judge_rows(case, intern)
            if any(row["consistent"] is False for row in judge):
                tags.append("judge_inconsistent")
            if any(row["error"] is not None for row in judge):
                tags.append("judge_error")
            input_key, input_value = _pick(case.case, INPUT_KEYS)
            reference_key, reference_value = _pick(case.case, REFERENCE_KEYS)
            rest = {k: v for k, v in case.case.items() if k not in (input_key, reference_key)}
            details = {k: v for k, v in case.details.items() if k != "retrieval"}
            cases.append(
                {
                    "s": suite_id,
                    "id": case_id,
                    "node": case.nodeid,
                    "ok": case.passed,
                    "fail": intern(case.failure),
                    "bok": None if before is None else before["passed"],
                    "m": now_metrics,
                    "b": before_metrics,
                    "worst": worst,
                    "wm": worst_metric,
                    "tags": tags,
                    "in": intern(as_text(input_value)) if input_key else None,
                    "conv": _conversation(input_value, intern),
                    "ref": intern(as_text(reference_value)) if reference_key else None,
                    "case": intern(as_text(rest)) if rest else None,
                    "out": intern(as_text(case.output)),
                    "bout": None if before is None else intern(as_text(before["output"])),
                    "det": intern(as_text(details)) if details else None,
                    "ret": _retrieval(case.details),
                    "j": judge,
                    "dur": _finite(case.duration),
                }
            )
    return {
        "against": "before" if compare is not None else "baseline",
        "metrics": all_metrics,
        "primary": primary_columns or all_metrics,
        "directions": directions,
        "cases": cases,
        "strings": list(pool),
    }


# --------------------------------------------------------------------------- charts


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


def _consistency_bars(rows: list[tuple[str, int, int]]) -> dict[str, Any] | None:
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


def _suite_charts(
    results: RunResults, compare: RunResults | None, suite_id: str, reference: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    suite = results.suites[suite_id]
    names = _metric_names(suite.metrics, [case.metrics for case in suite.cases.values()])
    gating = set(_primary_names(results, suite_id))
    distributions: list[tuple[str, dict[str, Any]]] = []
    differences: list[tuple[str, dict[str, Any]]] = []
    folded: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        # Primary metrics are drawn first; the others go into a folded block after them.
        into = (distributions, differences) if name in gating else (folded, folded)
        spec = suite.metrics.get(name)
        kind = spec.kind if spec is not None else "continuous"
        higher = _higher_is_better(suite.metrics, name)
        now = [v for v in (_finite(c.metrics.get(name)) for c in suite.cases.values()) if v is not None]
        before = (
            [v for v in (_finite(c["metrics"].get(name)) for c in reference.values()) if v is not None]
            if reference
            else []
        )
        into[0].append(("distribution", _distribution_chart(name, kind, now, before)))
        diffs = []
        for case_id, case in suite.cases.items():
            other = (reference or {}).get(case_id)
            a = _finite(case.metrics.get(name))
            b = _finite(other["metrics"].get(name)) if other else None
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
    consistency = _consistency_bars([(rubric, c[0], c[1]) for rubric, c in sorted(per_rubric.items())])
    return {
        "distributions": [c for _, c in distributions],
        "differences": [c for _, c in differences],
        "folded": [{"kind": k, "chart": c} for k, c in folded],
        "consistency": consistency,
    }


def _comparison_rows(results: RunResults, compare: RunResults, suite_id: str) -> dict[str, Any]:
    """Paired means of each metric in `compare` (before) and `results` (now)."""
    suite = results.suites[suite_id]
    before = compare.suites.get(suite_id)
    before_cases = before.cases if before is not None else {}
    names = _metric_names(suite.metrics, [case.metrics for case in suite.cases.values()])
    rows = []
    for name in names:
        higher = _higher_is_better(suite.metrics, name)
        pairs = []
        for case_id, case in suite.cases.items():
            other = before_cases.get(case_id)
            a = _finite(case.metrics.get(name))
            b = _finite(other.metrics.get(name)) if other is not None else None
            if a is not None and b is not None:
                pairs.append((b, a))
        n = len(pairs)
        before_mean = sum(b for b, _ in pairs) / n if n else None
        now_mean = sum(a for _, a in pairs) / n if n else None
        signed = [(a - b) if higher else (b - a) for b, a in pairs]
        rows.append(
            {
                "metric": name,
                "n": n,
                "before": fmt(before_mean),
                "now": fmt(now_mean),
                "diff": fmt_signed(None if now_mean is None or before_mean is None else now_mean - before_mean),
                "worse": sum(1 for d in signed if d < -EPS),
                "better": sum(1 for d in signed if d > EPS),
            }
        )
    return {
        "rows": rows,
        "added": len(set(suite.cases) - set(before_cases)),
        "removed": len(set(before_cases) - set(suite.cases)),
        "missing": before is None,
    }


def _find_confusion(entry: dict[str, Any]) -> tuple[Any, Any, tuple[str, ...]] | None:
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


def _stat_text(value: Any) -> str:
    """A statistic for display: `{"value", "low", "high", "method"}` as `v [low, high] (method)`."""
    if isinstance(value, dict) and "value" in value:
        number = _finite(value.get("value"))
        text = fmt(number) if number is not None else as_text(value.get("value")) or "—"
        low, high = _finite(value.get("low")), _finite(value.get("high"))
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


def _confusion_chart(matrix: Any, labels: Any) -> dict[str, Any] | None:
    if not (
        isinstance(matrix, list)
        and matrix
        and all(isinstance(row, list) and row and len(row) == len(matrix[0]) for row in matrix)
        and all(_finite(v) is not None for row in matrix for v in row)
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


def _calibration_view(calibration: dict[str, Any]) -> list[dict[str, Any]]:
    """Calibration blocks per rubric, shown generically: whatever keys are there, never failing on one missing."""
    blocks = []
    for rubric in sorted(calibration, key=str):
        entry = calibration[rubric]
        block: dict[str, Any] = {"rubric": str(rubric), "matrix": None, "entries": [], "raw": None}
        if not isinstance(entry, dict):
            block["raw"] = as_text(entry)
            blocks.append(block)
            continue
        found = _find_confusion(entry)
        skip: set[tuple[str, ...]] = set()
        if found is not None:
            block["matrix"] = _confusion_chart(found[0], found[1])
            if block["matrix"] is not None:
                skip = {found[2]} | ({("labels",)} if found[2] == ("confusion",) else set())
        for key in sorted(entry, key=str):
            value = entry[key]
            if (key,) in skip:
                continue
            # One level of nesting (e.g. `agreement.kappa`) is flattened into dotted keys.
            if isinstance(value, dict) and "value" not in value and value:
                for sub in sorted(value, key=str):
                    if (key, sub) not in skip:
                        block["entries"].append({"key": f"{key}.{sub}", "text": _stat_text(value[sub])})
                continue
            block["entries"].append({"key": str(key), "text": _stat_text(value)})
        blocks.append(block)
    return blocks


def _run_meta(results: RunResults) -> dict[str, Any]:
    stats = results.judge_stats.values()
    commit = results.git_commit or "unknown"
    if results.git_dirty:
        commit += " (dirty)"
    return {
        "created_at": results.created_at,
        "commit": commit,
        "judge": results.judge_provider or "none",
        "plugin_version": results.plugin_version,
        "duration": f"{results.duration:.1f} s",
        "calls": sum(s.calls for s in stats),
        "cache_hits": sum(s.cache_hits for s in stats),
        "tokens_in": sum(s.input_tokens for s in stats),
        "tokens_out": sum(s.output_tokens for s in stats),
        "gate": results.gate.status,
        "cost": _cost_text(results),
    }


def _cost_text(results: RunResults) -> str | None:
    from pytest_llmgate.judge.pricing import cost_line, run_cost

    cost = run_cost(results)
    if cost is None:
        return None
    line = cost_line(cost).removeprefix("judge cost: ")
    notes = [f"{suite}: {note}" for suite, note in sorted(results.rejudged.items())]
    return "; ".join([line, *notes])


def _repeats_view(stats: RepeatStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    from pytest_llmgate.gate.repeats import FLAKY_METRIC, summary_rows

    return {"k": stats.k, "rows": summary_rows(stats), "flaky": stats.flaky.get(FLAKY_METRIC, [])}


def _view(results: RunResults, compare: RunResults | None) -> dict[str, Any]:
    verdicts = {verdict.suite: verdict for verdict in results.verdicts}
    suites = []
    for suite_id in sorted(results.suites):
        suite = results.suites[suite_id]
        reference = _reference_cases(results, compare, suite_id)
        verdict = verdicts.get(suite_id)
        changes = _case_changes(results, compare, suite_id, reference)
        counts = {
            kind: sum(1 for k in changes.values() if k == kind) for kind in ("newly_failing", "known_failing", "fixed")
        }
        metric_rows = []
        for mv in verdict.metrics if verdict is not None else []:
            metric_rows.append(
                {
                    "metric": mv.metric,
                    "kind": mv.kind,
                    "direction": "↑" if mv.higher_is_better else "↓",
                    "n": mv.n_paired,
                    "baseline": fmt(mv.baseline_mean),
                    "now": fmt(mv.current_mean),
                    "diff": fmt_signed(mv.diff),
                    "interval": "—"
                    if mv.ci_low is None or mv.ci_high is None
                    else f"[{fmt_signed(mv.ci_low)}, {fmt_signed(mv.ci_high)}]",
                    "level": f"{mv.ci_level:.0%}",
                    "p": fmt_p(mv.p_value),
                    "p_adj": fmt_p(mv.p_adjusted),
                    "test": mv.test,
                    "tolerance": fmt(mv.tolerance),
                    "mde": fmt(mv.mde),
                    "status": mv.status,
                    "reason": mv.reason,
                    "primary": mv.primary,
                }
            )
        slice_rows = []
        for piece in verdict.slices if verdict is not None else []:
            for mv in piece.metrics:
                slice_rows.append(
                    {
                        "tag": piece.tag,
                        "gated": piece.gated,
                        "n_cases": piece.n_cases,
                        "metric": mv.metric,
                        "n": mv.n_paired,
                        "baseline": fmt(mv.baseline_mean),
                        "now": fmt(mv.current_mean),
                        "diff": fmt_signed(mv.diff),
                        "interval": "—"
                        if mv.diff is None
                        else f"[{fmt_signed(mv.ci_low) if mv.ci_low is not None else '−∞'}, "
                        f"{fmt_signed(mv.ci_high) if mv.ci_high is not None else '+∞'}]",
                        "p": fmt_p(mv.p_adjusted if mv.primary else mv.p_value),
                        "mde": fmt(mv.mde),
                        "status": mv.status,
                        "reason": mv.reason,
                        "flag": piece.gated or mv.status not in ("pass", "new"),
                    }
                )
        suites.append(
            {
                "id": suite_id,
                "dataset": suite.dataset,
                "n_cases": len(suite.cases),
                "n_failed": sum(1 for c in suite.cases.values() if not c.passed),
                "baseline_path": verdict.baseline_path if verdict is not None else None,
                "has_reference": reference is not None,
                "problems": verdict.problems if verdict is not None else [],
                "metrics": [row for row in metric_rows if row["primary"]],
                "secondary": [row for row in metric_rows if not row["primary"]],
                "slices": slice_rows,
                "changes": counts,
                "charts": _suite_charts(results, compare, suite_id, reference),
                "comparison": _comparison_rows(results, compare, suite_id) if compare is not None else None,
                "repeats": _repeats_view(suite.repeat_stats),
            }
        )
    from pytest_llmgate.judge.pricing import describe_dollars

    judge_rows = []
    for rubric in sorted(results.judge_stats):
        s = results.judge_stats[rubric]
        judge_rows.append(
            {
                "rubric": s.rubric,
                "verdicts": s.verdicts,
                "errors": s.errors,
                "calls": s.calls,
                "cache_hits": s.cache_hits,
                "tokens": f"{s.input_tokens} / {s.output_tokens}",
                "cache_read": s.cache_read_tokens,
                "cost": "—" if s.cost_usd is None else describe_dollars(s.cost_usd),
                "consistency": "—"
                if s.swapped_pairs == 0
                else f"{s.consistent_pairs / s.swapped_pairs:.0%} ({s.consistent_pairs}/{s.swapped_pairs})",
                "first_position": "—" if s.first_position_rate is None else f"{s.first_position_rate:.0%}",
                "no_claims": s.no_claims,
            }
        )
    consistency = _consistency_bars(
        [(s.rubric, s.consistent_pairs, s.swapped_pairs) for _, s in sorted(results.judge_stats.items())]
    )
    return {
        "title": f"LLM gate: {results.gate.status}",
        "gate": results.gate,
        "meta": _run_meta(results),
        "compare": None
        if compare is None
        else {"meta": _run_meta(compare), "removed_suites": sorted(set(compare.suites) - set(results.suites))},
        "against": "before" if compare is not None else "baseline",
        "settings": [{"key": str(k), "text": as_text(v)} for k, v in sorted(results.settings.items())],
        "suites": suites,
        "judge_rows": judge_rows,
        "judge_consistency": consistency,
        "calibration": _calibration_view(results.calibration),
        "jury": _jury_view(results.jury),
        "judge_warnings": list(results.judge_warnings),
    }


def _jury_view(jury: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rubric, entry in sorted(jury.items()):
        for pair in entry.get("pairs", []):
            low, high = pair.get("low"), pair.get("high")
            rows.append(
                {
                    "rubric": rubric,
                    "aggregate": entry.get("aggregate", ""),
                    "a": pair["a"],
                    "b": pair["b"],
                    "n": pair["n"],
                    "agreement": "—" if pair.get("agreement") is None else f"{pair['agreement']:.0%}",
                    "kappa": fmt(pair.get("kappa"), 2),
                    "interval": "—" if low is None or high is None else f"[{low:.2f}, {high:.2f}]",
                }
            )
    return rows


# --------------------------------------------------------------------------- rendering


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    return env


def render_html_string(results: RunResults, *, compare: RunResults | None = None) -> str:
    """The report as one HTML string (what `render_html` writes)."""
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sha256_source(script)}",
            f"style-src {_sha256_source(style)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    data, encoding = embed_case_data(build_case_data(results, compare))
    template = _environment().get_template("report.html.j2")
    return template.render(
        view=_view(results, compare),
        csp=csp,
        script=Markup(script),
        style=Markup(style),
        data=data,
        data_encoding=encoding,
    )


def render_html(results: RunResults, path: Path, *, compare: RunResults | None = None) -> Path:
    """Render the report for `results` to `path` atomically; `compare` is shown as "before"."""
    return atomic_write_text(Path(path), render_html_string(results, compare=compare))
