"""Retrieval metrics: hand-worked examples, input errors, and agreement with trec_eval.

The reference is `pytrec_eval` (trec_eval's C code): on random rankings and graded
judgments every metric must equal trec_eval's measure to 1e-12 (both compute in double
precision; the observed differences are rounding in the last bits).
"""

from __future__ import annotations

import math
import random

import pytest
import pytrec_eval

from pytest_llmgate.retrieval import (
    METRICS,
    RetrievalError,
    average_precision,
    evaluate,
    hit_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
    relevant_ranks,
)

LOG2_3 = math.log2(3)
LOG2_5 = math.log2(5)

# Binary example used by several tests: d1 is at rank 2, d2 at rank 4, d4 is not retrieved.
RANKING = ["d3", "d1", "d7", "d2", "d9"]
RELEVANT = ["d1", "d2", "d4"]


# --- hand-worked examples ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, 0.0),  # top 1 = [d3]: 0 of 3 relevant
        (2, 1 / 3),  # top 2 holds d1: 1 of 3
        (4, 2 / 3),  # top 4 holds d1, d2: 2 of 3
        (10, 2 / 3),  # k beyond the list: still 2 of 3 (d4 never retrieved)
    ],
)
def test_recall_at_k(k: int, expected: float) -> None:
    assert recall_at_k(RANKING, RELEVANT, k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, 0.0),  # 0 relevant / 1
        (2, 0.5),  # d1: 1 / 2
        (5, 0.4),  # d1, d2: 2 / 5
        (10, 0.2),  # k beyond the 5-long list divides by k, like trec_eval P_10: 2 / 10
    ],
)
def test_precision_at_k(k: int, expected: float) -> None:
    assert precision_at_k(RANKING, RELEVANT, k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1.0), (10, 1.0)])
def test_hit_at_k(k: int, expected: float) -> None:
    # First relevant id (d1) is at rank 2: no hit at 1, a hit from 2 on.
    assert hit_at_k(RANKING, RELEVANT, k) == expected


def test_reciprocal_rank() -> None:
    # First relevant id at rank 2: 1/2; with cutoff 1 it is not seen: 0.
    assert reciprocal_rank(RANKING, RELEVANT) == 0.5
    assert reciprocal_rank(RANKING, RELEVANT, k=2) == 0.5
    assert reciprocal_rank(RANKING, RELEVANT, k=1) == 0.0
    assert reciprocal_rank(["x", "y", "z"], RELEVANT) == 0.0


def test_average_precision() -> None:
    # Relevant retrieved at ranks 2 and 4: precision there 1/2 and 2/4.
    # AP = (1/2 + 2/4) / 3 relevant (d4 counts though never retrieved) = 1/3.
    assert average_precision(RANKING, RELEVANT) == pytest.approx(1 / 3, abs=1e-15)
    # Cut at 3: only rank 2 counts: (1/2) / 3 = 1/6 (trec_eval map_cut_3).
    assert average_precision(RANKING, RELEVANT, k=3) == pytest.approx(1 / 6, abs=1e-15)


def test_ndcg_binary() -> None:
    # DCG@5 = 1/log2(2+1) + 1/log2(4+1)            (d1 at rank 2, d2 at rank 4)
    # IDCG@5 = 1/log2(2) + 1/log2(3) + 1/log2(4)   (three relevant ids in the ideal top 3)
    #        = 1 + 0.63093 + 0.5
    # nDCG@5 = (0.63093 + 0.43068) / 2.13093 = 0.49819
    expected = (1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3 + 0.5)
    assert ndcg_at_k(RANKING, RELEVANT, 5) == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(0.49819, abs=1e-5)
    # Cut at 1: DCG 0 (d3 is not relevant).
    assert ndcg_at_k(RANKING, RELEVANT, 1) == 0.0


GRADED = {"a": 3, "b": 2, "c": 1, "zero": 0, "neg": -1}


