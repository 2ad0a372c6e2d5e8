"""Run gated pytest sessions in subprocesses and read each suite's verdict from their results JSON.

`llmgate mutate` never reaches into a session: its interface is the command line
(`--llm-gate-outputs`, `--llm-gate-save-outputs`, `--llm-gate-results`), the outputs files and
the results JSON. Each session writes its results, HTML and markdown into a private folder (the
user's `reports/` files are never overwritten), never updates a baseline, leaves pytest's own
cache (`--lf`) alone and appends nothing to `$GITHUB_STEP_SUMMARY`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmgate.mutate.plant import MutateError

#: Flags `llmgate mutate` sets itself for every session: a user's copy would overwrite their
#: files or the mutants' outputs, so they are refused with the reason.
_REFUSED = {
    "--llm-gate-update": "mutants must never rewrite a baseline",
    "--llm-gate-outputs": "pass a saved outputs file with `llmgate mutate --outputs FILE`",
    "--llm-gate-save-outputs": "the outputs of the unmutated run are saved in the mutants' folder",
    "--llm-gate-results": "each mutant's results go to the mutants' folder",
    "--llm-gate-report": "each mutant's report goes to the mutants' folder",
    "--llm-gate-shard": "a shard does not gate; mutate the whole set",
    "--junitxml": "the mutants' sessions would overwrite your JUnit file",
    "--junit-xml": "the mutants' sessions would overwrite your JUnit file",
}
BUDGET_FLAG = "--llm-gate-budget-usd"


def split_budget(args: list[str]) -> tuple[list[str], float | None]:
    """The pytest args without `--llm-gate-budget-usd D`, and D: mutate spreads it over its sessions."""
    kept: list[str] = []
    budget: float | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        value: str | None = None
        if arg == BUDGET_FLAG and index + 1 < len(args):
            value, index = args[index + 1], index + 2
        elif arg.startswith(BUDGET_FLAG + "="):
            value, index = arg.split("=", 1)[1], index + 1
        else:
            kept.append(arg)
            index += 1
            continue
        try:
            budget = float(value)
        except ValueError:
            budget = -1.0
        if not budget >= 0:
            msg = f"'{BUDGET_FLAG}' must be a number of dollars >= 0 (got {value})."
            raise MutateError(msg)
    return kept, budget


def check_args(args: list[str]) -> None:
    """Refuse the flags mutate sets itself (an error naming the flag and why)."""
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in _REFUSED:
            msg = f"`llmgate mutate` sets {flag} itself: {_REFUSED[flag]}; remove it from the pytest args."
            raise MutateError(msg)


@dataclass
class Session:
    """One finished gated pytest session."""

    exit_code: int
    results: dict[str, Any] | None
    """Its results JSON, or None when it wrote none (a usage error, a crash)."""
    output: str
    """Its terminal output (stdout and stderr), shown when it failed to gate."""


def run_session(
    pytest_args: list[str],
    folder: Path,
    *,
    outputs: Path | None = None,
    save_outputs: Path | None = None,
    budget_usd: float | None = None,
) -> Session:
    """Run `pytest --llm-gate` on `pytest_args` writing every file into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    results_path = folder / "llm-gate.json"
    results_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--llm-gate",
        "--llm-gate-no-progress",
        "--llm-gate-results",
        str(results_path),
        "--llm-gate-report",
        str(folder / "llm-gate.html"),
        "-o",
        f"llm_gate_markdown={folder / 'llm-gate.md'}",
    ]
    if outputs is not None:
        command += ["--llm-gate-outputs", str(outputs)]
    if save_outputs is not None:
        command += ["--llm-gate-save-outputs", str(save_outputs)]
    if budget_usd is not None:
        command += [BUDGET_FLAG, repr(budget_usd)]
    command += pytest_args
    env = dict(os.environ)
    env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    results = None
    if results_path.is_file():
        results = json.loads(results_path.read_text(encoding="utf-8"))
    return Session(exit_code=done.returncode, results=results, output=done.stdout + done.stderr)


#: Joins the run-level reasons of one session in `SuiteOutcome.note`.
NOTE_SEPARATOR = " | "
# The note of a mutant missed with the gate INCONCLUSIVE: the suite's own, not a run-level gate.
NOT_MOVED = "no primary metric moved"
Status = Literal["caught", "inconclusive", "missed", "unscored"]


@dataclass
class Catch:
    """A metric (or rule) that failed the suite."""

    metric: str
    p: float | None
    """Its Holm-adjusted p-value; None for a floor, a problem or newly failing cases."""
    how: str = "regression"
    """"regression", "floor" (below `min_score`), "newly failing" (strict) or "problem"."""
    slice: str | None = None


@dataclass
class SuiteOutcome:
    """A suite's verdict in one session, as mutation testing counts it."""

    status: Status
    gate: str
    """The suite's gate status: FAIL, INCONCLUSIVE, PASS, or "not gated"."""
    caught_by: list[Catch] = field(default_factory=list)
    note: str = ""
    """Why a mutant is unscored, or run-level reasons beside the suite's verdict."""


def _typed(reason: Any) -> dict[str, Any] | None:
    return reason if isinstance(reason, dict) and "kind" in reason else None


