"""Judge-human agreement statistics, each with a confidence interval.

Conventions (the human label is the truth, the judge the prediction):
- confusion matrix: rows are human categories, columns judge categories (sklearn's order);
- accuracy: share of exact matches; Wilson score interval (analytic);
- Cohen's kappa: unweighted for pass/fail and pairwise (categories), quadratic-weighted for
  ordinal pointwise scales, with weights over the rubric's whole scale (so a 1-vs-5
  disagreement weighs 16 even if no 2..4 was seen); seeded bootstrap percentile interval;
- Spearman's rho between the human and judge scores (ties get average ranks); seeded
  bootstrap percentile interval;
- mean offset: mean of (judge - human) on the rubric's raw scale; Student-t interval;
- pairwise: agreement with ties (= accuracy over loss/tie/win) and without ties (over the
  pairs where neither human nor judge said tie), both with Wilson intervals.
Bootstrap replicates whose statistic is undefined (e.g. every resampled label the same)
are dropped; the number kept is reported. Undefined statistics are None (JSON null).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP = 2000
DEFAULT_SEED = 0


def _codes(values: Sequence[Any], categories: Sequence[Any]) -> np.ndarray:
    index = {category: position for position, category in enumerate(categories)}
    try:
        return np.array([index[value] for value in values], dtype=np.int64)
    except KeyError as exc:
        msg = f"value {exc.args[0]!r} is not one of the categories {list(categories)!r}."
        raise ValueError(msg) from None


def confusion_matrix(human: Sequence[Any], judge: Sequence[Any], categories: Sequence[Any]) -> list[list[int]]:
    """Counts of (human category, judge category): rows human, columns judge."""
    size = len(categories)
    flat = _codes(human, categories) * size + _codes(judge, categories)
    return np.bincount(flat, minlength=size * size).reshape(size, size).tolist()


def _weights(size: int, weights: str | None) -> np.ndarray:
    if weights is None:
        return 1.0 - np.eye(size)
    if weights == "quadratic":
        grid = np.arange(size)
        return (grid[:, None] - grid[None, :]) ** 2.0
    if weights == "linear":
        grid = np.arange(size)
        return np.abs(grid[:, None] - grid[None, :]).astype(float)
    msg = f"'weights' must be None, 'linear' or 'quadratic' (got {weights!r})."
    raise ValueError(msg)


def _kappa_from_tables(tables: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Kappa of a stack of confusion tables (..., K, K); NaN where undefined."""
    totals = tables.sum(axis=(-2, -1), keepdims=True)
    expected = tables.sum(axis=-1, keepdims=True) * tables.sum(axis=-2, keepdims=True) / totals
    observed_disagreement = (weight * tables).sum(axis=(-2, -1))
    expected_disagreement = (weight * expected).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - observed_disagreement / expected_disagreement


def cohen_kappa(
    human: Sequence[Any], judge: Sequence[Any], categories: Sequence[Any], weights: str | None = None
) -> float | None:
    """Cohen's kappa (optionally linear/quadratic weighted over `categories` order); None if undefined."""
    table = np.array(confusion_matrix(human, judge, categories), dtype=float)
    if table.sum() == 0:
        return None
    value = float(_kappa_from_tables(table, _weights(len(categories), weights)))
    return None if math.isnan(value) else value


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (average ranks for ties); None when either side is constant or n < 2."""
    if len(x) < 2:
        return None
    rank_x = stats.rankdata(np.asarray(x, dtype=float))
    rank_y = stats.rankdata(np.asarray(y, dtype=float))
    value = _rowwise_correlation(rank_x[None, :], rank_y[None, :])[0]
    return None if math.isnan(value) else float(value)


def _rowwise_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.clip(value, -1.0, 1.0)


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (as statsmodels' `proportion_confint(method="wilson")`)."""
    if n == 0:
        return None
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of a mean; None with fewer than two values."""
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    mean = float(data.mean())
    sem = float(data.std(ddof=1) / math.sqrt(data.size))
    if sem == 0.0:
        return (mean, mean)
    quantile = stats.t.ppf(1 - (1 - confidence) / 2, df=data.size - 1)
    return (mean - quantile * sem, mean + quantile * sem)


def _percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None, int]:
    kept = replicates[~np.isnan(replicates)]
    if kept.size == 0:
        return None, None, 0
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(kept, [tail, 100 - tail])
    return float(low), float(high), int(kept.size)


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The (resamples, n) index matrix every bootstrap here uses: `default_rng(seed).integers(0, n, ...)`."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def kappa_bootstrap(
    human: Sequence[Any],
    judge: Sequence[Any],
    categories: Sequence[Any],
    weights: str | None = None,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
) -> tuple[float | None, float | None, int]:
    """Percentile bootstrap interval of kappa: (low, high, replicates kept)."""
    size = len(categories)
    flat = _codes(human, categories) * size + _codes(judge, categories)
    if flat.size == 0:
        return None, None, 0
    picks = flat[bootstrap_indices(flat.size, resamples, seed)]
    offsets = (np.arange(resamples) * size * size)[:, None]
    tables = np.bincount((picks + offsets).ravel(), minlength=resamples * size * size)
    tables = tables.reshape(resamples, size, size).astype(float)
    return _percentile_interval(_kappa_from_tables(tables, _weights(size, weights)), confidence)


def spearman_bootstrap(
    x: Sequence[float],
    y: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
) -> tuple[float | None, float | None, int]:
    """Percentile bootstrap interval of Spearman's rho: (low, high, replicates kept)."""
    if len(x) < 2:
        return None, None, 0
    index = bootstrap_indices(len(x), resamples, seed)
    rank_x = stats.rankdata(np.asarray(x, dtype=float)[index], axis=1)
    rank_y = stats.rankdata(np.asarray(y, dtype=float)[index], axis=1)
    return _percentile_interval(_rowwise_correlation(rank_x, rank_y), confidence)


