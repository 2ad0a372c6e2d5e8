"""Choosing which judged outputs to label.

The **uniform** stratum is a seeded random permutation of every judged output of a rubric;
a sample of size n is its first n items, so labeling further later (a bigger n, same seed)
extends the same uniform sample. Only uniform labels feed the agreement statistics and the
calibrated (PPI) estimate, which therefore stay unbiased.

Optional **extra strata** pick cases worth a human look: `flips` (the judge disagreed with
itself across order swaps) and `extremes` (the judge gave the lowest or highest score).
They are drawn from the cases outside the uniform sample, labeled with their stratum name,
and reported apart (their own accuracy); they are excluded from the estimates rather than
re-weighted, because the uniform sample alone already gives an unbiased estimate and
mixing weights in would only add variance. Each item carries its inclusion weight
(stratum population / sampled) for anyone who wants a Horvitz-Thompson estimate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from scipy import stats

from pytest_llmgate.gate.records import JudgeVerdict, RunResults

STRATA = ("flips", "extremes")


@dataclass(frozen=True)
class SampleItem:
    """One judged output chosen for labeling."""

    suite: str
    case_id: str
    output_hash: str
    stratum: str
    """`uniform`, `flips` or `extremes`."""
    weight: float
    """Inverse inclusion probability within its stratum (population / sampled)."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.suite, self.case_id, self.output_hash)


def rubric_verdicts(results: RunResults, rubric: str) -> list[tuple[str, str, JudgeVerdict]]:
    """(suite, case_id, verdict) of every answered verdict of `rubric`, in a stable order.

    When a case has several verdicts of the rubric (e.g. against reference and against
    baseline), the first is used.
    """
    found: list[tuple[str, str, JudgeVerdict]] = []
    for suite_id in sorted(results.suites):
        suite = results.suites[suite_id]
        for case_id in sorted(suite.cases):
            for verdict in suite.cases[case_id].judge:
                if verdict.rubric == rubric and verdict.value is not None and verdict.error is None:
                    found.append((suite_id, case_id, verdict))
                    break
    return found


def _in_stratum(verdict: JudgeVerdict, stratum: str) -> bool:
    if stratum == "flips":
        return verdict.consistent is False
    if stratum == "extremes":
        return verdict.kind == "pointwise" and verdict.value in (0.0, 1.0)
    msg = f"unknown stratum {stratum!r}; choose from {', '.join(STRATA)}."
    raise ValueError(msg)


def sample_for_labeling(
    results: RunResults,
    rubric: str,
    *,
    n: int | None = None,
    seed: int = 0,
    strata: Iterable[str] = (),
    per_stratum: int = 10,
    exclude: Iterable[tuple[str, str, str]] = (),
) -> list[SampleItem]:
    """Uniform sample of `n` judged outputs (all when None), then up to `per_stratum` of each
    extra stratum from the rest. `exclude` holds (suite, case_id, output_hash) keys already
    labeled: they are dropped from the returned list but still count as drawn, so the
    uniform sample is the same one whatever was labeled before.
    """
    if n is not None and n < 0:
        msg = f"'n' must be a non-negative integer (got {n})."
        raise ValueError(msg)
    verdicts = rubric_verdicts(results, rubric)
    order = list(range(len(verdicts)))
    random.Random(seed).shuffle(order)
    size = len(order) if n is None else min(n, len(order))
    chosen = order[:size]
    rest = order[size:]
    uniform_weight = len(order) / size if size else 0.0
    items = [
        SampleItem(verdicts[i][0], verdicts[i][1], verdicts[i][2].output_hash, "uniform", uniform_weight)
        for i in chosen
    ]
    taken = set(chosen)
    for stratum in strata:
        members = [i for i in rest if i not in taken and _in_stratum(verdicts[i][2], stratum)]
        picked = members[:per_stratum]  # `rest` is already in seeded random order
        taken.update(picked)
        weight = len(members) / len(picked) if picked else 0.0
        items += [
            SampleItem(verdicts[i][0], verdicts[i][1], verdicts[i][2].output_hash, stratum, weight) for i in picked
        ]
    skip = set(exclude)
    return [item for item in items if item.key not in skip]


def labels_needed(
    half_width: float,
    *,
    proportion: float = 0.5,
    sd: float | None = None,
    confidence: float = 0.95,
    population: int | None = None,
) -> int:
    """Labels needed for a normal interval of the given half-width.

    For a proportion (accuracy, pass rate) n = z^2 p(1-p) / w^2 (p = 0.5 is the worst case);
    for a mean pass `sd`, n = (z sd / w)^2. With `population` (a finite set of cases) the
    finite-population correction n / (1 + (n - 1) / N) applies.
    """
    if not half_width > 0:
        msg = f"'half_width' must be positive (got {half_width})."
        raise ValueError(msg)
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    variance = sd * sd if sd is not None else proportion * (1 - proportion)
    needed = z * z * variance / (half_width * half_width)
    if population is not None:
        needed = needed / (1 + (needed - 1) / population)
    return max(1, math.ceil(needed - 1e-9))