def suite_outcome(results: dict[str, Any] | None, suite: str) -> SuiteOutcome:
    """The suite's own verdict: FAIL (caught) when one of its primary metrics (or gated slices)
    dropped significantly beyond its tolerance, a metric broke its floor, a problem of the suite
    (a missing metric, every case errored) or strict newly failing cases failed it; INCONCLUSIVE
    when a primary metric could not tell; else PASS (missed). INCONCLUSIVE with no primary metric
    moved at all is missed too: nothing the suite measures noticed the mutant.

    Run-level reasons (calibration, judge errors) are not the suite's checks and are noted, not
    counted; a spent judge budget, the deadline or a replay miss leaves the mutant unscored (its
    verdicts are missing).
    """
    if results is None:
        return SuiteOutcome(status="unscored", gate="not gated", note="the session wrote no results")
    verdict = next((v for v in results.get("verdicts") or [] if v.get("suite") == suite), None)
    if verdict is None:
        return SuiteOutcome(status="unscored", gate="not gated", note="the suite did not run")
    gate = results.get("gate") or {}
    run_reasons = [r for r in gate.get("reasons") or [] if not _for_suite(r, suite) and not _for_other_suite(r)]
    cut = [r for r in run_reasons if _kind(r) in ("budget", "deadline", "replay_miss")]
    if cut:
        return SuiteOutcome(status="unscored", gate="not gated", note=_text(cut[0]))
    catches: list[Catch] = []
    for problem in verdict.get("problems") or []:
        catches.append(Catch(metric=str(problem), p=None, how="problem"))
    groups: list[tuple[str | None, list[dict[str, Any]]]] = [(None, verdict.get("metrics") or [])]
    groups += [(s.get("tag"), s.get("metrics") or []) for s in verdict.get("slices") or [] if s.get("gated")]
    unsure = False
    moved = False
    for tag, metrics in groups:
        for metric in metrics:
            status = metric.get("status")
            if metric.get("primary") and metric.get("diff"):
                moved = True
            if status == "below_floor" and tag is None:
                catches.append(Catch(metric=metric["metric"], p=None, how="floor"))
            elif status == "fail" and metric.get("primary"):
                catches.append(Catch(metric=metric["metric"], p=metric.get("p_adjusted"), slice=tag))
            elif status == "inconclusive" and metric.get("primary"):
                unsure = True
    if (results.get("settings") or {}).get("strict"):
        newly = [c for c in verdict.get("cases") or [] if c.get("kind") == "newly_failing"]
        if newly:
            catches.append(Catch(metric=f"{len(newly)} newly failing case(s)", p=None, how="newly failing"))
    typed = [r for r in gate.get("reasons") or [] if _typed(r) and r.get("suite") == suite]
    if not catches and any(_kind(r) not in ("inconclusive", "note") for r in typed):
        catches += [
            Catch(metric=r.get("metric") or r.get("kind"), p=None, how=str(r.get("kind")))
            for r in typed
            if _kind(r) not in ("inconclusive", "note")
        ]
    unsure = unsure or any(_kind(r) == "inconclusive" for r in typed)
    note = NOTE_SEPARATOR.join(_text(r) for r in run_reasons if _kind(r) != "note")
    if catches:
        return SuiteOutcome(status="caught", gate="FAIL", caught_by=catches, note=note)
    if unsure and not moved:
        # No primary metric moved at all: the suite did not notice the mutant; the gate is
        # INCONCLUSIVE only because the set cannot certify its tolerance (gate v3). A blind spot.
        return SuiteOutcome(
            status="missed", gate="INCONCLUSIVE", note=NOTE_SEPARATOR.join(filter(None, [NOT_MOVED, note]))
        )
    if unsure:
        return SuiteOutcome(status="inconclusive", gate="INCONCLUSIVE", note=note)
    return SuiteOutcome(status="missed", gate="PASS", note=note)


def _kind(reason: Any) -> str:
    typed = _typed(reason)
    if typed is not None:
        return str(typed["kind"])
    text = str(reason)
    if "budget" in text and "ran out" in text:
        return "budget"
    if "deadline" in text:
        return "deadline"
    if text.startswith("replay:") or "not in the cache" in text:
        return "replay_miss"
    return "text"


def _text(reason: Any) -> str:
    typed = _typed(reason)
    return str(typed.get("text")) if typed is not None else str(reason)


def _for_suite(reason: Any, suite: str) -> bool:
    typed = _typed(reason)
    if typed is not None:
        return typed.get("suite") == suite
    return str(reason).startswith(f"{suite}:") or str(reason).startswith(f"{suite} [")


def _for_other_suite(reason: Any) -> bool:
    typed = _typed(reason)
    if typed is not None:
        return typed.get("suite") is not None
    return "::" in str(reason).split(":", 1)[0] or ".py::" in str(reason).split(" ", 1)[0]


@dataclass
class Spend:
    """What a session's judge calls cost."""

    calls: int = 0
    """Judge calls sent to a provider (cache hits excluded)."""
    cache_hits: int = 0
    dollars: float | None = 0.0
    """Dollars spent; None when the price is unknown."""


def spend_of(results: dict[str, Any] | None) -> Spend:
    """The judge calls a session made and their cost, from its results' judge stats."""
    if results is None:
        return Spend()
    spend = Spend()
    offline = str(results.get("judge_provider") or "").startswith("offline")
    for stats in (results.get("judge_stats") or {}).values():
        calls = int(stats.get("calls") or 0)
        spend.cache_hits += int(stats.get("cache_hits") or 0)
        spend.calls += 0 if offline else calls  # provider requests (retries included); hits are not counted
        cost = stats.get("cost_usd")
        if cost is None or spend.dollars is None:
            spend.dollars = None
        else:
            spend.dollars += float(cost)
    return spend
