"""Per rubric: judge-human agreement, the raw judge mean and a calibrated (PPI++) estimate.

A label applies to a verdict when suite, case_id, rubric and output_hash all match: a
label of an older output of the case is *stale* and ignored (counted), a label of a case
absent from the results is *unmatched* (counted). Only labels of the `uniform` stratum feed
the agreement table and the estimate; extra strata get their own accuracy (see sampling).
The estimate's unlabeled set is every judged case of the rubric without an applicable
uniform label, so labeled and unlabeled cases are disjoint, as PPI assumes.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pytest_llmgate.gate.records import JudgeVerdict, RunResults

from .agreement import DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE, DEFAULT_SEED, agreement_table, wilson_interval
from .labels import Label, rubric_key
from .ppi import ppi_mean
from .sampling import rubric_verdicts
from .scales import RubricInfo, infer_rubric_info

#: Fewer uniform labels than this and the gate says "too few labels to tell".
MIN_LABELS = 10


def _rubric_names(results: RunResults, labels: Iterable[Label], rubrics: dict[str, Any]) -> list[str]:
    names = set(rubrics)
    names.update(label.rubric for label in labels)
    for suite in results.suites.values():
        for case in suite.cases.values():
            names.update(verdict.rubric for verdict in case.judge)
    return sorted(names)


def _info(name: str, spec: Any, verdicts: list[JudgeVerdict], labels: list[Label]) -> RubricInfo:
    if isinstance(spec, RubricInfo):
        return spec
    if spec is not None:
        return RubricInfo.from_mapping(name, dict(spec))
    return infer_rubric_info(name, verdicts, labels)


def calibrate_rubric(
    results: RunResults,
    labels: list[Label],
    info: RubricInfo,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """The calibration entry of one rubric (see module doc); JSON-serialisable."""
    found = rubric_verdicts(results, info.name)
    by_case = {(suite, case_id): verdict for suite, case_id, verdict in found}
    known_cases = {(suite_id, case_id) for suite_id, suite in results.suites.items() for case_id in suite.cases}
    stale = unmatched = 0
    matched: dict[tuple[str, str], Label] = {}
    strata: dict[str, list[tuple[Label, JudgeVerdict]]] = defaultdict(list)
    for label in labels:
        if label.rubric != info.name:
            continue
        info.check_label(label)
        key = (label.suite, label.case_id)
        verdict = by_case.get(key)
        if key not in known_cases:
            unmatched += 1
        elif verdict is None:
            unmatched += 1  # case ran but has no answered verdict of this rubric
        elif verdict.output_hash != label.output_hash:
            stale += 1
        elif label.stratum == "uniform":
            matched[key] = label
        else:
            strata[label.stratum].append((label, verdict))
    values = [verdict.value for _, _, verdict in found if verdict.value is not None]
    entry: dict[str, Any] = {
        "rubric": info.name,
        **info.to_dict(),
        "metric": found[0][2].metric if found else None,
        "n_judged": len(found),
        "n_labels": len(matched),
        "n_stale": stale,
        "n_unmatched": unmatched,
        "judge_mean": sum(values) / len(values) if values else None,
        "agreement": None,
        "calibrated": None,
        "calibrated_reason": "",
        "strata": {},
    }
    pairs = [(matched[key], by_case[key]) for key in sorted(matched)]
    if pairs:
        entry["agreement"] = agreement_table(
            [info.human_category(label) for label, _ in pairs],
            [info.judge_category(verdict) for _, verdict in pairs],
            [_human_score(info, label) for label, _ in pairs],
            [info.judge_score(verdict) for _, verdict in pairs],
            kind=info.kind,
            categories=info.categories,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
    unlabeled = [
        verdict.value for (suite, case_id), verdict in sorted(by_case.items()) if (suite, case_id) not in matched
    ]
    if len(pairs) < 2 or not unlabeled:
        entry["calibrated_reason"] = (
            f"needs at least 2 uniform labels and 1 unlabeled judged case (has {len(pairs)} and {len(unlabeled)})."
        )
    else:
        estimate = ppi_mean(
            [info.human_value(label) for label, _ in pairs],
            [float(verdict.value) for _, verdict in pairs if verdict.value is not None],
            [float(value) for value in unlabeled if value is not None],
            confidence=confidence,
        )
        entry["calibrated"] = estimate.to_dict()
    for stratum, members in sorted(strata.items()):
        hits = sum(1 for label, verdict in members if info.human_category(label) == info.judge_category(verdict))
        low_high = wilson_interval(hits, len(members), confidence)
        entry["strata"][stratum] = {
            "n": len(members),
            "accuracy": {
                "value": hits / len(members),
                "low": low_high[0] if low_high else None,
                "high": low_high[1] if low_high else None,
                "method": "wilson",
            },
        }
    return entry


def _human_score(info: RubricInfo, label: Label) -> float:
    return float(label.label) if info.kind == "pointwise" else info.human_value(label)


def calibrate(
    results: RunResults,
    labels: list[Label],
    rubrics: dict[str, Any] | None = None,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Calibration of every rubric seen in the results, the labels or `rubrics`.

    `rubrics` maps a rubric name to its YAML mapping (`kind`, `scale: {min, max}`) or a
    `RubricInfo`; a rubric missing from it has its kind and scale inferred (a guess).
    The result is what `RunResults.calibration` holds.
    """
    rubrics = rubrics or {}
    calibration: dict[str, Any] = {}
    for name in _rubric_names(results, labels, rubrics):
        own_labels = [label for label in labels if label.rubric == name]
        verdicts = [verdict for _, _, verdict in rubric_verdicts(results, name)]
        info = _info(name, rubrics.get(name), verdicts, own_labels)
        calibration[name] = calibrate_rubric(
            results, own_labels, info, confidence=confidence, resamples=resamples, seed=seed
        )
    return calibration


