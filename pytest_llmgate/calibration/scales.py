"""What calibration needs to know of a rubric (kind and scale), and label/verdict conversions.

Calibration does not import the judge's rubric model: it reads `kind` and `scale` from a
plain mapping (the rubric YAML, or anything with the same keys).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pytest_llmgate.gate.records import JudgeVerdict

from .labels import PAIRWISE_VALUE, Label, rubric_key

RubricKind = Literal["pointwise", "pass_fail", "pairwise"]
KINDS = ("pointwise", "pass_fail", "pairwise")
#: Categories of pairwise outcomes from the candidate's side, ordered loss < tie < win.
PAIRWISE_CATEGORIES = ("loss", "tie", "win")


@dataclass(frozen=True)
class RubricInfo:
    """A rubric's name, kind and (pointwise) integer scale."""

    name: str
    kind: RubricKind
    scale_min: int = 1
    scale_max: int = 5
    criteria: str = ""
    """What the judge is asked to assess (the rubric's `criteria`), shown to labelers."""

    @classmethod
    def from_mapping(cls, name: str, data: dict[str, Any]) -> RubricInfo:
        """Read `kind` and `scale: {min, max}` (or `scale_min`/`scale_max`) from a mapping."""
        kind = data.get("kind")
        if kind not in KINDS:
            msg = f"rubric {name!r}: 'kind' must be one of {', '.join(KINDS)} (got {kind!r})."
            raise ValueError(msg)
        scale = data.get("scale") or {}
        low = scale.get("min", data.get("scale_min", 1))
        high = scale.get("max", data.get("scale_max", 5))
        if not (isinstance(low, int) and isinstance(high, int) and high > low):
            msg = f"rubric {name!r}: scale must be integers with max > min (got min={low!r}, max={high!r})."
            raise ValueError(msg)
        criteria = data.get("criteria")
        return cls(
            name=name, kind=kind, scale_min=low, scale_max=high, criteria=criteria if isinstance(criteria, str) else ""
        )

    @property
    def points(self) -> list[tuple[Any, str]]:
        """Every label value with what it means: for a score, its line of the criteria
        (`5: states every essential fact...`) when the criteria have one, else its place on the scale."""
        if self.kind == "pass_fail":
            return [
                ("pass", self._meaning("pass") or "meets the criteria"),
                ("fail", self._meaning("fail") or "does not"),
            ]
        if self.kind == "pairwise":
            return []
        points = []
        for point in range(self.scale_max, self.scale_min - 1, -1):
            where = "highest" if point == self.scale_max else "lowest" if point == self.scale_min else ""
            points.append((point, self._meaning(str(point)) or (f"{where} on the scale" if where else "")))
        return points

    def _meaning(self, point: str) -> str:
        pattern = re.compile(rf"^\s*(?:[-*]\s*)?{re.escape(point)}\s*[:=)–-]\s*(.+?)\s*$", re.IGNORECASE)
        for line in self.criteria.splitlines():
            found = pattern.match(line)
            if found:
                return found.group(1)
        return ""

    @property
    def categories(self) -> list[Any]:
        """Every category a label or a judge verdict can take, in scale order."""
        if self.kind == "pointwise":
            return list(range(self.scale_min, self.scale_max + 1))
        if self.kind == "pass_fail":
            return ["fail", "pass"]
        return list(PAIRWISE_CATEGORIES)

    @property
    def label_choices(self) -> list[Any]:
        """Values a `Label.label` may take for this rubric."""
        if self.kind == "pairwise":
            return ["A", "B", "tie"]
        return self.categories

    def check_label(self, label: Label) -> None:
        """Raise ValueError when a label is not on this rubric's scale."""
        if label.label not in self.label_choices or isinstance(label.label, bool):
            choices = ", ".join(str(choice) for choice in self.label_choices)
            msg = (
                f"label {label.id} for case {label.case_id!r} is {label.label!r}, not on the scale of "
                f"rubric {self.name!r} ({choices}); fix the label or the rubric."
            )
            raise ValueError(msg)

    def human_category(self, label: Label) -> Any:
        """The category of a human label (pairwise A/B/tie become win/loss/tie)."""
        self.check_label(label)
        if self.kind == "pairwise":
            return {"A": "win", "B": "loss", "tie": "tie"}[str(label.label)]
        return label.label

    def human_value(self, label: Label) -> float:
        """A human label on the metric's [0, 1] scale, as the judge's `value` is."""
        self.check_label(label)
        if self.kind == "pairwise":
            return PAIRWISE_VALUE[str(label.label)]
        if self.kind == "pass_fail":
            return 1.0 if label.label == "pass" else 0.0
        return (int(label.label) - self.scale_min) / (self.scale_max - self.scale_min)

    def judge_score(self, verdict: JudgeVerdict) -> float:
        """The judge's verdict on the rubric's raw scale (a score, or the [0, 1] value)."""
        assert verdict.value is not None
        if self.kind == "pointwise":
            return self.scale_min + verdict.value * (self.scale_max - self.scale_min)
        return verdict.value

    def judge_category(self, verdict: JudgeVerdict) -> Any:
        """The judge's verdict as a category; a fractional pointwise score (two calls
        averaged) is rounded half up to the nearest scale point."""
        assert verdict.value is not None
        if self.kind == "pointwise":
            return int(math.floor(self.judge_score(verdict) + 0.5 + 1e-9))
        if self.kind == "pass_fail":
            return "pass" if verdict.value >= 0.5 else "fail"
        if verdict.value > 0.5:
            return "win"
        return "loss" if verdict.value < 0.5 else "tie"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "pointwise":
            data["scale"] = {"min": self.scale_min, "max": self.scale_max}
        return data