def test_ndcg_graded() -> None:
    ranking = ["c", "neg", "a", "unjudged"]
    # DCG@3  = 1/log2(2) + 0 (negative grade gains nothing) + 3/log2(4) = 1 + 1.5 = 2.5
    # IDCG@3 = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.26186 + 0.5 = 4.76186
    # nDCG@3 = 2.5 / 4.76186 = 0.52500
    idcg3 = 3 + 2 / LOG2_3 + 0.5
    assert ndcg_at_k(ranking, GRADED, 3) == pytest.approx(2.5 / idcg3, abs=1e-15)
    assert 2.5 / idcg3 == pytest.approx(0.52500, abs=1e-5)
    # nDCG@1 = 1 / 3 (c has grade 1, the ideal first id has grade 3).
    assert ndcg_at_k(ranking, GRADED, 1) == pytest.approx(1 / 3, abs=1e-15)
    # k = 10: DCG adds nothing after rank 3 and the ideal has only three gains: same as @3.
    assert ndcg_at_k(ranking, GRADED, 10) == pytest.approx(2.5 / idcg3, abs=1e-15)
    # The ideal order itself scores 1.
    assert ndcg_at_k(["a", "b", "c"], GRADED, 3) == pytest.approx(1.0, abs=1e-15)


def test_graded_relevance_uses_grade_above_zero() -> None:
    ranking = ["zero", "neg", "b", "a"]
    # Relevant = {a, b, c} (grade > 0); zero and neg are judged non-relevant.
    assert recall_at_k(ranking, GRADED, 4) == pytest.approx(2 / 3, abs=1e-15)  # a, b of 3
    assert precision_at_k(ranking, GRADED, 2) == 0.0  # zero, neg
    assert reciprocal_rank(ranking, GRADED) == pytest.approx(1 / 3, abs=1e-15)  # b at 3
    # AP = (1/3 + 2/4) / 3
    assert average_precision(ranking, GRADED) == pytest.approx((1 / 3 + 0.5) / 3, abs=1e-15)


def test_duplicates_count_once() -> None:
    # ["a", "x", "a", "b"] is scored as ["a", "x", "b"]: b moves up to rank 3.
    ranking = ["a", "x", "a", "b"]
    relevant = ["a", "b"]
    assert recall_at_k(ranking, relevant, 3) == 1.0  # a, b of 2 (b would be rank 4 if kept)
    assert precision_at_k(ranking, relevant, 4) == 0.5  # 2 / 4, not 3 / 4
    assert precision_at_k(ranking, relevant, 2) == 0.5  # [a, x]: 1 / 2
    # AP = (1/1 + 2/3) / 2 = 5/6
    assert average_precision(ranking, relevant) == pytest.approx(5 / 6, abs=1e-15)
    # DCG@3 = 1 + 1/log2(4) = 1.5; IDCG@3 = 1 + 1/log2(3); a repeated a gains nothing twice.
    expected = 1.5 / (1 + 1 / LOG2_3)
    assert ndcg_at_k(ranking, relevant, 3) == pytest.approx(expected, abs=1e-15)
    assert relevant_ranks(ranking, relevant) == {"a": 1, "b": 3}


def test_empty_ranking_scores_zero() -> None:
    scores = evaluate([], RELEVANT, ks=(1, 5))
    assert scores == {
        "recall@1": 0.0,
        "recall@5": 0.0,
        "precision@1": 0.0,
        "precision@5": 0.0,
        "hit@1": 0.0,
        "hit@5": 0.0,
        "ndcg@1": 0.0,
        "ndcg@5": 0.0,
        "mrr": 0.0,
        "ap": 0.0,
    }
    assert relevant_ranks([], RELEVANT) == {"d1": None, "d2": None, "d4": None}


