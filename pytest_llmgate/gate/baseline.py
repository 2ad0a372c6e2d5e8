"""Baseline files: one committed, deterministic JSON file per suite."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from pytest_llmgate._files import atomic_write_text, dumps
from pytest_llmgate.gate.reasons import UPDATE_REMEDY as UPDATE_REMEDY
from pytest_llmgate.gate.records import FORMAT_VERSION, Baseline, BaselineCase, SuiteResult


class BaselineError(Exception):
    """A baseline file that cannot be used as it is."""


class NewerBaselineError(BaselineError):
    """A baseline written in a newer format than this plugin reads: never read, never downgraded."""


def plugin_version() -> str:
    """The installed pytest-llmgate's version (recorded in baselines and results)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-llmgate")
    except PackageNotFoundError:
        return "0+unknown"


def baseline_path(baseline_dir: Path, suite: str) -> Path:
    """`tests/test_x.py::TestA::test_b` -> `<dir>/tests/test_x/TestA/test_b.json`."""
    file_part, _, rest = suite.partition("::")
    stem = file_part[:-3] if file_part.endswith(".py") else file_part
    parts = [p for p in Path(stem).parts if p not in ("", ".", "..", "/")]
    parts += [p for p in rest.split("::") if p]
    safe = [re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in parts] or ["suite"]
    return baseline_dir.joinpath(*safe[:-1], safe[-1] + ".json")


def load_baseline(path: Path) -> Baseline | None:
    """The baseline at `path`, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        msg = f"{path}: not valid JSON ({exc}). {UPDATE_REMEDY}"
        raise BaselineError(msg) from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        writer = raw.get("plugin_version")
        by = f"pytest-llmgate {writer}" if isinstance(writer, str) else "a newer pytest-llmgate"
        msg = (
            f"{path}: written by {by} in baseline format {version}; this plugin ({plugin_version()}) reads format "
            f"{FORMAT_VERSION} and will not read or downgrade it. Upgrade: pip install -U pytest-llmgate."
        )
        raise NewerBaselineError(msg)
    if version != FORMAT_VERSION:
        msg = (
            f"{path}: baseline format version {version!r}, this plugin writes {FORMAT_VERSION}. "
            f"Regenerate it: {UPDATE_REMEDY}"
        )
        raise BaselineError(msg)
    try:
        return Baseline.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{path}: field '{where}': {first['msg']}. {UPDATE_REMEDY}"
        raise BaselineError(msg) from None


def build_baseline(result: SuiteResult, previous: Baseline | None, dataset_ids: set[str]) -> Baseline:
    """The baseline to write from a run: run cases now, deselected cases kept, removed cases pruned."""
    cases: dict[str, BaselineCase] = {}
    kept_ids: set[str] = set()
    if previous is not None:
        for case_id, kept in previous.cases.items():
            if case_id in dataset_ids and case_id not in result.cases:
                cases[case_id] = kept
                kept_ids.add(case_id)
    for case_id, case in result.cases.items():
        metrics = {}
        for name, value in case.metrics.items():
            spec = result.metrics.get(name)
            stored = spec.self_value if spec is not None and spec.self_value is not None else value
            # Six decimals keep the committed diff readable; no test statistic moves at that scale.
            metrics[name] = round(stored, 6)
        cases[case_id] = BaselineCase(passed=case.passed, metrics=metrics, output=case.output)
    aggregates: dict[str, dict[str, float]] = {}
    for name in sorted(result.metrics):
        values = [c.metrics[name] for c in cases.values() if name in c.metrics]
        if values:
            aggregates[name] = {"mean": round(sum(values) / len(values), 6), "n": float(len(values))}
    return Baseline(
        plugin_version=plugin_version(),
        suite=result.suite,
        dataset=result.dataset,
        fingerprints=dict(result.fingerprints),
        metrics=dict(result.metrics),
        aggregates=aggregates,
        cases=dict(sorted(cases.items())),
        judge_cost=judge_cost(result, previous, len(kept_ids)),
        repeat=result.repeat,
        # The settings accepted with these values: a later run looser than them needs an update.
        gate_settings=result.gate_settings,
    )


def judge_cost(result: SuiteResult, previous: Baseline | None, kept: int) -> dict[str, float]:
    """What judging the whole set costs, at list price, for the baseline an update writes.

    The run's own calls count as they are, answered by our cache included (a rerun from the
    cache must not make judging look free): their dollars are priced from the stored usage,
    their tokens (not kept with the cached answer) are the previous baseline's per call. The
    `kept` cases the run did not select keep their share of the previous baseline's figures
    (its mean per case: the baseline keeps no cost per case)."""
    calls = result.judge_calls()
    prior = previous.judge_cost if previous is not None else {}
    prior_cases = len(previous.cases) if previous is not None else 0
    if not calls and not (kept and prior):
        return {}
    fresh = [c for c in calls if not c.cached]
    cached = len(calls) - len(fresh)
    per_call = {key: prior.get(key, 0.0) / prior["calls"] if prior.get("calls") else 0.0 for key in _TOKENS}
    share = kept / prior_cases if prior_cases else 0.0
    cost = {
        "calls": float(len(calls)) + prior.get("calls", 0.0) * share,
        "input_tokens": sum(c.input_tokens for c in fresh) + per_call["input_tokens"] * cached,
        "output_tokens": sum(c.output_tokens for c in fresh) + per_call["output_tokens"] * cached,
    }
    for key in _TOKENS:
        cost[key] += prior.get(key, 0.0) * share
    cost = {key: float(round(value)) for key, value in cost.items()}
    priced = all(c.list_cost_usd is not None for c in calls) and ("usd" in prior or not (kept and prior))
    if priced:
        cost["usd"] = round(sum(c.list_cost_usd or 0.0 for c in calls) + prior.get("usd", 0.0) * share, 6)
    return cost


_TOKENS = ("input_tokens", "output_tokens")


def write_baseline(path: Path, baseline: Baseline) -> None:
    """Write a baseline atomically; a failure here is an error, not a warning."""
    data = baseline.model_dump(mode="json", exclude_defaults=False)
    atomic_write_text(path, dumps(data))
