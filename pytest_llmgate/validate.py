"""Checks of the gate's input files before anything runs: rubrics, human labels, the
`llm_gate_min_agreement` names, golden-marker values and baselines.

`pytest --llm-gate` runs them at session start (and at collection for markers, golden sets
and baselines) and stops with exit 4 before any test; `llmgate validate`
(`validate_command.py`) runs the same checks without running a test. Every problem is one
line naming file, line and field.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmgate.config import Settings
    from pytest_llmgate.judge.rubric_model import Rubric

#: Keys a golden marker accepts under `metrics={name: {...}}`.
SPEC_OVERRIDES = ("tolerance", "alpha", "min_score", "higher_is_better")


def shown_path(path: Path, rootdir: Path) -> str:
    """`path` relative to the rootdir when inside it, for messages."""
    try:
        return path.relative_to(rootdir).as_posix()
    except ValueError:
        return path.as_posix()


def label_choices(rubric: Rubric) -> list[object]:
    """The values a human label may take on `rubric`'s scale."""
    if rubric.kind == "pointwise":
        return list(range(rubric.scale_min, rubric.scale_max + 1))
    if rubric.kind == "pass_fail":
        return ["pass", "fail"]
    return ["A", "B", "tie"]


def check_labels(labels_dir: Path, rubrics: dict[str, Rubric], broken: set[str], rootdir: Path) -> list[str]:
    """Every labels file (`<labels_dir>/*.jsonl`): readable, known rubric, each label on its rubric's scale.

    A label may name a local rubric or a built-in one (`faithfulness` or `llmgate:faithfulness`;
    a local rubric of the same name wins, as for the judge). Labels of a rubric in `broken`
    (a rubric file that did not load) are not checked again.
    """
    files = sorted(labels_dir.glob("*.jsonl")) if labels_dir.is_dir() else []
    if not files:
        return []  # and the calibration package (numpy, scipy.stats) stays unimported
    from pytest_llmgate.calibration.labels import check_label_values, rubric_key
    from pytest_llmgate.judge.rubrics import load_pack

    choices: dict[str, list[object] | None] = {
        rubric_key(name): label_choices(rubric) for name, rubric in load_pack().items()
    }
    built_in = frozenset(choices) - set(rubrics) - broken
    choices.update(dict.fromkeys(broken))
    choices.update({name: label_choices(rubric) for name, rubric in rubrics.items()})
    problems: list[str] = []
    for path in files:
        problems += check_label_values(path, choices, shown=shown_path(path, rootdir), built_in=built_in)
    return problems


def check_min_agreement(min_agreement: dict[str, float], rubrics: set[str], rubrics_dir: str) -> list[str]:
    """`llm_gate_min_agreement` names only rubrics that exist (local, or built in as `name` or `llmgate:name`)."""
    if not min_agreement:
        return []
    problems = []
    known = ", ".join(sorted(rubrics)) or "none"
    built_in = _built_in_names()
    unknown = [name for name in sorted(min_agreement) if name not in rubrics and name not in built_in]
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(rubrics | built_in), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"fix the name or add {rubrics_dir}/{name}.yaml."
        problems.append(
            f"'llm_gate_min_agreement': unknown rubric {name!r} (rubrics in {rubrics_dir}: {known}); "
            f"built-in: `llmgate rubrics list`; {hint}"
        )
    return problems


def _built_in_names() -> set[str]:
    """Built-in rubric names, bare and `llmgate:`-prefixed (from the pack's file names: no YAML read)."""
    from pytest_llmgate.judge.rubrics import PACK_DIR, PACK_PREFIX

    bare = {path.stem for path in PACK_DIR.glob("*.yaml")}
    return bare | {PACK_PREFIX + name for name in bare}


def check_project(settings: Settings) -> tuple[dict[str, Rubric], list[str]]:
    """The valid rubrics, and every problem of the rubrics, the labels and `min_agreement`."""
    rubrics: dict[str, Rubric] = {}
    problems: list[str] = []
    if settings.rubrics_dir.is_dir():  # else the rubric loader (YAML, Jinja2) stays unimported
        from pytest_llmgate.judge.rubrics import check_rubrics

        rubrics, problems = check_rubrics(settings.rubrics_dir)
    broken = {Path(problem.split(":", 1)[0]).stem for problem in problems}
    problems += check_labels(settings.labels_dir, rubrics, broken, settings.rootdir)
    shown = shown_path(settings.rubrics_dir, settings.rootdir)
    problems += check_min_agreement(settings.min_agreement, set(rubrics) | broken, shown)
    return rubrics, problems


