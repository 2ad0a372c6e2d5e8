"""The `--llm-gate-*` flags and `llm_gate_*` ini keys pytest registers: names, defaults and help.

`config.read_settings` turns what they hold into one `Settings`; only pytest and `config`'s
defaults are imported here, as the plugin registers the options on every session.
"""

from __future__ import annotations

import pytest

from pytest_llmgate.config import (
    DEFAULT_ALPHA,
    DEFAULT_BATCH_POLL_INTERVAL,
    DEFAULT_CONCURRENCY,
    DEFAULT_JUDGE,
    DEFAULT_JUDGE_RETRIES,
    DEFAULT_JUDGE_TIMEOUT,
    DEFAULT_JURY_AGGREGATE,
    DEFAULT_MAX_JUDGE_ERROR_RATE,
    DEFAULT_SUT_CONCURRENCY,
    DEFAULT_TOLERANCE,
    JUDGE_ENV,
)


def add_options(parser: pytest.Parser) -> None:
    """Register every `--llm-gate-*` flag and `llm_gate_*` ini option."""
    group = parser.getgroup("llm-gate", "LLM eval regression gate")
    group.addoption(
        "--llm-gate",
        action="store_true",
        dest="llm_gate",
        default=False,
        help="Run golden-set evals and gate the build on their scores (default: off).",
    )
    group.addoption(
        "--llm-gate-update",
        action="store_true",
        dest="llm_gate_update",
        default=False,
        help="Rewrite the baselines from this run; implies --llm-gate (default: off).",
    )
    group.addoption(
        "--llm-gate-strict",
        action="store_true",
        dest="llm_gate_strict",
        default=False,
        help="Fail the build on any newly failing case, not only on metric drops (default: off).",
    )
    group.addoption(
        "--llm-gate-results",
        dest="llm_gate_results",
        default=None,
        metavar="PATH",
        help="Results JSON path (default: reports/llm-gate.json).",
    )
    group.addoption(
        "--llm-gate-report",
        dest="llm_gate_report",
        default=None,
        metavar="PATH",
        help="HTML report path (default: reports/llm-gate.html).",
    )
    group.addoption(
        "--llm-gate-baseline-dir",
        dest="llm_gate_baseline_dir",
        default=None,
        metavar="DIR",
        help="Folder of committed baselines (default: ini llm_gate_baseline_dir or baselines).",
    )
    group.addoption(
        "--llm-gate-alpha",
        dest="llm_gate_alpha",
        default=None,
        type=float,
        help=f"Significance level of the paired tests (default: {DEFAULT_ALPHA}).",
    )
    group.addoption(
        "--llm-gate-tolerance",
        dest="llm_gate_tolerance",
        default=None,
        type=float,
        help=f"Largest drop of a mean that is not material (default: {DEFAULT_TOLERANCE}).",
    )
    group.addoption(
        "--llm-gate-judge",
        dest="llm_gate_judge",
        action="append",
        default=None,
        metavar="SPEC",
        help=f"Judge: offline, anthropic:MODEL, openai:MODEL, openai-compatible:MODEL@URL; give it several "
        f"times for a jury (default: ${JUDGE_ENV} or ini llm_gate_judge or {DEFAULT_JUDGE}).",
    )
    group.addoption(
        "--llm-gate-concurrency",
        dest="llm_gate_concurrency",
        default=None,
        type=int,
        help=f"Judge calls in flight at most, for the whole run: split between xdist workers "
        f"(default: {DEFAULT_CONCURRENCY}).",
    )
    group.addoption(
        "--llm-gate-no-cache",
        action="store_true",
        dest="llm_gate_no_cache",
        default=False,
        help="Do not read or write the judge cache (default: cache on, in .llmgate/).",
    )
    group.addoption(
        "--llm-gate-replay",
        action="store_true",
        dest="llm_gate_replay",
        default=False,
        help="Serve judge calls from the cache only and fail listing misses (default: off).",
    )
    group.addoption(
        "--llm-gate-budget-tokens",
        dest="llm_gate_budget_tokens",
        default=None,
        type=int,
        help="Stop issuing judge calls once the run used this many tokens (default: no budget).",
    )
    group.addoption(
        "--llm-gate-shard",
        dest="llm_gate_shard",
        default=None,
        metavar="I/N",
        help="Run only shard I of N of every golden set; merge with `llmgate merge` (default: all).",
    )
    group.addoption(
        "--llm-gate-no-progress",
        action="store_false",
        dest="llm_gate_progress",
        default=True,
        help="Do not draw the SUT and judge progress bars (default: drawn on a terminal).",
    )
    # concurrent SUT calls, repeats, outputs from a file
    group.addoption(
        "--llm-gate-sut-concurrency",
        dest="llm_gate_sut_concurrency",
        default=None,
        type=int,
        metavar="N",
        help=f"SUT calls in flight at most, per process (default: {DEFAULT_SUT_CONCURRENCY}).",
    )
    group.addoption(
        "--llm-gate-sut-timeout",
        dest="llm_gate_sut_timeout",
        default=None,
        type=float,
        metavar="SECONDS",
        help="Fail a case whose SUT call takes longer than this (default: no timeout).",
    )
    group.addoption(
        "--llm-gate-repeat",
        dest="llm_gate_repeat",
        default=None,
        type=int,
        metavar="K",
        help="Run every case K times; report pass@k, pass^k and flaky cases (default: the marker's repeat, else 1).",
    )
    group.addoption(
        "--llm-gate-outputs",
        dest="llm_gate_outputs",
        default=None,
        metavar="FILE.jsonl",
        help="Feed the output fixture from this file instead of calling the SUT (default: call the SUT).",
    )
    group.addoption(
        "--llm-gate-save-outputs",
        dest="llm_gate_save_outputs",
        default=None,
        metavar="FILE.jsonl",
        help="Write this run's outputs to FILE.jsonl, the --llm-gate-outputs format (default: not written).",
    )

    # batch mode (issue 9, item 2)
    group.addoption(
        "--llm-gate-batch",
        action="store_true",
        dest="llm_gate_batch",
        default=False,
        help="Send judge calls through the Anthropic or OpenAI batch API, wait for them, then gate "
        "(default: off, or ini llm_gate_batch).",
    )
    # judge economics: dollars, prompt caching, re-judging the baseline
    group.addoption(
        "--llm-gate-budget-usd",
        dest="llm_gate_budget_usd",
        default=None,
        type=float,
        help="Stop issuing judge calls once the run spent this many dollars (default: no budget).",
    )
    group.addoption(
        "--llm-gate-rejudge-baseline",
        action="store_true",
        dest="llm_gate_rejudge_baseline",
        default=False,
        help="When the judge or a rubric changed, judge the baseline's stored outputs with the current "
        "judge so the comparison stays paired (default: off).",
    )

    parser.addini("llm_gate_baseline_dir", "Folder of committed baselines.", default="baselines")
    parser.addini("llm_gate_results", "Results JSON path.", default="reports/llm-gate.json")
    parser.addini("llm_gate_report", "HTML report path.", default="reports/llm-gate.html")
    parser.addini("llm_gate_markdown", "Markdown summary path.", default="reports/llm-gate.md")
    parser.addini("llm_gate_rubrics", "Folder of judge rubrics (YAML).", default="rubrics")
    parser.addini("llm_gate_labels_dir", "Folder of human calibration labels.", default="datasets/labels")
    parser.addini("llm_gate_cache_dir", "Judge cache folder.", default=".llmgate")
    parser.addini("llm_gate_alpha", "Significance level of the paired tests.", default=str(DEFAULT_ALPHA))
    parser.addini("llm_gate_tolerance", "Largest drop of a mean that is not material.", default=str(DEFAULT_TOLERANCE))
    parser.addini(
        "llm_gate_judge", "Judge provider spec; several (one per line) for a jury.", type="linelist", default=[]
    )
    parser.addini("llm_gate_concurrency", "Judge calls in flight at most.", default=str(DEFAULT_CONCURRENCY))
    parser.addini(
        "llm_gate_max_judge_error_rate",
        "Highest share of judge errors per rubric before the gate fails.",
        default=str(DEFAULT_MAX_JUDGE_ERROR_RATE),
    )
    parser.addini(
        "llm_gate_min_agreement",
        "Per rubric lower bound of judge-human kappa, as RUBRIC=VALUE lines.",
        type="linelist",
        default=[],
    )
    # batch mode (issue 9, item 2)
    parser.addini("llm_gate_batch", "Send judge calls through the provider's batch API.", type="bool", default=False)
    parser.addini(
        "llm_gate_batch_poll_interval",
        "Seconds between two status checks of a submitted judge batch.",
        default=str(DEFAULT_BATCH_POLL_INTERVAL),
    )
    # gate statistics v2: primary metrics and inconclusive runs
    group.addoption(
        "--llm-gate-fail-inconclusive",
        action="store_true",
        dest="llm_gate_fail_inconclusive",
        default=None,
        help="Fail the build when the gate is INCONCLUSIVE, e.g. on release branches "
        "(default: ini llm_gate_fail_inconclusive or off).",
    )
    parser.addini(
        "llm_gate_fail_inconclusive", "Fail the build when the gate is INCONCLUSIVE.", type="bool", default=False
    )
    group.addoption(
        "--llm-gate-family",
        dest="llm_gate_family",
        choices=("suite", "run"),
        default=None,
        help="Multiple-comparison family of the Holm correction: 'suite' (each suite's primary metrics and gated "
        "slices; a suite's verdict does not depend on the others) or 'run' (one family for the whole build) "
        "(default: ini llm_gate_family or suite).",
    )
    parser.addini(
        "llm_gate_family",
        "Holm family: suite (each suite's own primary metrics and gated slices) or run (the whole build).",
        default="suite",
    )
    # baselines as code: drift (issue 22)
    group.addoption(
        "--llm-gate-fail-drift",
        action="store_true",
        dest="llm_gate_fail_drift",
        default=None,
        help="Fail the gate when a primary metric's accepted baseline updates add up to a drop beyond its "
        "tolerance (drift), e.g. on the main branch (default: ini llm_gate_fail_drift or off: a warning).",
    )
    parser.addini(
        "llm_gate_fail_drift",
        "Fail the gate on drift of a primary metric (else a warning).",
        type="bool",
        default=False,
    )
    group.addoption(
        "--llm-gate-drift-since",
        dest="llm_gate_drift_since",
        default=None,
        metavar="REV",
        help="Commit (or tag) drift is measured from "
        "(default: ini llm_gate_drift_since or each baseline's first committed version).",
    )
    parser.addini("llm_gate_drift_since", "Commit (or tag) drift is measured from.", default="")
    parser.addini(
        "llm_gate_primary",
        "Metrics that gate when a golden marker names none (primary=), one or more per line.",
        type="linelist",
        default=[],
    )
    # Growing the golden set: read by `llmgate import` / `llmgate promote`, registered so pytest knows the key.
    parser.addini(
        "llm_gate_scrubber",
        "module:function that masks personal data in imported traces (after the built-in masking).",
        default="",
    )
    # RAG generation metrics and juries
    parser.addini(
        "llm_gate_jury_aggregate",
        "How a jury's verdicts combine when the rubric does not say: mean or majority.",
        default=DEFAULT_JURY_AGGREGATE,
    )
    parser.addini(
        "llm_gate_sut_model",
        "Model of the system under test (e.g. anthropic:claude-sonnet-4-5), to warn about judge self-preference.",
        default="",
    )
    # judge economics: dollars, prompt caching, re-judging the baseline
    parser.addini(
        "llm_gate_judge_price",
        "Judge price in dollars per million tokens: input=.. output=.. [cache_read=..] [cache_write=..].",
        default="",
    )

    # judge timeouts, retries, deadline
    group.addoption(
        "--llm-gate-judge-timeout",
        dest="llm_gate_judge_timeout",
        default=None,
        metavar="SECONDS",
        help=f"Seconds one judge request may take before it is retried "
        f"(default: ini llm_gate_judge_timeout or {DEFAULT_JUDGE_TIMEOUT:g}).",
    )
    group.addoption(
        "--llm-gate-judge-retries",
        dest="llm_gate_judge_retries",
        default=None,
        metavar="N",
        help=f"Retries of a judge request after a timeout, 429, 5xx or connection error "
        f"(default: ini llm_gate_judge_retries or {DEFAULT_JUDGE_RETRIES}).",
    )
    group.addoption(
        "--llm-gate-judge-deadline",
        dest="llm_gate_judge_deadline",
        default=None,
        metavar="SECONDS",
        help="Stop issuing judge calls this many seconds after the session starts; what is left "
        "is counted as judge errors (default: ini llm_gate_judge_deadline or no deadline).",
    )
    parser.addini("llm_gate_judge_timeout", "Seconds one judge request may take.", default=f"{DEFAULT_JUDGE_TIMEOUT:g}")
    parser.addini("llm_gate_judge_retries", "Retries of a failed judge request.", default=str(DEFAULT_JUDGE_RETRIES))
    parser.addini("llm_gate_judge_deadline", "Seconds after session start to stop issuing judge calls.", default="")
    parser.addini(
        "llm_gate_sut_concurrency", "SUT calls in flight at most, per process.", default=str(DEFAULT_SUT_CONCURRENCY)
    )
    parser.addini("llm_gate_sut_timeout", "Seconds one SUT call may take (empty: no timeout).", default="")