def _find_in(folder: Path, name: str) -> dict[str, Any] | None:
    candidates = [folder / f"{name}.yaml", folder / f"{name}.yml"]
    if folder.is_dir():
        candidates += sorted(folder.glob("*.y*ml"))
    for path in candidates:
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and (data.get("name", path.stem) == name):
            return data
    return None


def load_rubric_info(name: str, rubrics_dir: str | os.PathLike[str] = "rubrics") -> RubricInfo:
    """Find rubric `name` in `rubrics_dir` (`<name>.yaml`/`.yml`, or any YAML whose `name` matches),
    else in the built-in pack (`name` or `llmgate:name`). A local rubric wins over a built-in one
    of the same name, as it does for the judge."""
    from pytest_llmgate.judge.rubrics import PACK_DIR

    key = rubric_key(name)
    data = _find_in(Path(rubrics_dir), key) if key == name else None
    if data is None and (PACK_DIR / f"{key}.yaml").is_file():
        data = yaml.safe_load((PACK_DIR / f"{key}.yaml").read_text(encoding="utf-8"))
    if isinstance(data, dict):
        return RubricInfo.from_mapping(key, data)
    msg = (
        f"rubric {name!r} is neither in {Path(rubrics_dir)} nor built in (`llmgate rubrics list`); "
        "pass --rubrics-dir pointing at the rubric YAML files."
    )
    raise FileNotFoundError(msg)


def infer_rubric_info(name: str, verdicts: list[JudgeVerdict], labels: list[Label]) -> RubricInfo:
    """Best guess of a rubric's kind and scale when no rubric file is given.

    The kind comes from the verdicts; a pointwise scale from the smallest and largest raw
    scores seen in judge calls and labels (a guess: pass the rubric to be exact).
    """
    kinds = {verdict.kind for verdict in verdicts}
    if not kinds:
        kinds = {"pairwise" if any(lab.label in ("A", "B", "tie") for lab in labels) else "pass_fail"}
        if any(isinstance(lab.label, int) for lab in labels):
            kinds = {"pointwise"}
    if len(kinds) != 1:
        msg = f"rubric {name!r} has verdicts of several kinds ({', '.join(sorted(kinds))}); pass its rubric file."
        raise ValueError(msg)
    kind = kinds.pop()
    if kind != "pointwise":
        return RubricInfo(name=name, kind=kind)
    points = [call.score for verdict in verdicts for call in verdict.calls if call.score is not None]
    points += [lab.label for lab in labels if isinstance(lab.label, int)]
    if not points:
        return RubricInfo(name=name, kind="pointwise")
    low, high = int(math.floor(min(points))), int(math.ceil(max(points)))
    return RubricInfo(name=name, kind="pointwise", scale_min=low, scale_max=max(high, low + 1))
