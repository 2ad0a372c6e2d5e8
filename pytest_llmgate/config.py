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

from pytest_llmgate._redact import without_credentials

DEFAULT_ALPHA = 0.05
DEFAULT_TOLERANCE = 0.03
DEFAULT_JUDGE = "offline"
DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_JUDGE_ERROR_RATE = 0.05
JUDGE_ENV = "LLM_GATE_JUDGE"
DEFAULT_BATCH_POLL_INTERVAL = 30.0
DEFAULT_JUDGE_TIMEOUT = 60.0
DEFAULT_JUDGE_RETRIES = 4
DEFAULT_JURY_AGGREGATE = "mean"
# SUT runner: peers default to 4 (promptfoo) and 10 (Inspect AI) requests in flight; a SUT call
# is often several provider requests (an agent loop), so 8 stays under low rate-limit tiers.
DEFAULT_SUT_CONCURRENCY = 8


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
    # gate statistics v2: primary metrics and inconclusive runs
    primary: tuple[str, ...] = ()
    """ini `llm_gate_primary`: metrics that gate when a marker names none; empty = the default set."""
    fail_inconclusive: bool = False
    """`--llm-gate-fail-inconclusive`: an INCONCLUSIVE gate fails the build (release branches)."""
    family: str = "suite"
    """`--llm-gate-family`: the Holm family is each suite's own (`suite`) or the whole run's (`run`)."""
    # baselines as code: drift (issue 22)
    fail_drift: bool = False
    """`--llm-gate-fail-drift`: drift of a primary metric fails the gate (main-branch runs); else a warning."""
    drift_since: str | None = None
    """`--llm-gate-drift-since REV`: the commit drift is measured from; None: each baseline's first version."""
    # judge timeouts, retries, deadline
    judge_timeout: float = DEFAULT_JUDGE_TIMEOUT
    """Seconds one judge request may take before it is retried (or counted as an error)."""
    judge_retries: int = DEFAULT_JUDGE_RETRIES
    """Retries of a judge request after a timeout, 429, 5xx or connection error."""
    judge_deadline: float | None = None
    """Seconds after the session starts when no more judge calls are issued; None for none."""
    # RAG generation metrics and juries
    judges: tuple[str, ...] = ()
    """Every judge spec of a jury, in the order given (`judge` is the first); one or none means no jury."""
    jury_aggregate: str = DEFAULT_JURY_AGGREGATE
    """How a jury's verdicts combine when the rubric does not say: `mean` or `majority`."""
    sut_model: str | None = None
    """Model of the system under test (`llm_gate_sut_model`), to warn about self-preference."""
    # judge economics: dollars, prompt caching, re-judging the baseline
    budget_usd: float | None = None
    """`--llm-gate-budget-usd`: stop issuing judge calls once this many dollars were spent."""
    judge_price: str | None = None
    """ini `llm_gate_judge_price`: `input=.. output=.. [cache_read=..] [cache_write=..]`, $ per million tokens."""
    rejudge_baseline: bool = False
    """`--llm-gate-rejudge-baseline`: judge the baseline's outputs with the current judge."""
    # concurrent SUT calls, repeats, outputs from a file
    sut_concurrency: int = DEFAULT_SUT_CONCURRENCY
    """SUT calls in flight at most, per process (`--llm-gate-sut-concurrency`)."""
    sut_timeout: float | None = None
    """Seconds one SUT call may take before its item fails; None waits as long as it takes."""
    repeat: int | None = None
    """`--llm-gate-repeat K`: run every case K times (wins over the marker's `repeat=`)."""
    outputs_path: Path | None = None
    """`--llm-gate-outputs FILE.jsonl`: feed the `output` fixture from this file, call no SUT."""
    save_outputs_path: Path | None = None
    """`--llm-gate-save-outputs FILE.jsonl`: write this run's outputs in the outputs-file format."""

    def public(self) -> dict[str, Any]:
        """Settings as written into the results file (paths relative, no secrets)."""
        return {
            "alpha": self.alpha,
            "tolerance": self.tolerance,
            "strict": self.strict,
            "update": self.update,
            "judge": without_credentials(self.judge),
            "concurrency": self.concurrency,
            "replay": self.replay,
            "budget_tokens": self.budget_tokens,
            "max_judge_error_rate": self.max_judge_error_rate,
            "min_agreement": dict(sorted(self.min_agreement.items())),
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            "cache": self.cache_dir is not None,
            "batch": self.batch,
            "primary": list(self.primary),
            "fail_inconclusive": self.fail_inconclusive,
            "family": self.family,
            "fail_drift": self.fail_drift,
            "drift_since": self.drift_since,
            "judge_timeout": self.judge_timeout,
            "judge_retries": self.judge_retries,
            "judge_deadline": self.judge_deadline,
            "judges": [without_credentials(spec) for spec in self.judges or (self.judge,)],
            "jury_aggregate": self.jury_aggregate,
            "sut_model": self.sut_model,
            "budget_usd": self.budget_usd,
            "judge_price": self.judge_price,
            "rejudge_baseline": self.rejudge_baseline,
            "sut_concurrency": self.sut_concurrency,
            "sut_timeout": self.sut_timeout,
            "repeat": self.repeat,
            "outputs": self.outputs_path.name if self.outputs_path else None,
        }