def test_relevance_forms_agree() -> None:
    # A list, a tuple, a set and a {id: 1} mapping are the same binary judgments.
    forms = [
        RELEVANT,
        tuple(RELEVANT),
        set(RELEVANT),
        frozenset(RELEVANT),
        dict.fromkeys(RELEVANT, 1),
    ]
    expected = evaluate(RANKING, RELEVANT)
    for form in forms:
        assert evaluate(RANKING, form) == expected
    assert evaluate(tuple(RANKING), RELEVANT) == expected


def test_relevant_ranks() -> None:
    # Input order for lists and mappings; only grade > 0; None when not retrieved.
    assert relevant_ranks(RANKING, RELEVANT) == {"d1": 2, "d2": 4, "d4": None}
    ranks = relevant_ranks(["c", "neg", "a"], GRADED)
    assert ranks == {"a": 3, "b": None, "c": 1}
    assert list(ranks) == ["a", "b", "c"]
    # A set has no order: ids come sorted.
    assert list(relevant_ranks(RANKING, {"d4", "d1", "d2"})) == ["d1", "d2", "d4"]
    # No relevant id is not an error here: there is simply nothing to list.
    assert relevant_ranks(RANKING, {"d3": 0}) == {}


def test_evaluate_names_and_values() -> None:
    scores = evaluate(RANKING, RELEVANT)
    assert list(scores) == [
        *(f"recall@{k}" for k in (1, 3, 5, 10)),
        *(f"precision@{k}" for k in (1, 3, 5, 10)),
        *(f"hit@{k}" for k in (1, 3, 5, 10)),
        *(f"ndcg@{k}" for k in (1, 3, 5, 10)),
        "mrr",
        "ap",
    ]
    assert scores["recall@3"] == pytest.approx(1 / 3, abs=1e-15)
    assert scores["precision@10"] == pytest.approx(0.2, abs=1e-15)
    assert scores["hit@1"] == 0.0
    assert scores["hit@3"] == 1.0
    assert scores["ndcg@5"] == ndcg_at_k(RANKING, RELEVANT, 5)
    assert scores["mrr"] == 0.5
    assert scores["ap"] == pytest.approx(1 / 3, abs=1e-15)
    assert all(type(value) is float for value in scores.values())


def test_evaluate_subset_and_repeated_cutoffs() -> None:
    scores = evaluate(RANKING, RELEVANT, ks=(5, 2, 5), metrics=("mrr", "recall"))
    assert scores == {
        "mrr": 0.5,
        "recall@5": pytest.approx(2 / 3),
        "recall@2": pytest.approx(1 / 3),
    }
    assert list(scores) == ["mrr", "recall@5", "recall@2"]
    assert evaluate(RANKING, RELEVANT, ks=3, metrics="hit") == {"hit@3": 1.0}
    assert set(METRICS) == {"recall", "precision", "hit", "ndcg", "mrr", "ap"}


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("relevant", [[], (), set(), {}, {"a": 0}, {"a": 0, "b": -1}])
def test_no_relevant_ids_is_an_error(relevant: object) -> None:
    with pytest.raises(RetrievalError, match=r"^case has no relevant ids; recall@5 is undefined"):
        recall_at_k(["a", "b"], relevant, 5)
    with pytest.raises(RetrievalError, match=r"^case has no relevant ids; mrr is undefined"):
        reciprocal_rank(["a", "b"], relevant)
    for metric in (precision_at_k, hit_at_k, ndcg_at_k):
        with pytest.raises(RetrievalError, match="case has no relevant ids"):
            metric(["a"], relevant, 1)
    with pytest.raises(RetrievalError, match="case has no relevant ids"):
        average_precision([], relevant)
    with pytest.raises(RetrievalError, match="ids; every retrieval metric is undefined"):
        evaluate(["a"], relevant)


