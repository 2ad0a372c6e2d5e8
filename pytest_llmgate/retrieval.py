"""Retrieval metrics for one case: recall@k, precision@k, hit@k, MRR, AP and nDCG@k.

Every metric follows trec_eval's definitions (as `pytrec_eval` computes them), so scores
here can be compared with published IR numbers:

- a judged id with grade > 0 is relevant (trec_eval's default relevance level 1); grade 0
  or negative is judged non-relevant and gains nothing in nDCG;
- a ranking that repeats an id keeps its first occurrence only, before ranks are given;
- a cutoff beyond the ranking's length is allowed: precision@k still divides by k;
- a case with no relevant id raises `RetrievalError`: trec_eval silently drops such
  queries, and a silent 0 (or skipped case) would bias the suite mean.

The module imports only the standard library, so loading it costs nothing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence, Set
from typing import Any

__all__ = [
    "METRICS",
    "Relevance",
    "RetrievalError",
    "average_precision",
    "evaluate",
    "hit_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "relevant_ranks",
]

#: Relevant ids as a binary list (or set) of ids, or graded as `{id: grade}`.
Relevance = Sequence[str] | Set[str] | Mapping[str, int]

#: Metric names accepted by `evaluate`: the first four are reported per cutoff (`recall@5`),
#: `mrr` and `ap` over the full ranking.
METRICS: tuple[str, ...] = ("recall", "precision", "hit", "ndcg", "mrr", "ap")


class RetrievalError(ValueError):
    """A ranking, a set of relevant ids or a cutoff that the metrics cannot score."""


def recall_at_k(ranking: Sequence[str], relevant: Relevance, k: int) -> float:
    """Share of all relevant ids found in the top `k` (trec_eval `recall_k`)."""
    k = _check_k(k)
    return _recall(*_prepare(ranking, relevant, f"recall@{k}"), k)


def precision_at_k(ranking: Sequence[str], relevant: Relevance, k: int) -> float:
    """Share of the top `k` slots holding a relevant id, always divided by `k`
    (trec_eval `P_k`), so a short ranking is not rewarded for being short."""
    k = _check_k(k)
    return _precision(*_prepare(ranking, relevant, f"precision@{k}"), k)


def hit_at_k(ranking: Sequence[str], relevant: Relevance, k: int) -> float:
    """1.0 when any relevant id is in the top `k`, else 0.0 (trec_eval `success_k`)."""
    k = _check_k(k)
    return _hit(*_prepare(ranking, relevant, f"hit@{k}"), k)


def reciprocal_rank(ranking: Sequence[str], relevant: Relevance, k: int | None = None) -> float:
    """1 / rank of the first relevant id within the top `k` (whole ranking when `k` is
    None), 0.0 when there is none (trec_eval `recip_rank`)."""
    if k is not None:
        k = _check_k(k)
    return _reciprocal_rank(*_prepare(ranking, relevant, "mrr" if k is None else f"mrr@{k}"), k)


def average_precision(ranking: Sequence[str], relevant: Relevance, k: int | None = None) -> float:
    """Sum of precision at the rank of each relevant id retrieved in the top `k` (whole
    ranking when `k` is None), divided by the number of relevant ids (trec_eval `map`;
    `map_cut_k` with a cutoff)."""
    if k is not None:
        k = _check_k(k)
    return _average_precision(*_prepare(ranking, relevant, "ap" if k is None else f"ap@{k}"), k)


def ndcg_at_k(ranking: Sequence[str], relevant: Relevance, k: int) -> float:
    """Normalised discounted cumulative gain of the top `k` (trec_eval `ndcg_cut_k`):
    gain = grade (grades <= 0 gain nothing), discount log2(rank + 1), divided by the DCG
    of the ideal order of all relevant ids, cut at `k`."""
    k = _check_k(k)
    return _ndcg(*_prepare(ranking, relevant, f"ndcg@{k}"), k)


def relevant_ranks(ranking: Sequence[str], relevant: Relevance) -> dict[str, int | None]:
    """1-based rank of each relevant id in the deduplicated ranking (None when it was not
    retrieved), in the order `relevant` lists them; for reports that show what was missed."""
    ranked = _dedupe(_check_ranking(ranking))
    grades = _check_relevant(relevant)
    positions = {doc_id: rank for rank, doc_id in enumerate(ranked, start=1)}
    return {doc_id: positions.get(doc_id) for doc_id, grade in grades.items() if grade > 0}


def evaluate(
    ranking: Sequence[str],
    relevant: Relevance,
    ks: Sequence[int] = (1, 3, 5, 10),
    metrics: Sequence[str] = METRICS,
) -> dict[str, float]:
    """All requested metrics for one case, named as the gate records them: `recall@5`,
    `precision@5`, `hit@5`, `ndcg@5` for each cutoff in `ks` (in that order); `mrr` and
    `ap` over the full ranking."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    for name in metrics:
        if name not in METRICS:
            msg = f"unknown retrieval metric {name!r}; choose from {', '.join(METRICS)}."
            raise RetrievalError(msg)
    # A bare int is accepted for convenience, though the signature says a sequence.
    cutoff_values: Sequence[Any] = (ks,) if isinstance(ks, numbers.Integral) else ks
    cutoffs = list(dict.fromkeys(_check_k(k) for k in cutoff_values))
    ranked, grades = _prepare(ranking, relevant, "every retrieval metric")
    scores: dict[str, float] = {}
    for name in dict.fromkeys(metrics):
        if name in _AT_K:
            for k in cutoffs:
                scores[f"{name}@{k}"] = _AT_K[name](ranked, grades, k)
        elif name == "mrr":
            scores["mrr"] = _reciprocal_rank(ranked, grades, None)
        else:
            scores["ap"] = _average_precision(ranked, grades, None)
    return scores


