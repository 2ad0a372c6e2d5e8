"""What a gated run records for baselines as code: the gate settings each suite ran under, and
the accepted history of its primary metrics from git (for drift and the report's sparklines)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_llmgate.config import DEFAULT_ALPHA, DEFAULT_TOLERANCE
from pytest_llmgate.gate.records import Baseline, GateSettings, MetricRule, RunResults, SuiteResult
from pytest_llmgate.gate.verdict import primary_metrics


def case_ids_digest(case_ids: Sequence[str]) -> str:
    """sha256 of the case ids, sorted, one a line."""
    return hashlib.sha256("\n".join(sorted(case_ids)).encode("utf-8")).hexdigest()


def gate_settings(result: SuiteResult, run_settings: Mapping[str, Any], case_ids: Sequence[str]) -> GateSettings:
    """The settings `result` is gated under, every default resolved (as `gate/verdict` resolves them)."""
    alpha = float(run_settings.get("alpha", DEFAULT_ALPHA))
    tolerance = float(run_settings.get("tolerance", DEFAULT_TOLERANCE))
    primary = primary_metrics(result, [str(name) for name in run_settings.get("primary") or []])
    metrics = {
        name: MetricRule(
            tolerance=spec.tolerance if spec.tolerance is not None else tolerance,
            alpha=spec.alpha if spec.alpha is not None else alpha,
            min_score=spec.min_score,
            higher_is_better=spec.higher_is_better,
        )
        for name, spec in sorted(result.metrics.items())
    }
    rubrics = {
        key.removeprefix("rubric:"): value
        for key, value in sorted(result.fingerprints.items())
        if key.startswith("rubric:")
    }
    return GateSettings(
        primary=primary,
        metrics=metrics,
        slices=dict(sorted(result.slices.items())),
        rubrics=rubrics,
        cases=len(case_ids),
        case_ids_sha256=case_ids_digest(case_ids),
    )


def _baseline_file(rootdir: Path, baseline_dir: Path, suite: str) -> Path:
    from pytest_llmgate.gate.baseline import baseline_path

    return baseline_path(baseline_dir if baseline_dir.is_absolute() else rootdir / baseline_dir, suite)


def record_run_context(
    results: RunResults, dataset_ids: Mapping[str, Sequence[str]], rootdir: Path, baseline_dir: Path
) -> list[str]:
    """Give each suite its gate settings and case ids, and the results the history from git.

    Returns warnings (git unreadable); outside git there is no history and nothing to say.
    """
    from pytest_llmgate.gate.history import HistoryError, NotAGitRepository, read_history

    for name, suite in results.suites.items():
        ids = list(dataset_ids.get(name, suite.cases))
        suite.case_ids = sorted(ids)
        suite.gate_settings = gate_settings(suite, results.settings, ids)
    tolerances = {
        (name, metric): rule.tolerance
        for name, suite in results.suites.items()
        if suite.gate_settings is not None
        for metric, rule in suite.gate_settings.metrics.items()
    }
    primaries = {name: s.gate_settings.primary for name, s in results.suites.items() if s.gate_settings is not None}
    since = results.settings.get("drift_since") or None
    try:
        results.history = read_history(
            rootdir,
            baseline_dir,
            since=since,
            tolerances=tolerances,
            suites=set(results.suites),
            primaries=primaries,
            files=[_baseline_file(rootdir, baseline_dir, name) for name in results.suites],
        )
    except NotAGitRepository:
        return []
    except HistoryError as exc:
        return [f"baseline history not read: {exc}"]
    base_ref = os.environ.get("GITHUB_BASE_REF", "").strip()
    if base_ref:
        accepted_since_base(results, Path(results.history.root), baseline_dir, base_ref)
    return []


def accepted_since_base(results: RunResults, root: Path, baseline_dir: Path, base_ref: str) -> None:
    """List the loosenings the branch's baselines accepted since its merge base with `base_ref`.

    A loosening accepted with `--llm-gate-update` no longer fails the gate; the pull request's
    comment still lists it, so the reviewer sees the PR changed what the gate checks.
    """
    from pytest_llmgate.gate.baseline import baseline_path
    from pytest_llmgate.gate.history import HistoryError, file_at, merge_base
    from pytest_llmgate.gate.loosening import loosenings

    if results.history is None:
        return
    base = merge_base(root, base_ref)
    if base is None:
        results.history.notes.append(
            f"loosenings since the base branch not checked: no merge base with {base_ref!r} "
            f"(check out with `fetch-depth: 0`)."
        )
        return
    results.history.base = base
    folder = baseline_dir if baseline_dir.is_absolute() else root / baseline_dir
    for name in sorted(results.suites):
        current = results.baselines.get(name)
        if current is None or current.gate_settings is None:
            continue
        try:
            blob = file_at(root, base, baseline_path(folder, name))
            before = Baseline.model_validate_json(blob) if blob is not None else None
        except (HistoryError, ValidationError):
            continue
        probe = SuiteResult(
            suite=name,
            dataset=current.dataset,
            fingerprints=current.fingerprints,
            gate_settings=current.gate_settings,
            case_ids=sorted(current.cases),
        )
        results.history.accepted += [reason.text for reason in loosenings(probe, before)]
