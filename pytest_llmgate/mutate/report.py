"""The mutation report: terminal lines, the deterministic JSON and a self-contained HTML page.

Each renders the same `MutationReport`; none decides anything.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate._files import atomic_write_text, dumps
from pytest_llmgate.mutate.plant import Example
from pytest_llmgate.mutate.runs import NOT_MOVED, NOTE_SEPARATOR, Catch, SuiteOutcome

FORMAT_VERSION = 1


@dataclass
class Mutant:
    """One operator planted in one suite, and what the suite's gate said."""

    suite: str
    operator: str
    description: str
    cases: list[str]
    """The mutated cases' ids."""
    eligible: int
    outcome: SuiteOutcome
    outputs_file: str
    """The mutated outputs file: `pytest --llm-gate --llm-gate-outputs FILE` replays this mutant."""
    example: Example | None = None

    def caught_by(self) -> str:
        return ", ".join(_catch(c) for c in self.outcome.caught_by) or "–"

    def p(self) -> str:
        values = [c.p for c in self.outcome.caught_by if c.p is not None]
        return f"{min(values):.2g}" if values else "–"


def _catch(catch: Catch) -> str:
    where = f" [slice {catch.slice}]" if catch.slice else ""
    if catch.how == "regression":
        return f"{catch.metric}{where}"
    if catch.how == "floor":
        return f"{catch.metric} (floor)"
    return catch.metric if catch.how in ("newly failing", "problem") else f"{catch.how}: {catch.metric}"


@dataclass
class SuiteReport:
    """Mutation testing of one suite."""

    suite: str
    cases: int
    baseline_gate: str
    """The unmutated run's verdict of the suite."""
    mutants: list[Mutant] = field(default_factory=list)
    skipped: str = ""
    """Why the suite's mutants were not run (its unmutated run FAILs)."""

    def scored(self) -> list[Mutant]:
        return [m for m in self.mutants if m.outcome.status != "unscored"]

    def caught(self) -> int:
        return sum(1 for m in self.mutants if m.outcome.status == "caught")


@dataclass
class MutationReport:
    """Everything `llmgate mutate` found."""

    seed: int
    rate: float
    suites: list[SuiteReport]
    operators: list[str]
    """The operators asked for (each runs in suites whose outputs it applies to)."""
    calls: int = 0
    """Judge calls the mutants' sessions sent to a provider."""
    cache_hits: int = 0
    dollars: float | None = 0.0

    def score(self) -> tuple[int, int]:
        caught = sum(s.caught() for s in self.suites)
        return caught, sum(len(s.scored()) for s in self.suites)


def score_line(caught: int, total: int) -> str:
    percent = f"{100 * caught / total:.0f}%" if total else "no mutant"
    return f"mutation score: {caught} of {total} mutant{'s' if total != 1 else ''} caught ({percent})"


def percent(caught: int, total: int) -> float | None:
    return None if not total else 100.0 * caught / total


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def lines(report: MutationReport) -> list[str]:
    """The terminal report: a table per suite, its score, then the overall score."""
    out: list[str] = []
    for suite in report.suites:
        out.append(f"{suite.suite}  {suite.cases} cases, unmutated: {suite.baseline_gate}")
        if suite.skipped:
            out.append(f"  not mutated: {suite.skipped}")
            out.append("")
            continue
        if not suite.mutants:
            out.append("  no operator applies to this suite's outputs")
            out.append("")
            continue
        rows = [["operator", "mutated", "outcome", "caught by", "p"]]
        for m in suite.mutants:
            outcome = m.outcome.status if m.outcome.status != "unscored" else f"unscored: {m.outcome.note}"
            rows.append([m.operator, f"{len(m.cases)}/{suite.cases}", outcome, m.caught_by(), m.p()])
        out += ["  " + line for line in _table(rows, right={1, 4})]
        caught, total = suite.caught(), len(suite.scored())
        out.append("  " + score_line(caught, total))
        missed = [m.operator for m in suite.mutants if m.outcome.status == "missed"]
        if missed:
            out.append(f"  blind spots (missed): {', '.join(missed)}")
        notes: dict[str, int] = {}
        for m in suite.mutants:
            if m.outcome.note and m.outcome.status != "unscored":
                for note in m.outcome.note.split(NOTE_SEPARATOR):
                    if note == NOT_MOVED:  # why it is missed, not a run-level gate
                        continue
                    key = note.split(":", 1)[0]
                    notes[key] = notes.get(key, 0) + 1
        for key, count in sorted(notes.items()):
            out.append(
                f"  note: {count} mutant(s) also failed a run-level gate ({key}); not counted, it is not the suite's check"
            )
        out.append("")
    caught, total = report.score()
    out.append(f"overall {score_line(caught, total)}")
    return out