def _statistic(statistic: str) -> tuple[str, str]:
    name, _, bound = statistic.rpartition("_")
    if bound in ("low", "high") and name:
        return name, bound
    return statistic, "value"


def _more_labels(n: int, estimate: float, bound: float, threshold: float) -> int:
    """Labels to add so the bound reaches the threshold, if the interval narrows as 1/sqrt(n)."""
    half = abs(estimate - bound)
    margin = estimate - threshold
    if margin <= 0 or half == 0:
        return MIN_LABELS
    return max(1, math.ceil(n * (half / margin) ** 2) - n)


def check_min_agreement(
    calibration: dict[str, Any], min_agreement: dict[str, float], statistic: str = "kappa_low"
) -> list[str]:
    """Gate lines, one per rubric whose agreement is below its threshold or cannot be told.

    `statistic` is an agreement statistic (`kappa`, `accuracy`, `spearman`, ...) optionally
    suffixed `_low` for its interval's lower bound (the default: a kappa we are confident of).
    An empty list means every rubric passed.
    """
    name, bound = _statistic(statistic)
    failures: list[str] = []
    min_agreement = {rubric_key(rubric): value for rubric, value in min_agreement.items()}
    for rubric in sorted(min_agreement):
        threshold = float(min_agreement[rubric])
        entry = calibration.get(rubric)
        n = entry["n_labels"] if entry else 0
        remedy = f"label more with `llmgate label --rubric {rubric}`."
        where = f"judge agreement for rubric {rubric!r}"
        if n < MIN_LABELS or not entry or entry.get("agreement") is None:
            failures.append(
                f"{where}: too few labels to tell ({n} uniform labels); needs {MIN_LABELS - n} more labels: {remedy}"
            )
            continue
        stat = entry["agreement"].get(name)
        if not isinstance(stat, dict):
            msg = f"unknown agreement statistic {statistic!r}; use e.g. kappa_low, accuracy_low, spearman_low."
            raise ValueError(msg)
        value, observed = stat.get("value"), stat.get(bound)
        if observed is None or value is None:
            failures.append(
                f"{where}: {name} is undefined with {n} labels (all one category); needs more varied labels: {remedy}"
            )
            continue
        if observed >= threshold:
            continue
        shown = name if bound == "value" else f"{name} {bound} bound"
        if bound == "low" and value >= threshold:
            more = _more_labels(n, value, observed, threshold)
            failures.append(
                f"{where}: {shown} {observed:.3f} < {threshold:.3f} with {n} labels ({name} {value:.3f}): "
                f"too few labels to tell; needs about {more} more labels: {remedy}"
            )
        else:
            failures.append(
                f"{where}: {shown} {observed:.3f} is below the required {threshold:.3f} ({n} labels, {name} {value:.3f}); "
                f"improve the rubric or the judge model, or relabel if the labels are wrong."
            )
    return failures


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _with_ci(stat: dict[str, Any] | None, digits: int = 2) -> str:
    if not stat or stat.get("value") is None:
        return "-"
    text = _fmt(stat["value"], digits)
    if stat.get("low") is not None and stat.get("high") is not None:
        text += f" [{_fmt(stat['low'], digits)}, {_fmt(stat['high'], digits)}]"
    return text


def calibration_table(calibration: dict[str, Any]) -> Table:
    """The calibration as a rich table: one row per rubric."""
    table = Table(
        title="LLM gate: judge calibration against human labels (95% intervals)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in (
        "rubric",
        "labels",
        "judge mean",
        "calibrated",
        "accuracy",
        "kappa",
        "spearman",
        "offset",
    ):
        table.add_column(column, justify="left" if column == "rubric" else "right")
    for rubric in sorted(calibration):
        entry = calibration[rubric]
        agreement = entry.get("agreement") or {}
        labels = str(entry["n_labels"])
        unused = [f"+{entry['n_stale']} stale"] if entry.get("n_stale") else []
        if entry.get("n_unmatched"):
            unused.append(f"{entry['n_unmatched']} unmatched")  # labels of no case (or no verdict) of this run
        if unused:
            labels += f" ({', '.join(unused)})"
        calibrated = entry.get("calibrated")
        estimate = (
            f"{calibrated['estimate']:.3f} [{calibrated['low']:.3f}, {calibrated['high']:.3f}]" if calibrated else "-"
        )
        accuracy = _with_ci(agreement.get("accuracy"))
        if entry.get("kind") == "pairwise" and agreement:
            accuracy += f"; no ties {_with_ci(agreement.get('agreement_without_ties'))}"
        kappa = _with_ci(agreement.get("kappa"))
        if agreement and agreement["kappa"].get("weights"):
            kappa += " (qw)"
        table.add_row(
            f"{rubric} ({entry.get('kind')})",
            labels,
            _fmt(entry.get("judge_mean"), 3),
            estimate,
            accuracy,
            kappa,
            _with_ci(agreement.get("spearman")),
            _with_ci(agreement.get("mean_offset")),
        )
    return table


def calibration_text(calibration: dict[str, Any], width: int = 200) -> str:
    """The calibration table as plain text (no colour), e.g. for logs."""
    console = Console(file=io.StringIO(), width=width, no_color=True, color_system=None, force_terminal=False)
    console.print(calibration_table(calibration))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"
