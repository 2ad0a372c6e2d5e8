"""Drift: accepted baseline updates that each stayed within the tolerance but add up to more.

Pure functions of a metric's accepted values (`MetricHistory`), so `llmgate history`, the gated
run and `llmgate merge` decide drift alike. Reading the values from git is `gate/history.py`.
"""

from __future__ import annotations

from pytest_llmgate.gate.reasons import Reason
from pytest_llmgate.gate.records import DriftFinding, MetricHistory, RunResults

#: Changes smaller than this are rounding (baselines store six decimals), not an accepted change.
EPSILON = 1e-9

DRIFT_REMEDY = (
    "Restore the metric, or once the team has reviewed the drop, move the reference forward with "
    "--llm-gate-drift-since <commit> (ini llm_gate_drift_since)."
)


def measure(series: MetricHistory, reference: int) -> None:
    """Set the series' reference, cumulative change and count of accepted changes after `reference`."""
    if not series.points:
        return
    reference = min(max(reference, 0), len(series.points) - 1)
    start = series.points[reference]
    series.reference = start.commit
    series.cumulative = round(series.points[-1].value - start.value, 6)
    series.updates = sum(
        1 for point in series.points[reference + 1 :] if point.change is not None and abs(point.change) > EPSILON
    )


def find_drift(series: MetricHistory) -> DriftFinding | None:
    """The drift of a measured series: its cumulative change is a drop beyond its tolerance."""
    if series.cumulative is None or series.reference is None:
        return None
    drop = -series.cumulative if series.higher_is_better else series.cumulative
    if drop <= series.tolerance + EPSILON:
        return None
    return DriftFinding(
        suite=series.suite,
        metric=series.metric,
        change=series.cumulative,
        drop=round(drop, 6),
        updates=series.updates,
        since=series.reference[:7] if series.reference != "uncommitted" else series.reference,
        tolerance=series.tolerance,
    )


def drift_reasons(results: RunResults) -> list[Reason]:
    """Drift as blocking reasons when the run asks for it (`--llm-gate-fail-drift`), else none:
    by default drift is a warning that every report shows beside the verdict."""
    if results.history is None or not results.settings.get("fail_drift"):
        return []
    return [
        Reason(
            kind="drift",
            text=f"DRIFT: {finding.text()}",
            remedy=DRIFT_REMEDY,
            suite=finding.suite,
            metric=finding.metric,
        )
        for finding in results.history.drift
        if finding.suite in results.suites
    ]


def drift_lines(results: RunResults) -> list[str]:
    """The drift warnings to show beside the verdict (none when drift already fails the gate)."""
    if results.history is None or results.settings.get("fail_drift"):
        return []
    return [f"{finding.suite}: {finding.text()}" for finding in results.history.drift]
