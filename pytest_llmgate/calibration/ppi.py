"""Prediction-powered inference (PPI++) for a mean: judge scores on every case, corrected
by human labels on a uniform sample.

With human labels Y and judge scores f on n labeled cases and judge scores f~ on N other
cases, the estimate is  lam * mean(f~) + mean(Y - lam * f), and its standard error
sqrt(var(lam * f~) / N + var(Y - lam * f) / n) (population variances), with a normal
interval. lam = 1 is plain PPI, lam = 0 the classical mean of the labels; by default lam is
power-tuned (PPI++: Angelopoulos, Duchi, Zrnic 2023) to minimise the variance,
    lam = cov(Y, f) / ((1 + n / N) * var(f, f~)),  clipped to [0, 1],
with the same variance conventions as `ppi_py.ppi_mean_ci` (whose numbers this equals).
When the judge gives one score everywhere lam cannot be tuned; it is then 0 (the judge
carries no information).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PPIEstimate:
    """A prediction-powered mean with its two-sided normal interval."""

    estimate: float
    low: float
    high: float
    lam: float
    """Power-tuning weight of the judge in [0, 1] (1 = plain PPI, 0 = labels alone)."""
    n_labeled: int
    n_unlabeled: int
    confidence: float
    power_tuned: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def power_tuned_lambda(labels: np.ndarray, judged: np.ndarray, judged_unlabeled: np.ndarray) -> float:
    """PPI++'s variance-minimising lam for the mean, clipped to [0, 1]."""
    n, big_n = labels.size, judged_unlabeled.size
    covariance = float(np.mean((labels - labels.mean()) * (judged - judged.mean())))
    spread = float(np.var(np.concatenate([judged, judged_unlabeled]), ddof=1))
    if spread == 0.0:
        return 0.0
    return float(np.clip(covariance / ((1 + n / big_n) * spread), 0.0, 1.0))


def ppi_mean(
    labels: Sequence[float],
    judged: Sequence[float],
    judged_unlabeled: Sequence[float],
    *,
    confidence: float = 0.95,
    lam: float | None = None,
) -> PPIEstimate:
    """PPI++ estimate of the mean of the human labels' scale, with its interval.

    `labels` and `judged` are the human label and the judge score of each labeled case;
    `judged_unlabeled` the judge scores of the cases without a label. `lam=None` tunes lam.
    """
    y = np.asarray(labels, dtype=float)
    f = np.asarray(judged, dtype=float)
    f_unlabeled = np.asarray(judged_unlabeled, dtype=float)
    if y.size != f.size:
        msg = f"labels and judged must have the same length (got {y.size} and {f.size})."
        raise ValueError(msg)
    if y.size < 2 or f_unlabeled.size < 1:
        msg = f"PPI needs at least 2 labeled and 1 unlabeled case (got {y.size} and {f_unlabeled.size})."
        raise ValueError(msg)
    if not 0.0 < confidence < 1.0:
        msg = f"'confidence' must be between 0 and 1 (got {confidence})."
        raise ValueError(msg)
    tuned = lam is None
    weight = power_tuned_lambda(y, f, f_unlabeled) if lam is None else float(lam)
    estimate = float(weight * f_unlabeled.mean() + (y - weight * f).mean())
    stderr = math.sqrt(np.var(weight * f_unlabeled) / f_unlabeled.size + np.var(y - weight * f) / y.size)
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    return PPIEstimate(
        estimate=estimate,
        low=estimate - z * stderr,
        high=estimate + z * stderr,
        lam=weight,
        n_labeled=int(y.size),
        n_unlabeled=int(f_unlabeled.size),
        confidence=confidence,
        power_tuned=tuned,
    )
