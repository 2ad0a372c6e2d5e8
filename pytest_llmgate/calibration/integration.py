"""Calibration inside a gated run: read the human labels, measure the judge against them,
and turn `llm_gate_min_agreement` into gate failures that name the rubric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_llmgate.calibration.calibrate import calibrate, calibration_text, check_min_agreement
from pytest_llmgate.calibration.labels import LabelFileError, load_labels, rubric_key
from pytest_llmgate.calibration.scales import load_rubric_info
from pytest_llmgate.gate.records import RunResults

if TYPE_CHECKING:
    from pytest_llmgate.config import Settings


def calibrate_run(results: RunResults, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """(calibration per rubric, gate failure lines). Nothing when there are no labels and no threshold."""
    files = sorted(settings.labels_dir.glob("*.jsonl")) if settings.labels_dir.is_dir() else []
    if not files and not settings.min_agreement:
        return {}, []
    labels = []
    for path in files:
        try:
            labels += load_labels(path)
        except LabelFileError as exc:
            return {}, [f"human labels unreadable: {exc}"]
    names = set(results.judge_stats) | {label.rubric for label in labels} | set(settings.min_agreement)
    rubrics = {}
    for name in sorted({rubric_key(name) for name in names}):
        try:  # a local rubric, else a built-in one (used as llmgate:<name>); else its kind is inferred
            rubrics[name] = load_rubric_info(name, settings.rubrics_dir)
        except FileNotFoundError:
            continue
    calibration = calibrate(results, labels, rubrics)
    reasons = check_min_agreement(calibration, settings.min_agreement) if settings.min_agreement else []
    return calibration, reasons


def calibration_lines(calibration: dict[str, Any]) -> list[str]:
    """The calibration table as plain lines for the terminal summary."""
    if not calibration:
        return []
    return ["calibration: judge vs human labels", *calibration_text(calibration).splitlines(), ""]
