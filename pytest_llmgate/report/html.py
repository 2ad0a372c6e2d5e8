"""The HTML report: one self-contained file a reviewer opens to see what changed.

This module renders the page and embeds its data; what the page shows is built beside it:
the per-case records in `case_data.py`, the charts in `charts.py`.

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
import functools
import gzip
import hashlib
import json
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pytest_llmgate._files import atomic_write_chunks, printable_json, utf8
from pytest_llmgate._files import atomic_write_text as _atomic_write_text
from pytest_llmgate._redact import provider_model
from pytest_llmgate.gate.records import MetricVerdict, RepeatStats, Restore, RunResults, SliceVerdict
from pytest_llmgate.report._format import EPS, as_text, finite, fmt, fmt_p, fmt_signed
from pytest_llmgate.report.case_data import (
    CaseData,
    build_case_data,
    case_changes,
    higher_is_better,
    metric_names,
    reference_cases,
)
from pytest_llmgate.report.charts import confusion_chart, consistency_bars, find_confusion, stat_text, suite_charts
from pytest_llmgate.report.history import HISTORY_PAGE, history_view, write_history_page
from pytest_llmgate.report.slices import order_slices

__all__ = ["atomic_write_text", "build_case_data", "read_case_data", "render_html", "render_html_string"]

TEMPLATES = Path(__file__).parent / "templates"
#: Case data JSON longer than this many bytes is embedded gzip-compressed and base64-encoded.
COMPRESS_ABOVE = 256 * 1024
#: The `data-encoding` of a compressed case-data block (a plain block has none).
GZIP_BASE64 = "gzip+base64"


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a report atomically; a lone surrogate in a model output is written as its escape."""
    return _atomic_write_text(path, text)


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(utf8(text)).digest()).decode() + "'"


def embed_json(data: Any) -> Markup:
    """JSON for a `<script type="application/json">` block that cannot end the block early.

    ASCII-only output escapes U+2028/2029; `<`, `>` and `&` become unicode escapes, so neither
    `</script>` nor `<!--` can appear in the text. A lone surrogate shows as its six-character
    escape, as in every other file (`_files.printable_json`).
    """
    return Markup(_escaped(_ascii_json(data)))