def _stat(value: float | None, interval: tuple[Any, Any] | None, method: str, **extra: Any) -> dict[str, Any]:
    low, high = interval if interval is not None else (None, None)
    return {"value": value, "low": low, "high": high, "method": method, **extra}


def agreement_table(
    human: Sequence[Any],
    judge: Sequence[Any],
    human_scores: Sequence[float],
    judge_scores: Sequence[float],
    *,
    kind: str,
    categories: Sequence[Any],
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Every agreement statistic for one rubric, JSON-serialisable.

    `human`/`judge` are categories (scores, pass/fail, loss/tie/win); `human_scores`/
    `judge_scores` the same on the raw numeric scale (for Spearman and the mean offset).
    """
    n = len(human)
    if not (len(judge) == len(human_scores) == len(judge_scores) == n):
        msg = f"human and judge sequences must have the same length (got {n}, {len(judge)})."
        raise ValueError(msg)
    weights = "quadratic" if kind == "pointwise" else None
    hits = sum(1 for a, b in zip(human, judge, strict=True) if a == b)
    accuracy = hits / n if n else None
    kappa_low, kappa_high, kappa_kept = kappa_bootstrap(
        human, judge, categories, weights, confidence=confidence, resamples=resamples, seed=seed
    )
    rho_low, rho_high, rho_kept = spearman_bootstrap(
        human_scores, judge_scores, confidence=confidence, resamples=resamples, seed=seed
    )
    offsets = [float(b) - float(a) for a, b in zip(human_scores, judge_scores, strict=True)]
    table: dict[str, Any] = {
        "n": n,
        "confidence": confidence,
        "accuracy": _stat(accuracy, wilson_interval(hits, n, confidence), "wilson"),
        "kappa": _stat(
            cohen_kappa(human, judge, categories, weights),
            (kappa_low, kappa_high),
            "bootstrap-percentile",
            weights=weights,
            resamples=resamples,
            kept=kappa_kept,
            seed=seed,
        ),
        "spearman": _stat(
            spearman(human_scores, judge_scores),
            (rho_low, rho_high),
            "bootstrap-percentile",
            resamples=resamples,
            kept=rho_kept,
            seed=seed,
        ),
        "mean_offset": _stat(float(np.mean(offsets)) if offsets else None, t_interval(offsets, confidence), "t"),
        "confusion": {
            "labels": list(categories),
            "matrix": confusion_matrix(human, judge, categories),
            "rows": "human",
            "columns": "judge",
        },
    }
    if kind == "pairwise":
        table["agreement_with_ties"] = table["accuracy"]
        decided = [(a, b) for a, b in zip(human, judge, strict=True) if a != "tie" and b != "tie"]
        decided_hits = sum(1 for a, b in decided if a == b)
        table["agreement_without_ties"] = _stat(
            decided_hits / len(decided) if decided else None,
            wilson_interval(decided_hits, len(decided), confidence),
            "wilson",
            n=len(decided),
        )
    return table
