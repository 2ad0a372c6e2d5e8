"""Calibration inside a gated run: read the human labels, measure the judge against them,
and keep what the verdict needs to gate on `llm_gate_min_agreement`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_llmgate.calibration.calibrate import calibrate, calibration_text
from pytest_llmgate.calibration.labels import LabelFileError, load_labels, rubric_key
from pytest_llmgate.calibration.scales import RubricInfo, load_rubric_info
from pytest_llmgate.gate.records import RunResults

if TYPE_CHECKING:
    from pytest_llmgate.config import Settings


def calibrate_run(results: RunResults, settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """(calibration per rubric, the labels read as dicts, why the labels are unreadable or None).

    Nothing when there are no labels and no threshold. The verdict (`gate.verdict.evaluate`)
    turns the calibration and `llm_gate_min_agreement` into reasons; the labels go into the
    results so `llmgate merge` can recompute the agreement over every shard's cases."""
    files = sorted(settings.labels_dir.glob("*.jsonl")) if settings.labels_dir.is_dir() else []
    if not files and not settings.min_agreement:
        return {}, [], None
    labels = []
    for path in files:
        try:
            labels += load_labels(path)
        except LabelFileError as exc:
            return {}, [], str(exc)
    names = set(results.judge_stats) | {label.rubric for label in labels} | set(settings.min_agreement)
    rubrics = {}
    for name in sorted({rubric_key(name) for name in names}):
        try:  # a local rubric, else a built-in one (used as llmgate:<name>); else its kind is inferred
            rubrics[name] = load_rubric_info(name, settings.rubrics_dir)
        except FileNotFoundError:
            continue
    calibration = calibrate(results, labels, rubrics)
    return calibration, [label.model_dump(mode="json") for label in labels], None


def recalibrate(results: RunResults, infos: dict[str, Any]) -> dict[str, Any]:
    """The calibration of a merged run, from the labels its results carry and each rubric's kind
    and scale as the shards' calibration entries recorded them (`llmgate merge`)."""
    from pytest_llmgate.calibration.labels import Label

    if not results.labels:
        return {}
    rubrics: dict[str, Any] = {}
    for name, entry in infos.items():
        try:
            rubrics[name] = RubricInfo.from_mapping(name, entry)
        except (TypeError, ValueError):
            continue  # inferred again from the verdicts and labels
    labels = [Label.model_validate(raw) for raw in results.labels]
    return calibrate(results, labels, rubrics)


def calibration_lines(calibration: dict[str, Any]) -> list[str]:
    """The calibration table as plain lines for the terminal summary."""
    if not calibration:
        return []
    return ["calibration: judge vs human labels", *calibration_text(calibration).splitlines(), ""]