def to_json(report: MutationReport) -> dict[str, Any]:
    """The JSON of `reports/llm-gate-mutants.json` (deterministic: no clock, no duration)."""
    caught, total = report.score()
    return {
        "format_version": FORMAT_VERSION,
        "seed": report.seed,
        "rate": report.rate,
        "operators": report.operators,
        "score": {"caught": caught, "mutants": total, "percent": percent(caught, total)},
        "judge": {"calls": report.calls, "cache_hits": report.cache_hits, "cost_usd": report.dollars},
        "suites": {
            s.suite: {
                "cases": s.cases,
                "unmutated_gate": s.baseline_gate,
                "skipped": s.skipped or None,
                "score": {
                    "caught": s.caught(),
                    "mutants": len(s.scored()),
                    "percent": percent(s.caught(), len(s.scored())),
                },
                "mutants": [
                    {
                        "operator": m.operator,
                        "description": m.description,
                        "cases": m.cases,
                        "eligible": m.eligible,
                        "outcome": m.outcome.status,
                        "gate": m.outcome.gate,
                        "caught_by": [
                            {"metric": c.metric, "p": c.p, "how": c.how, "slice": c.slice} for c in m.outcome.caught_by
                        ],
                        "note": m.outcome.note or None,
                        "outputs_file": m.outputs_file,
                        "example": None
                        if m.example is None
                        else {"case_id": m.example.case_id, "before": m.example.before, "after": m.example.after},
                    }
                    for m in s.mutants
                ],
            }
            for s in report.suites
        },
    }


def write_json(report: MutationReport, path: Path) -> Path:
    return atomic_write_text(path, dumps(to_json(report)))


_ORDER = {"missed": 0, "inconclusive": 1, "unscored": 2, "caught": 3}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d8dee4;padding:.3rem .5rem;text-align:left;vertical-align:top}
.missed{color:#b42318;font-weight:600}.inconclusive{color:#9a6700}.caught{color:#1a7f37}.unscored{color:#57606a}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.4rem;margin:.2rem 0;max-height:14rem;overflow:auto}
.score{font-size:1.05rem;font-weight:600}
"""


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return html.escape(text if len(text) <= 4000 else text[:4000] + " …")


def _changed(before: Any, after: Any) -> tuple[Any, Any]:
    """The fields of two dict outputs that differ (the whole outputs otherwise): what the mutant changed."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(k for k in set(before) | set(after) if before.get(k, _MISSING) != after.get(k, _MISSING))
        return {k: before[k] for k in keys if k in before}, {k: after[k] for k in keys if k in after}
    return before, after


_MISSING = object()


def render_html(report: MutationReport) -> str:
    """A self-contained page (no script, no network): blind spots first, one escaped example each."""
    esc = html.escape
    caught, total = report.score()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<title>LLM gate: mutation testing</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>LLM gate: mutation testing</h1>",
        f"<p class='score'>{esc(score_line(caught, total))}</p>",
        f"<p>seed {report.seed}, {report.rate:.0%} of each suite's cases per mutant; judge calls sent: "
        f"{report.calls}, cache hits: {report.cache_hits}.</p>",
    ]
    for suite in report.suites:
        parts.append(f"<h2>{esc(suite.suite)}</h2>")
        parts.append(f"<p>{suite.cases} cases, unmutated run: {esc(suite.baseline_gate)}. ")
        if suite.skipped:
            parts.append(f"Not mutated: {esc(suite.skipped)}</p>")
            continue
        parts.append(f"<span class='score'>{esc(score_line(suite.caught(), len(suite.scored())))}</span></p>")
        parts.append(
            "<table><thead><tr><th>operator</th><th>outcome</th><th>mutated</th><th>caught by</th><th>p</th>"
            "<th>example (before → after)</th></tr></thead><tbody>"
        )
        for m in sorted(suite.mutants, key=lambda m: (_ORDER[m.outcome.status], m.operator)):
            example = ""
            if m.example is not None:
                before, after = _changed(m.example.before, m.example.after)
                example = (
                    f"case <code>{esc(m.example.case_id)}</code><pre>{_show(before)}</pre><pre>{_show(after)}</pre>"
                )
            note = f"<br><small>{esc(m.outcome.note)}</small>" if m.outcome.note else ""
            parts.append(
                f"<tr><td><b>{esc(m.operator)}</b><br><small>{esc(m.description)}</small></td>"
                f"<td class='{m.outcome.status}'>{esc(m.outcome.status)}{note}</td>"
                f"<td>{len(m.cases)}/{suite.cases}</td><td>{esc(m.caught_by())}</td><td>{esc(m.p())}</td>"
                f"<td>{example}<small>replay: <code>pytest --llm-gate --llm-gate-outputs "
                f"{esc(m.outputs_file)}</code></small></td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(report: MutationReport, path: Path) -> Path:
    return atomic_write_text(path, render_html(report))
