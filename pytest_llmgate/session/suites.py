"""The suites: registration at collection, their metrics, their baselines and the baselines' errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_llmgate.gate.baseline import (
    BaselineError,
    NewerBaselineError,
    baseline_path,
    load_baseline,
)
from pytest_llmgate.gate.records import (
    FORMAT_VERSION,
    Baseline,
    MetricSpec,
    SuiteResult,
)
from pytest_llmgate.gate.verdict import CHECKS_METRIC
from pytest_llmgate.session.state import SessionState
from pytest_llmgate.validate import SPEC_OVERRIDES


class SuitesJob(SessionState):
    """The suites: registration at collection, their metrics, their baselines and the baselines' errors."""

    def register_suite(
        self,
        suite: str,
        dataset: str,
        fingerprint: str,
        case_ids: list[str],
        overrides: dict[str, Any],
        *,
        pending: int = 0,
        tags: list[str] | None = None,
    ) -> None:
        """Called once per golden test function, at collection; `pending` cases await review and are not run;
        `tags` are every tag of the golden set's active cases."""
        from pytest_llmgate.gate.verdict import gating_options

        primary, slices = gating_options(overrides.get("primary"), overrides.get("slices"))
        self.suites[suite] = SuiteResult(
            suite=suite,
            dataset=dataset,
            pending_review=pending,
            fingerprints={"dataset": fingerprint, "format": str(FORMAT_VERSION)},
            primary=primary,
            thresholded=sorted(overrides.get("metrics") or {}),
            slices=slices,
            dataset_tags=sorted(set(tags or [])),
        )
        self.dataset_ids[suite] = case_ids
        self.overrides[suite] = overrides
        self.declare_metric(suite, MetricSpec(name=CHECKS_METRIC, kind="binary"))

    def declare_metric(self, suite: str, spec: MetricSpec) -> None:
        """Add a metric to a suite once, with the marker's per-metric and suite-wide thresholds."""
        result = self.suites[suite]
        if spec.name in result.metrics:
            return
        overrides = self.overrides.get(suite, {})
        per_metric = dict(overrides.get("metrics", {}).get(spec.name, {}))
        unknown = set(per_metric) - set(SPEC_OVERRIDES)
        if unknown:
            msg = (
                f"golden marker of {suite}: unknown setting(s) {sorted(unknown)} for metric '{spec.name}'; "
                f"use {', '.join(SPEC_OVERRIDES)}."
            )
            raise ValueError(msg)
        update = {key: overrides[key] for key in ("tolerance", "alpha") if overrides.get(key) is not None}
        update.update(per_metric)
        result.metrics[spec.name] = spec.model_copy(update=update)

    def baseline(self, suite: str) -> Baseline | None:
        """The committed baseline of a suite (loaded once; a broken file is recorded as a problem)."""
        if suite not in self._baselines:
            try:
                self._baselines[suite] = load_baseline(self.baseline_file(suite))
            except BaselineError as exc:
                self.baseline_errors[suite] = str(exc)
                self._baselines[suite] = None
                if isinstance(exc, NewerBaselineError):
                    self._newer.add(suite)
        return self._baselines[suite]

    def baseline_file(self, suite: str) -> Path:
        return baseline_path(self.settings.baseline_dir, suite)

    def newer_baseline_problem(self, suite: str) -> str | None:
        """The message when a suite's baseline is in a newer format (a usage error, not a gate failure)."""
        self.baseline(suite)
        return self.baseline_errors[suite] if suite in self._newer else None

    # -- recording --------------------------------------------------------------------------