def _ascii_json(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=True)` (compact, sorted), with lone surrogates made printable."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False)
    if "\\ud" not in text:  # no surrogate escape at all: the common, fast case
        return text
    raw = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    fixed = printable_json(raw)
    if fixed is raw:  # only whole pairs (emoji)
        return text
    return json.dumps(json.loads(fixed), ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _escaped(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _case_data_chunks(data: CaseData) -> Iterator[str]:
    """`embed_json(build_case_data(...))` in pieces: one case at a time, then the tables."""

    def dump(value: Any) -> str:
        return _escaped(_ascii_json(value))

    # Sorted keys: "against" < "cases" < the tables filled while the cases are made.
    yield '{"against":' + dump("before" if data.compare is not None else "baseline") + ',"cases":['
    for index, row in enumerate(data.rows()):
        yield ("," if index else "") + dump(row)
    yield "]"
    tables = data.tables()
    for key in ("directions", "metrics", "primary"):
        yield f',"{key}":' + dump(tables[key])
    yield ',"strings":['
    for index, text in enumerate(data.pool):
        yield ("," if index else "") + dump(text)
    yield "]}"


def _embedded_case_data(chunks: Iterator[str], compress_above: int | None = None) -> tuple[list[str], str]:
    """What `embed_case_data` gives, from the JSON in pieces: plain pieces, or the compressed block.

    Pieces are kept until they pass the limit; past it, each is compressed as it comes, so only
    the (several times smaller) compressed form is ever held whole.
    """
    limit = COMPRESS_ABOVE if compress_above is None else compress_above
    held: list[str] = []
    size = 0
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    else:
        return held, ""
    # gzip.compress(text, compresslevel=6, mtime=0), made piecewise: header, raw deflate, trailer.
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    packed = [gzip.compress(b"", compresslevel=6, mtime=0)[:10]]
    crc, length = 0, 0
    for chunk in [*held, *chunks]:
        raw = chunk.encode("ascii")
        crc, length = zlib.crc32(raw, crc), length + len(raw)
        packed.append(deflate.compress(raw))
    held.clear()
    packed.append(deflate.flush())
    packed.append(struct.pack("<LL", crc, length & 0xFFFFFFFF))
    return [base64.b64encode(b"".join(packed)).decode("ascii")], GZIP_BASE64


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


# --------------------------------------------------------------------------- charts


def _comparison_rows(results: RunResults, compare: RunResults, suite_id: str) -> dict[str, Any]:
    """Paired means of each metric in `compare` (before) and `results` (now)."""
    suite = results.suites[suite_id]
    before = compare.suites.get(suite_id)
    before_cases = before.cases if before is not None else {}
    names = metric_names(suite.metrics, [case.metrics for case in suite.cases.values()])
    rows = []
    for name in names:
        higher = higher_is_better(suite.metrics, name)
        pairs = []
        for case_id, case in suite.cases.items():
            other = before_cases.get(case_id)
            a = finite(case.metrics.get(name))
            b = finite(other.metrics.get(name)) if other is not None else None
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
        found = find_confusion(entry)
        skip: set[tuple[str, ...]] = set()
        if found is not None:
            block["matrix"] = confusion_chart(found[0], found[1])
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
                        block["entries"].append({"key": f"{key}.{sub}", "text": stat_text(value[sub])})
                continue
            block["entries"].append({"key": str(key), "text": stat_text(value)})
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
        "judge": provider_model(results.judge_provider) or "none",
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


#: Slice rows shown open in the report (gated ones always); the rest are folded below them.
HTML_SLICE_ROWS = 20


def _slice_row(piece: SliceVerdict, mv: MetricVerdict) -> dict[str, Any]:
    """One slice metric as the report's table shows it."""
    return {
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


def _view(results: RunResults, compare: RunResults | None) -> dict[str, Any]:
    verdicts = {verdict.suite: verdict for verdict in results.verdicts}
    suites = []
    for suite_id in sorted(results.suites):
        suite = results.suites[suite_id]
        reference = reference_cases(results, compare, suite_id)
        verdict = verdicts.get(suite_id)
        changes = case_changes(results, compare, suite_id, reference)
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
        ordered = order_slices(verdict.slices if verdict is not None else [], HTML_SLICE_ROWS)
        slice_rows = [_slice_row(piece, mv) for piece, mv in ordered.shown]
        folded_slices = [_slice_row(piece, mv) for piece, mv in ordered.folded]
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
                "slices_folded": folded_slices,
                "changes": counts,
                "charts": suite_charts(results, compare, suite_id, reference),
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
    consistency = consistency_bars(
        [(s.rubric, s.consistent_pairs, s.swapped_pairs) for _, s in sorted(results.judge_stats.items())]
    )
    return {
        "title": f"LLM gate: {results.gate.status}",
        "gate": _gate_view(results),
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
        "history": history_view(results),
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


def warm_template() -> None:
    """Compile the report's template ahead of the end of the session (`session.warmup`)."""
    _environment().get_template("report.html.j2")


@functools.cache
def _environment() -> Environment:
    """One per process: Jinja2 keeps the compiled template in it."""
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


#: Stands in the rendered page for the case-data block, which is written around it in pieces.
_DATA_SLOT = "\x00llmgate-case-data\x00"


def _html_chunks(results: RunResults, compare: RunResults | None, restore: Restore | None = None) -> Iterator[str]:
    """The report's text in pieces: the page around the case data, and the case data piecewise."""
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
    data, encoding = _embedded_case_data(_case_data_chunks(CaseData(results, compare, restore=restore)))
    template = _environment().get_template("report.html.j2")
    page = template.render(
        view=_view(results, compare),
        csp=csp,
        script=Markup(script),
        style=Markup(style),
        data=Markup(_DATA_SLOT),
        data_encoding=encoding,
    )
    head, tail = page.split(_DATA_SLOT)
    yield head
    yield from data
    yield tail


def render_html_string(results: RunResults, *, compare: RunResults | None = None) -> str:
    """The report as one HTML string (what `render_html` writes)."""
    return "".join(_html_chunks(results, compare))


def render_html(
    results: RunResults, path: Path, *, compare: RunResults | None = None, restore: Restore | None = None
) -> Path:
    """Render the report for `results` to `path` atomically, in pieces; `compare` is shown as "before";
    `restore` reads each case's spilled fields back as its row is made (`gate.spill`)."""
    written = atomic_write_chunks(Path(path), _html_chunks(results, compare, restore))
    if results.history is not None:  # the page the report's history link opens, beside it
        write_history_page(results.history, Path(path).with_name(HISTORY_PAGE))
    return written


def _gate_view(results: RunResults) -> dict[str, Any]:
    """The verdict as the page shows it: the same reason lines and remedies as the terminal and markdown."""
    from pytest_llmgate.gate.reasons import reason_lines, shown_remedies

    gate = results.gate
    remedies = shown_remedies(gate.reasons, gate.remedy)
    return {"status": gate.status, "reasons": reason_lines(gate.reasons), "remedy": " ".join(remedies) or None}
