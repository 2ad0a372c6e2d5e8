"""One typed settings object for a gated run, read from CLI flags, ini options and env.

Only the standard library is imported here: the plugin reads settings on every session,
gated or not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DEFAULT_ALPHA = 0.05
DEFAULT_TOLERANCE = 0.05
DEFAULT_JUDGE = "offline"
DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_JUDGE_ERROR_RATE = 0.05
JUDGE_ENV = "LLM_GATE_JUDGE"
DEFAULT_BATCH_POLL_INTERVAL = 30.0
DEFAULT_JUDGE_TIMEOUT = 60.0
DEFAULT_JUDGE_RETRIES = 4


@dataclass(frozen=True)
class Settings:
    """The effective settings of one gated run (secrets never live here)."""

    enabled: bool
    """`--llm-gate`: run evals and gate the build."""
    update: bool = False
    """`--llm-gate-update`: rewrite baselines from this run."""
    strict: bool = False
    """`--llm-gate-strict`: any newly failing case fails the build."""
    rootdir: Path = Path(".")
    baseline_dir: Path = Path("baselines")
    """Folder of committed baselines, one JSON file per suite."""
    results_path: Path = Path("reports/llm-gate.json")
    html_path: Path = Path("reports/llm-gate.html")
    markdown_path: Path = Path("reports/llm-gate.md")
    rubrics_dir: Path = Path("rubrics")
    labels_dir: Path = Path("datasets/labels")
    cache_dir: Path | None = Path(".llmgate")
    """Judge cache folder; None with `--llm-gate-no-cache`."""
    alpha: float = DEFAULT_ALPHA
    """Significance level of the one-sided paired tests (Holm-adjusted)."""
    tolerance: float = DEFAULT_TOLERANCE
    """Largest drop of a metric's mean that is not material."""
    judge: str = DEFAULT_JUDGE
    """Judge provider spec: offline, anthropic:<model>, openai:<model>, openai-compatible:<model>@<url>."""
    concurrency: int = DEFAULT_CONCURRENCY
    replay: bool = False
    """Serve judge calls from the cache only; a miss is an error."""
    budget_tokens: int | None = None
    max_judge_error_rate: float = DEFAULT_MAX_JUDGE_ERROR_RATE
    min_agreement: dict[str, float] = field(default_factory=dict)
    """Per rubric: lowest acceptable lower bound of judge-human kappa."""
    shard: tuple[int, int] | None = None
    """(index, count), 1-based index, from `--llm-gate-shard I/N`."""
    progress: bool = True
    # batch mode (issue 9, item 2)
    batch: bool = False
    """`--llm-gate-batch`: send judge calls through the provider's batch API, then gate."""
    batch_poll_interval: float = DEFAULT_BATCH_POLL_INTERVAL
    """Seconds between two status checks of a submitted batch."""
    # judge timeouts, retries, deadline
    judge_timeout: float = DEFAULT_JUDGE_TIMEOUT
    """Seconds one judge request may take before it is retried (or counted as an error)."""
    judge_retries: int = DEFAULT_JUDGE_RETRIES
    """Retries of a judge request after a timeout, 429, 5xx or connection error."""
    judge_deadline: float | None = None
    """Seconds after the session starts when no more judge calls are issued; None for none."""

    def public(self) -> dict[str, Any]:
        """Settings as written into the results file (paths relative, no secrets)."""
        return {
            "alpha": self.alpha,
            "tolerance": self.tolerance,
            "strict": self.strict,
            "update": self.update,
            "judge": self.judge,
            "concurrency": self.concurrency,
            "replay": self.replay,
            "budget_tokens": self.budget_tokens,
            "max_judge_error_rate": self.max_judge_error_rate,
            "min_agreement": dict(sorted(self.min_agreement.items())),
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            "cache": self.cache_dir is not None,
            "batch": self.batch,
            "judge_timeout": self.judge_timeout,
            "judge_retries": self.judge_retries,
            "judge_deadline": self.judge_deadline,
        }


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
        default=None,
        metavar="SPEC",
        help=f"Judge: offline, anthropic:MODEL, openai:MODEL, openai-compatible:MODEL@URL "
        f"(default: ${JUDGE_ENV} or ini llm_gate_judge or {DEFAULT_JUDGE}).",
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
        help="Stop issuing judge calls once this many tokens were used (default: no budget).",
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
        help="Do not draw the judge progress bar (default: drawn on a terminal).",
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

    parser.addini("llm_gate_baseline_dir", "Folder of committed baselines.", default="baselines")
    parser.addini("llm_gate_results", "Results JSON path.", default="reports/llm-gate.json")
    parser.addini("llm_gate_report", "HTML report path.", default="reports/llm-gate.html")
    parser.addini("llm_gate_markdown", "Markdown summary path.", default="reports/llm-gate.md")
    parser.addini("llm_gate_rubrics", "Folder of judge rubrics (YAML).", default="rubrics")
    parser.addini("llm_gate_labels_dir", "Folder of human calibration labels.", default="datasets/labels")
    parser.addini("llm_gate_cache_dir", "Judge cache folder.", default=".llmgate")
    parser.addini("llm_gate_alpha", "Significance level of the paired tests.", default=str(DEFAULT_ALPHA))
    parser.addini("llm_gate_tolerance", "Largest drop of a mean that is not material.", default=str(DEFAULT_TOLERANCE))
    parser.addini("llm_gate_judge", "Judge provider spec.", default=DEFAULT_JUDGE)
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
    # Growing the golden set: read by `llmgate import` / `llmgate promote`, registered so pytest knows the key.
    parser.addini(
        "llm_gate_scrubber",
        "module:function that masks personal data in imported traces (after the built-in masking).",
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


def _number(value: Any, name: str, kind: type, *, low: float | None = None, high: float | None = None) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        msg = f"'{name}' must be a {kind.__name__} (got {value!r})."
        raise pytest.UsageError(msg) from None
    if (low is not None and number <= low) or (high is not None and number >= high):
        bounds = f"between {low} and {high}" if high is not None else f"above {low}"
        msg = f"'{name}' must be {bounds} (got {value!r})."
        raise pytest.UsageError(msg)
    return number


def _option_or_ini(config: pytest.Config, dest: str, flag: str) -> tuple[str, str]:
    """The raw value of a setting and the name the user gave it by (the flag, else the ini key)."""
    raw = config.getoption(dest)
    if raw is not None:
        return str(raw), flag
    return str(config.getini(dest)).strip(), dest


def _judge_limits(config: pytest.Config) -> tuple[float, int, float | None]:
    """Judge timeout, retries and deadline, each from its flag or ini key."""
    raw, name = _option_or_ini(config, "llm_gate_judge_timeout", "--llm-gate-judge-timeout")
    try:
        timeout = float(raw)
    except ValueError:
        timeout = -1.0
    if not timeout > 0 or timeout == float("inf"):
        msg = f"'{name}' must be a positive number of seconds (got {raw!r})."
        raise pytest.UsageError(msg)
    raw, name = _option_or_ini(config, "llm_gate_judge_retries", "--llm-gate-judge-retries")
    try:
        retries = int(raw)
    except ValueError:
        retries = -1
    if retries < 0:
        msg = f"'{name}' must be a non-negative integer (got {raw!r})."
        raise pytest.UsageError(msg)
    raw, name = _option_or_ini(config, "llm_gate_judge_deadline", "--llm-gate-judge-deadline")
    if not raw:
        return timeout, retries, None
    try:
        deadline = float(raw)
    except ValueError:
        deadline = -1.0
    if not deadline > 0 or deadline == float("inf"):
        msg = f"'{name}' must be a positive number of seconds (got {raw!r})."
        raise pytest.UsageError(msg)
    return timeout, retries, deadline


def worker_concurrency(total: int, workerinput: dict[str, Any]) -> int:
    """This xdist worker's share of the judge concurrency: the limit is split between the
    workers (gw0 gets the first of any remainder), so together they keep `total` calls in
    flight at most. Every worker keeps at least one slot, so with fewer slots than workers
    the run has one call in flight per worker."""
    count = int(workerinput.get("workercount", 1))
    worker_id = str(workerinput.get("workerid", "gw0"))
    index = int(worker_id[2:]) if worker_id[2:].isdigit() else 0
    share, remainder = divmod(total, max(1, count))
    return max(1, share + (1 if index < remainder else 0))


def _parse_shard(raw: str) -> tuple[int, int]:
    try:
        index_text, count_text = raw.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        msg = f"'--llm-gate-shard' must look like I/N, e.g. 2/4 (got {raw!r})."
        raise pytest.UsageError(msg) from None
    if count < 1 or not 1 <= index <= count:
        msg = f"'--llm-gate-shard' needs 1 <= I <= N (got {raw!r})."
        raise pytest.UsageError(msg)
    return index, count


def _parse_agreement(lines: list[str]) -> dict[str, float]:
    result: dict[str, float] = {}
    for line in lines:
        for item in line.split():
            rubric, sep, value = item.partition("=")
            if not sep or not rubric:
                msg = f"'llm_gate_min_agreement' entries must look like RUBRIC=VALUE (got {item!r})."
                raise pytest.UsageError(msg)
            result[rubric] = _number(value, f"llm_gate_min_agreement {rubric}", float, low=-1.0, high=1.000001)
    return result


def read_settings(config: pytest.Config) -> Settings:
    """Build the run's settings: CLI flags win over env, env over ini, ini over defaults."""
    update = bool(config.getoption("llm_gate_update"))
    enabled = bool(config.getoption("llm_gate")) or update
    rootdir = Path(config.rootpath)

    def path(option: str, ini: str) -> Path:
        raw = config.getoption(option) if option else None
        value = Path(raw or config.getini(ini))
        return value if value.is_absolute() else rootdir / value

    shard_raw = config.getoption("llm_gate_shard")
    shard = _parse_shard(shard_raw) if shard_raw else None
    if shard and update:
        msg = "'--llm-gate-update' and '--llm-gate-shard' cannot be combined: update baselines from a full run."
        raise pytest.UsageError(msg)
    replay = bool(config.getoption("llm_gate_replay"))
    no_cache = bool(config.getoption("llm_gate_no_cache"))
    if replay and no_cache:
        msg = "'--llm-gate-replay' and '--llm-gate-no-cache' cannot be combined: replay reads the cache."
        raise pytest.UsageError(msg)
    judge = config.getoption("llm_gate_judge") or os.environ.get(JUDGE_ENV) or config.getini("llm_gate_judge")
    alpha = config.getoption("llm_gate_alpha")
    tolerance = config.getoption("llm_gate_tolerance")
    concurrency = config.getoption("llm_gate_concurrency")
    budget = config.getoption("llm_gate_budget_tokens")
    batch = bool(config.getoption("llm_gate_batch")) or bool(config.getini("llm_gate_batch"))
    if batch:
        _check_batch(replay=replay, no_cache=no_cache, budget=budget)
    judge_timeout, judge_retries, judge_deadline = _judge_limits(config)
    return Settings(
        enabled=enabled,
        update=update,
        strict=bool(config.getoption("llm_gate_strict")),
        rootdir=rootdir,
        baseline_dir=path("llm_gate_baseline_dir", "llm_gate_baseline_dir"),
        results_path=path("llm_gate_results", "llm_gate_results"),
        html_path=path("llm_gate_report", "llm_gate_report"),
        markdown_path=path("", "llm_gate_markdown"),
        rubrics_dir=path("", "llm_gate_rubrics"),
        labels_dir=path("", "llm_gate_labels_dir"),
        cache_dir=None if no_cache else path("", "llm_gate_cache_dir"),
        alpha=_number(
            alpha if alpha is not None else config.getini("llm_gate_alpha"), "llm_gate_alpha", float, low=0.0, high=1.0
        ),
        tolerance=_number(
            tolerance if tolerance is not None else config.getini("llm_gate_tolerance"),
            "llm_gate_tolerance",
            float,
            low=-1e-12,
        ),
        judge=str(judge),
        concurrency=_number(
            concurrency if concurrency is not None else config.getini("llm_gate_concurrency"),
            "llm_gate_concurrency",
            int,
            low=0,
        ),
        replay=replay,
        budget_tokens=None if budget is None else _number(budget, "llm_gate_budget_tokens", int, low=0),
        max_judge_error_rate=_number(
            config.getini("llm_gate_max_judge_error_rate"),
            "llm_gate_max_judge_error_rate",
            float,
            low=-1e-12,
            high=1.000001,
        ),
        min_agreement=_parse_agreement(config.getini("llm_gate_min_agreement")),
        shard=shard,
        progress=bool(config.getoption("llm_gate_progress")),
        batch=batch,
        batch_poll_interval=_number(
            config.getini("llm_gate_batch_poll_interval"), "llm_gate_batch_poll_interval", float, low=0.0
        ),
        judge_timeout=judge_timeout,
        judge_retries=judge_retries,
        judge_deadline=judge_deadline,
    )


def _check_batch(*, replay: bool, no_cache: bool, budget: int | None) -> None:
    """Batch mode delivers answers through the cache and pays for a batch as a whole."""
    if replay:
        msg = "'--llm-gate-batch' and '--llm-gate-replay' cannot be combined: replay makes no judge calls."
        raise pytest.UsageError(msg)
    if no_cache:
        msg = "'--llm-gate-batch' and '--llm-gate-no-cache' cannot be combined: batch answers arrive through the cache."
        raise pytest.UsageError(msg)
    if budget is not None:
        msg = (
            "'--llm-gate-batch' and '--llm-gate-budget-tokens' cannot be combined: a submitted batch is paid "
            "as a whole, so a token budget cannot stop it midway."
        )
        raise pytest.UsageError(msg)