def _check_threshold(value: Any, name: str, *, low: float, high: float | None, open_low: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"'{name}' must be a number (got {value!r})."
    if (value <= low if open_low else value < low) or (high is not None and value >= high):
        bounds = f"strictly between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        return f"'{name}' must be {bounds} (got {value!r})."
    return None


def golden_set_problems(path: str, model: Any, rootdir: Path) -> list[str]:
    """Every problem of a golden set, one line per bad line of the file (the loader stops at the first)."""
    from pytest_llmgate.datasets import Case, check_cases

    if not (isinstance(model, type) and issubclass(model, Case)):
        return []
    return [str(problem) for problem in check_cases(path, model=model, rootdir=rootdir)]


def rubric_names(rubrics_dir: Path) -> set[str]:
    """Names `judge:<name>` metrics can have: the rubrics of `rubrics_dir` (valid or not; a broken
    file is reported on its own) and the built-in ones."""
    from pytest_llmgate.judge.rubrics import check_rubrics

    rubrics, problems = check_rubrics(rubrics_dir)
    broken = {Path(problem.split(":", 1)[0]).stem for problem in problems}
    return set(rubrics) | broken | {name for name in _built_in_names() if ":" not in name}


def check_primary(primary: Any, rubrics_dir: Path) -> list[str]:
    """A `primary=` judge metric must name a rubric that exists: `judge:corectness` with no rubric
    `corectness` could never be recorded, and the run would pay for every case and then fail."""
    if not isinstance(primary, (list, tuple)):
        return []
    wanted = [name for name in primary if isinstance(name, str) and name.startswith("judge:")]
    if not wanted:
        return []
    known = rubric_names(rubrics_dir)
    problems = []
    for name in wanted:
        rubric = name.removeprefix("judge:")  # a built-in rubric's metric is judge:<name>, never judge:llmgate:<name>
        if rubric in known:
            continue
        close = difflib.get_close_matches(rubric, sorted(known), n=1)
        hint = (
            f"did you mean 'judge:{close[0]}'?" if close else f"add {rubrics_dir.name}/{rubric}.yaml or fix the name."
        )
        problems.append(
            f"'primary' names {name!r}, which no rubric can record (no rubric {rubric!r} in "
            f"{rubrics_dir.name}/ nor built in); {hint}"
        )
    return problems


def primary_problems(kwargs: Mapping[str, Any], where: str, rubrics_dir: Path) -> list[str]:
    """`check_primary` for a golden marker's arguments, each line starting with the test's file:line."""
    return [f"{where}: @pytest.mark.golden {problem}" for problem in check_primary(kwargs.get("primary"), rubrics_dir)]


def check_marker(kwargs: dict[str, Any]) -> list[str]:
    """Problems of a golden marker's `tolerance=`, `alpha=` and `metrics=` values."""
    problems = []
    for key, low, high, open_low in (("tolerance", 0.0, None, False), ("alpha", 0.0, 1.0, True)):
        if kwargs.get(key) is not None:
            problem = _check_threshold(kwargs[key], key, low=low, high=high, open_low=open_low)
            if problem:
                problems.append(problem)
    metrics = kwargs.get("metrics")
    if metrics is None:
        return problems
    if not isinstance(metrics, dict):
        return [*problems, f"'metrics' must be a dict of metric name to settings (got {metrics!r})."]
    for metric, settings in metrics.items():
        if not isinstance(settings, dict):
            problems.append(f"'metrics[{metric!r}]' must be a dict of settings (got {settings!r}).")
            continue
        for key in sorted(set(settings) - set(SPEC_OVERRIDES)):
            close = difflib.get_close_matches(str(key), SPEC_OVERRIDES, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"use {', '.join(SPEC_OVERRIDES)}."
            problems.append(f"'metrics[{metric!r}]' has unknown key {key!r}; {hint}")
        value = settings.get("higher_is_better")
        if value is not None and not isinstance(value, bool):
            problems.append(f"'metrics[{metric!r}].higher_is_better' must be True or False (got {value!r}).")
        limits = {"tolerance": (0.0, None, False), "alpha": (0.0, 1.0, True)}
        for key, (low, high, open_low) in limits.items():
            if settings.get(key) is not None:
                problem = _check_threshold(
                    settings[key], f"metrics[{metric!r}].{key}", low=low, high=high, open_low=open_low
                )
                if problem:
                    problems.append(problem)
        floor = settings.get("min_score")
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float))):
            problems.append(f"'metrics[{metric!r}].min_score' must be a number (got {floor!r}).")
    return problems