def test_no_relevant_ids_message_names_the_remedy() -> None:
    with pytest.raises(RetrievalError) as info:
        recall_at_k(["a"], [], 1)
    assert str(info.value) == (
        "case has no relevant ids; recall@1 is undefined (trec_eval would skip the case). "
        "Give the case at least one relevant id with grade > 0."
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("k", [-1, 0, 1.5, "3", None, True])
def test_bad_k(k: object) -> None:
    message = f"'k' must be a positive integer (got {k!r})."
    for metric in (recall_at_k, precision_at_k, hit_at_k, ndcg_at_k):
        with pytest.raises(RetrievalError) as info:
            metric(RANKING, RELEVANT, k)
        assert str(info.value) == message
    with pytest.raises(RetrievalError) as info:
        evaluate(RANKING, RELEVANT, ks=(1, k))
    assert str(info.value) == message
    if k is not None:  # None means "whole ranking" for MRR and AP
        with pytest.raises(RetrievalError):
            reciprocal_rank(RANKING, RELEVANT, k)
        with pytest.raises(RetrievalError):
            average_precision(RANKING, RELEVANT, k)


def test_k_error_message_exact() -> None:
    with pytest.raises(RetrievalError, match=r"^'k' must be a positive integer \(got -1\)\.$"):
        recall_at_k(RANKING, RELEVANT, -1)


@pytest.mark.parametrize(
    ("ranking", "message"),
    [
        ("d1 d2", "'ranking' must be a list of ids (got str: 'd1 d2')."),
        (None, "'ranking' must be a list of ids (got NoneType: None)."),
        ({"d1", "d2"}, "'ranking' must be a list of ids (got set:"),
        (iter(["d1"]), "'ranking' must be a list of ids (got list_iterator:"),
        (["d1", 2], "'ranking[1]' must be a string id (got int: 2)."),
        (["d1", None], "'ranking[1]' must be a string id (got NoneType: None)."),
    ],
)
def test_bad_ranking(ranking: object, message: str) -> None:
    with pytest.raises(RetrievalError) as info:
        recall_at_k(ranking, RELEVANT, 5)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    with pytest.raises(RetrievalError):
        relevant_ranks(ranking, RELEVANT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("relevant", "message"),
    [
        ("d1", "'relevant' must be a list of ids or a mapping {id: grade} (got str: 'd1')."),
        (None, "'relevant' must be a list of ids or a mapping {id: grade} (got NoneType: None)."),
        (["d1", 2], "relevant ids must be strings (got int: 2)."),
        ({1, "d1"}, "relevant ids must be strings (got int: 1)."),
        ({3: 1}, "relevant ids must be strings (got int: 3)."),
        ({"d1": 1.5}, "grade of relevant id 'd1' must be an integer (got 1.5)."),
        ({"d1": True}, "grade of relevant id 'd1' must be an integer (got True)."),
        ({"d1": "2"}, "grade of relevant id 'd1' must be an integer (got '2')."),
    ],
)
def test_bad_relevant(relevant: object, message: str) -> None:
    with pytest.raises(RetrievalError) as info:
        recall_at_k(RANKING, relevant, 5)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_unknown_metric() -> None:
    with pytest.raises(RetrievalError) as info:
        evaluate(RANKING, RELEVANT, metrics=("recall", "map"))
    assert str(info.value) == ("unknown retrieval metric 'map'; choose from recall, precision, hit, ndcg, mrr, ap.")


# --- agreement with trec_eval -------------------------------------------------------------

CUTOFFS = (1, 2, 3, 5, 10, 20)
N_CASES = 1500


def _random_case(rng: random.Random) -> tuple[list[str], dict[str, int] | list[str]]:
    """A ranking (possibly empty, with repeats and unjudged ids) and graded judgments with
    at least one relevant id; about a third of the judgments are binary lists."""
    pool = [f"d{i}" for i in range(rng.randint(1, 30))]
    judged = rng.sample(pool, rng.randint(1, len(pool)))
    if rng.random() < 0.3:
        relevant: dict[str, int] | list[str] = judged
    else:
        grades = {doc_id: rng.randint(-1, 3) for doc_id in judged}
        if not any(grade > 0 for grade in grades.values()):
            grades[rng.choice(judged)] = rng.randint(1, 3)
        relevant = grades
    length = 0 if rng.random() < 0.05 else rng.randint(1, 25)
    ranking = [rng.choice(pool) for _ in range(length)]
    return ranking, relevant


def test_matches_pytrec_eval_on_random_cases() -> None:
    rng = random.Random(20240517)
    cases = {f"q{n}": _random_case(rng) for n in range(N_CASES)}
    qrels = {
        qid: dict(relevant) if isinstance(relevant, dict) else dict.fromkeys(relevant, 1)
        for qid, (_, relevant) in cases.items()
    }
    run = {}
    for qid, (ranking, _) in cases.items():
        # trec_eval ranks by score: strictly decreasing scores keep our order, and the run
        # being a dict keeps one score per id, so dedupe first-occurrence like we do.
        deduped = list(dict.fromkeys(ranking))
        run[qid] = {doc_id: float(len(deduped) - i) for i, doc_id in enumerate(deduped)}
    measures = {"recip_rank", "map"}
    for k in CUTOFFS:
        measures |= {f"P_{k}", f"recall_{k}", f"ndcg_cut_{k}", f"success_{k}", f"map_cut_{k}"}
    reference = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    assert set(reference) == set(cases)  # trec_eval scored every case

    def same(ours: float, theirs: float) -> bool:
        return abs(ours - theirs) <= 1e-12

    mismatches = []
    for qid, (ranking, relevant) in cases.items():
        ref = reference[qid]
        ours = {
            "recip_rank": reciprocal_rank(ranking, relevant),
            "map": average_precision(ranking, relevant),
        }
        for k in CUTOFFS:
            ours[f"P_{k}"] = precision_at_k(ranking, relevant, k)
            ours[f"recall_{k}"] = recall_at_k(ranking, relevant, k)
            ours[f"ndcg_cut_{k}"] = ndcg_at_k(ranking, relevant, k)
            ours[f"success_{k}"] = hit_at_k(ranking, relevant, k)
            ours[f"map_cut_{k}"] = average_precision(ranking, relevant, k)
        summary = evaluate(ranking, relevant, ks=CUTOFFS)
        ours_from_evaluate = {"recip_rank": summary["mrr"], "map": summary["ap"]}
        for k in CUTOFFS:
            ours_from_evaluate[f"P_{k}"] = summary[f"precision@{k}"]
            ours_from_evaluate[f"recall_{k}"] = summary[f"recall@{k}"]
            ours_from_evaluate[f"ndcg_cut_{k}"] = summary[f"ndcg@{k}"]
            ours_from_evaluate[f"success_{k}"] = summary[f"hit@{k}"]
        for measure, value in ours.items():
            if not same(value, ref[measure]):
                mismatches.append((qid, measure, value, ref[measure], ranking, relevant))
        for measure, value in ours_from_evaluate.items():
            if not same(value, ref[measure]):
                mismatch = (qid, f"evaluate:{measure}", value, ref[measure], ranking, relevant)
                mismatches.append(mismatch)
    assert mismatches == []

    # The random cases really exercise the edge cases (else the comparison proves little).
    rankings = [ranking for ranking, _ in cases.values()]
    assert sum(1 for r in rankings if not r) >= 30
    assert sum(1 for r in rankings if len(set(r)) < len(r)) >= 500
    assert sum(1 for r in rankings if len(set(r)) < 20) >= 500  # k = 20 beyond the list
    graded = [rel for _, rel in cases.values() if isinstance(rel, dict)]
    assert sum(1 for rel in graded if {0, -1, 2, 3} <= set(rel.values())) >= 100
    # Scores span the range, so agreement is not agreement on zeros.
    assert sum(1 for q in reference.values() if 0 < q["ndcg_cut_5"] < 1) >= 500
    assert sum(1 for q in reference.values() if q["ndcg_cut_5"] == 1) >= 10
    assert sum(1 for q in reference.values() if 0 < q["map"] < 1) >= 500