def _recall(ranked: list[str], grades: Mapping[str, int], k: int) -> float:
    return _relevant_in_top(ranked, grades, k) / _num_relevant(grades)


def _precision(ranked: list[str], grades: Mapping[str, int], k: int) -> float:
    return _relevant_in_top(ranked, grades, k) / k


def _hit(ranked: list[str], grades: Mapping[str, int], k: int) -> float:
    return 1.0 if _relevant_in_top(ranked, grades, k) > 0 else 0.0


def _reciprocal_rank(ranked: list[str], grades: Mapping[str, int], k: int | None) -> float:
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if grades.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def _average_precision(ranked: list[str], grades: Mapping[str, int], k: int | None) -> float:
    found = 0
    total = 0.0
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if grades.get(doc_id, 0) > 0:
            found += 1
            total += found / rank
    return total / _num_relevant(grades)


def _ndcg(ranked: list[str], grades: Mapping[str, int], k: int) -> float:
    dcg = 0.0
    for rank, doc_id in enumerate(ranked[:k], start=1):
        gain = grades.get(doc_id, 0)
        if gain > 0:
            dcg += gain / math.log2(rank + 1)
    ideal_gains = sorted((gain for gain in grades.values() if gain > 0), reverse=True)[:k]
    ideal = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal_gains, start=1))
    return dcg / ideal


_AT_K = {"recall": _recall, "precision": _precision, "hit": _hit, "ndcg": _ndcg}


def _prepare(ranking: Sequence[str], relevant: Relevance, metric: str) -> tuple[list[str], dict[str, int]]:
    """Validated, deduplicated ranking and `{id: grade}` judgments with at least one relevant id."""
    ranked = _dedupe(_check_ranking(ranking))
    grades = _check_relevant(relevant)
    if _num_relevant(grades) == 0:
        msg = (
            f"case has no relevant ids; {metric} is undefined (trec_eval would skip the case). "
            "Give the case at least one relevant id with grade > 0."
        )
        raise RetrievalError(msg)
    return ranked, grades


def _check_ranking(ranking: object) -> Sequence[str]:
    if isinstance(ranking, (str, bytes)) or not isinstance(ranking, Sequence):
        msg = f"'ranking' must be a list of ids (got {type(ranking).__name__}: {ranking!r:.60})."
        raise RetrievalError(msg)
    for index, doc_id in enumerate(ranking):
        if not isinstance(doc_id, str):
            kind = type(doc_id).__name__
            msg = f"'ranking[{index}]' must be a string id (got {kind}: {doc_id!r:.60})."
            raise RetrievalError(msg)
    return ranking


def _check_relevant(relevant: object) -> dict[str, int]:
    """`{id: grade}` from a graded mapping, or grade 1 for each id of a binary list."""
    if isinstance(relevant, Mapping):
        grades: dict[str, int] = {}
        for doc_id, grade in relevant.items():
            if not isinstance(doc_id, str):
                msg = f"relevant ids must be strings (got {type(doc_id).__name__}: {doc_id!r:.60})."
                raise RetrievalError(msg)
            if isinstance(grade, bool) or not isinstance(grade, numbers.Integral):
                msg = f"grade of relevant id {doc_id!r} must be an integer (got {grade!r:.60})."
                raise RetrievalError(msg)
            grades[doc_id] = int(grade)
        return grades
    if isinstance(relevant, (str, bytes)) or not isinstance(relevant, (Sequence, Set)):
        msg = (
            "'relevant' must be a list of ids or a mapping {id: grade} "
            f"(got {type(relevant).__name__}: {relevant!r:.60})."
        )
        raise RetrievalError(msg)
    for doc_id in relevant:
        if not isinstance(doc_id, str):
            msg = f"relevant ids must be strings (got {type(doc_id).__name__}: {doc_id!r:.60})."
            raise RetrievalError(msg)
    # A set has no order of its own; sort it so `relevant_ranks` lists ids deterministically.
    ids = sorted(relevant) if isinstance(relevant, Set) else list(relevant)
    return dict.fromkeys(ids, 1)


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        msg = f"'k' must be a positive integer (got {k!r})."
        raise RetrievalError(msg)
    return int(k)


def _dedupe(ranking: Sequence[str]) -> list[str]:
    """Ranking with later repeats removed, as trec_eval sees a run (one score per id)."""
    return list(dict.fromkeys(ranking))


def _num_relevant(grades: Mapping[str, int]) -> int:
    return sum(1 for grade in grades.values() if grade > 0)


def _relevant_in_top(ranked: list[str], grades: Mapping[str, int], k: int) -> int:
    return sum(1 for doc_id in ranked[:k] if grades.get(doc_id, 0) > 0)
