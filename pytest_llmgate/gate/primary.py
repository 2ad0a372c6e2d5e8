"""Which metrics gate a suite: the golden marker's `primary=` and `slices=`, and the default primaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_llmgate.gate.records import SliceSpec, SuiteResult

#: The layer-1 checks as a 0/1 metric of every case.
CHECKS_METRIC = "checks_passed"

#: Metric name prefixes that are primary by default: the judge's and deepeval's verdicts.
DEFAULT_PRIMARY_PREFIXES = ("judge:", "deepeval:")


def gating_options(primary: Any, slices: Any) -> tuple[list[str] | None, dict[str, SliceSpec]]:
    """Check the golden marker's `primary=` and `slices=`; raise ValueError saying what is wrong.

    `primary`: metric names (a list of strings). `slices`: tags, as a list, or a dict of tag to
    `{"tolerance": T, "alpha": A}` (either optional).
    """
    names: list[str] | None = None
    if primary is not None:
        if isinstance(primary, str) or not isinstance(primary, (list, tuple)) or not primary:
            msg = f"'primary' must be a non-empty list of metric names, e.g. ['checks_passed'] (got {primary!r})."
            raise ValueError(msg)
        bad = [name for name in primary if not isinstance(name, str) or not name]
        if bad:
            msg = f"'primary' must hold metric names as strings (got {bad[0]!r})."
            raise ValueError(msg)
        names = list(primary)
    specs: dict[str, SliceSpec] = {}
    if slices is None:
        return names, specs
    if isinstance(slices, (list, tuple)):
        slices = {tag: {} for tag in slices}
    if not isinstance(slices, dict):
        msg = f"'slices' must be a list of tags or a dict of tag to settings (got {slices!r})."
        raise ValueError(msg)
    for tag, settings in slices.items():
        if not isinstance(tag, str) or not tag:
            msg = f"'slices' keys must be tags as strings (got {tag!r})."
            raise ValueError(msg)
        settings = settings or {}
        unknown = (
            sorted(set(settings) - {"tolerance", "alpha", "max_newly_failing"}) if isinstance(settings, dict) else None
        )
        if unknown is None or unknown:
            msg = f"slice '{tag}' takes only 'tolerance', 'alpha' and 'max_newly_failing' (got {settings!r})."
            raise ValueError(msg)
        tol, level = settings.get("tolerance"), settings.get("alpha")
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1):
            msg = f"slice '{tag}': 'tolerance' must be a number >= 0 and below 1 (got {tol!r})."
            raise ValueError(msg)
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 0.5
        ):
            msg = f"slice '{tag}': 'alpha' must be a number between 0 and 0.5 (got {level!r})."
            raise ValueError(msg)
        most = settings.get("max_newly_failing")
        if most is not None and (isinstance(most, bool) or not isinstance(most, int) or most < 0):
            msg = f"slice '{tag}': 'max_newly_failing' must be an integer >= 0 (got {most!r})."
            raise ValueError(msg)
        specs[tag] = SliceSpec(tolerance=tol, alpha=level, max_newly_failing=most)
    return names, specs


def primary_metrics(result: SuiteResult, ini_primary: Sequence[str] = ()) -> list[str]:
    """The metrics that gate this suite, in the order the tables show them.

    Declared: the marker's `primary=`, else ini `llm_gate_primary`. Default: `checks_passed`,
    every judge and deepeval metric, and every metric given its own settings in `metrics=`;
    retrieval and custom scores are reported but do not gate unless named.
    """
    declared = result.primary if result.primary is not None else (list(ini_primary) or None)
    if declared is not None:
        return list(dict.fromkeys(declared))
    default = [CHECKS_METRIC] if CHECKS_METRIC in result.metrics else []
    default += sorted(
        name
        for name in result.metrics
        if name != CHECKS_METRIC and (name.startswith(DEFAULT_PRIMARY_PREFIXES) or name in result.thresholded)
    )
    return default