def _number(
    value: Any,
    name: str,
    kind: type,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """`value` as `kind`, within [low, high] (an open end excludes its bound); `name` is what the user typed."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        noun = "an integer" if kind is int else "a number"
        msg = f"'{name}' must be {noun} (got {value!r})."
        raise pytest.UsageError(msg) from None
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        if kind is int and low == 1 and high is None:
            bounds = "a positive integer"
        elif high is None:
            bounds = f"{'>' if low_open else '>='} {low:g}"
        elif low is None or low_open != high_open:
            bounds = " and ".join(
                f"{sign} {bound:g}"
                for sign, bound in ((">" if low_open else ">=", low), ("<" if high_open else "<=", high))
                if bound is not None
            )
        else:
            bounds = ("strictly " if low_open else "") + f"between {low:g} and {high:g}"
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


def worker_budgets(
    budget_tokens: int | None, budget_usd: float | None, workerinput: dict[str, Any]
) -> tuple[int | None, float | None]:
    """This xdist worker's share of the judge budgets: each is split evenly between the
    workers (tokens as the concurrency is, gw0 first for any remainder), so together they
    never spend more than the budget given."""
    count = max(1, int(workerinput.get("workercount", 1)))
    worker_id = str(workerinput.get("workerid", "gw0"))
    index = int(worker_id[2:]) if worker_id[2:].isdigit() else 0
    tokens = None
    if budget_tokens is not None:
        share, remainder = divmod(budget_tokens, count)
        tokens = share + (1 if index < remainder else 0)
    return tokens, None if budget_usd is None else budget_usd / count


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
            result[rubric] = _number(value, f"llm_gate_min_agreement {rubric}", float, low=-1.0, high=1.0)
    return result


def _results_path(config: pytest.Config, path: Path, shard: tuple[int, int] | None) -> Path:
    """A shard's results file is named after it (`llm-gate.shard-2-of-4.json`) unless the flag names one."""
    if shard is None or config.getoption("llm_gate_results"):
        return path
    index, count = shard
    return path.with_name(f"{path.stem}.shard-{index}-of-{count}{path.suffix}")


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
    judges = _judge_specs(config)
    family = str(config.getoption("llm_gate_family") or config.getini("llm_gate_family") or "suite").strip()
    if family not in ("suite", "run"):
        msg = f"'llm_gate_family' must be 'suite' or 'run' (got {family!r})."
        raise pytest.UsageError(msg)
    aggregate = str(config.getini("llm_gate_jury_aggregate")).strip()
    if aggregate not in ("mean", "majority"):
        msg = f"'llm_gate_jury_aggregate' must be 'mean' or 'majority' (got {aggregate!r})."
        raise pytest.UsageError(msg)

    def given(option: str, ini: str) -> tuple[Any, str]:
        """The flag's value and name when the user typed it, else the ini key's (for messages)."""
        value = config.getoption(option) if option else None
        if value is not None:
            return value, "--" + option.replace("_", "-")
        return config.getini(ini), ini

    budget = config.getoption("llm_gate_budget_tokens")
    batch = bool(config.getoption("llm_gate_batch")) or bool(config.getini("llm_gate_batch"))
    if batch:
        _check_batch(
            replay=replay, no_cache=no_cache, budget=budget, budget_usd=config.getoption("llm_gate_budget_usd")
        )
    sut_concurrency = config.getoption("llm_gate_sut_concurrency")
    sut_timeout = config.getoption("llm_gate_sut_timeout")
    if sut_timeout is None and str(config.getini("llm_gate_sut_timeout")).strip():
        sut_timeout = config.getini("llm_gate_sut_timeout")
    repeat = config.getoption("llm_gate_repeat")
    outputs_raw = config.getoption("llm_gate_outputs")
    save_raw = config.getoption("llm_gate_save_outputs")
    judge_timeout, judge_retries, judge_deadline = _judge_limits(config)
    budget_usd = config.getoption("llm_gate_budget_usd")
    return Settings(
        enabled=enabled,
        update=update,
        strict=bool(config.getoption("llm_gate_strict")),
        rootdir=rootdir,
        baseline_dir=path("llm_gate_baseline_dir", "llm_gate_baseline_dir"),
        results_path=_results_path(config, path("llm_gate_results", "llm_gate_results"), shard),
        html_path=path("llm_gate_report", "llm_gate_report"),
        markdown_path=path("", "llm_gate_markdown"),
        rubrics_dir=path("", "llm_gate_rubrics"),
        labels_dir=path("", "llm_gate_labels_dir"),
        cache_dir=None if no_cache else path("", "llm_gate_cache_dir"),
        alpha=_number(
            *given("llm_gate_alpha", "llm_gate_alpha"), float, low=0.0, high=1.0, low_open=True, high_open=True
        ),
        tolerance=_number(*given("llm_gate_tolerance", "llm_gate_tolerance"), float, low=0.0),
        judge=judges[0],
        concurrency=_number(*given("llm_gate_concurrency", "llm_gate_concurrency"), int, low=1),
        replay=replay,
        budget_tokens=None if budget is None else _number(budget, "--llm-gate-budget-tokens", int, low=1),
        max_judge_error_rate=_number(
            config.getini("llm_gate_max_judge_error_rate"), "llm_gate_max_judge_error_rate", float, low=0.0, high=1.0
        ),
        min_agreement=_parse_agreement(config.getini("llm_gate_min_agreement")),
        shard=shard,
        progress=bool(config.getoption("llm_gate_progress")),
        batch=batch,
        batch_poll_interval=_number(
            config.getini("llm_gate_batch_poll_interval"), "llm_gate_batch_poll_interval", float, low=0.0
        ),
        primary=tuple(name for line in config.getini("llm_gate_primary") for name in line.split()),
        fail_inconclusive=bool(
            config.getoption("llm_gate_fail_inconclusive") or config.getini("llm_gate_fail_inconclusive")
        ),
        family=family,
        fail_drift=bool(config.getoption("llm_gate_fail_drift") or config.getini("llm_gate_fail_drift")),
        drift_since=str(config.getoption("llm_gate_drift_since") or config.getini("llm_gate_drift_since") or "").strip()
        or None,
        judge_timeout=judge_timeout,
        judge_retries=judge_retries,
        judge_deadline=judge_deadline,
        judges=judges,
        jury_aggregate=aggregate,
        sut_model=str(config.getini("llm_gate_sut_model")).strip() or None,
        budget_usd=None if budget_usd is None else _number(budget_usd, "llm_gate_budget_usd", float, low=-1e-12),
        judge_price=_judge_price(str(config.getini("llm_gate_judge_price") or "")),
        rejudge_baseline=bool(config.getoption("llm_gate_rejudge_baseline")),
        sut_concurrency=_number(
            sut_concurrency if sut_concurrency is not None else config.getini("llm_gate_sut_concurrency"),
            "--llm-gate-sut-concurrency" if sut_concurrency is not None else "llm_gate_sut_concurrency",
            int,
            low=1,
        ),
        sut_timeout=None
        if sut_timeout is None
        else _number(sut_timeout, "--llm-gate-sut-timeout", float, low=0.0, low_open=True),
        repeat=None if repeat is None else _number(repeat, "--llm-gate-repeat", int, low=1),
        outputs_path=_file_option(outputs_raw, config.invocation_params.dir),  # a shell path: from where pytest ran
        save_outputs_path=_file_option(save_raw, config.invocation_params.dir),
    )


def _check_batch(*, replay: bool, no_cache: bool, budget: int | None, budget_usd: float | None) -> None:
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
    if budget_usd is not None:
        msg = (
            "'--llm-gate-batch' and '--llm-gate-budget-usd' cannot be combined: a submitted batch is paid "
            "as a whole, so a dollar budget cannot stop it midway."
        )
        raise pytest.UsageError(msg)


def _judge_price(raw: str) -> str | None:
    """The ini price, checked now so a typo stops the run before any test."""
    text = " ".join(raw.split())
    if not text:
        return None
    from pytest_llmgate.judge.pricing import PriceError, parse_price

    try:
        parse_price(text)
    except PriceError as exc:
        raise pytest.UsageError(str(exc)) from None
    return text


def _file_option(raw: str | None, rootdir: Path) -> Path | None:
    """A path flag, relative to `rootdir` (the outputs flags pass the invocation folder)."""
    if not raw:
        return None
    value = Path(raw).expanduser()
    return value if value.is_absolute() else rootdir / value


def _judge_specs(config: pytest.Config) -> tuple[str, ...]:
    """Judge specs: the flags (repeatable), else $LLM_GATE_JUDGE (comma-separated), else the ini lines."""
    flags = config.getoption("llm_gate_judge") or []
    if flags:
        raw = [part for flag in flags for part in str(flag).split(",")]
    elif os.environ.get(JUDGE_ENV):
        raw = os.environ[JUDGE_ENV].split(",")
    else:
        raw = [part for line in config.getini("llm_gate_judge") for part in line.split()]
    specs = [spec.strip() for spec in raw if spec.strip()]
    if not specs:
        return (DEFAULT_JUDGE,)
    if len(set(specs)) != len(specs):
        msg = f"'--llm-gate-judge' names the same judge twice ({', '.join(specs)}); give each judge once."
        raise pytest.UsageError(msg)
    return tuple(specs)
