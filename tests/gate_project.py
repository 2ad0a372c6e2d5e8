"""A small user project for pytester sessions: a golden set and an eval test whose quality
is steered by the `GATE_MODE` environment variable (good, worse retrieval, broken checks)."""

from __future__ import annotations

import json

import pytest

TEST_FILE = """
import os

import pytest

MODE = os.environ.get("GATE_MODE", "good")


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    number = int(case.id.split("-")[1])
    relevant = case.relevant_ids[0]
    if MODE == "worse-retrieval" and number % 2 == 0:
        ranking = ["noise-1", "noise-2", "noise-3", "noise-4", relevant]
    else:
        ranking = [relevant, "noise-1", "noise-2"]
    llm_gate.output({"answer": case.reference})
    llm_gate.retrieval(ranking, k=(1, 5))
    broken = MODE == "broken-checks" and number % 3 == 0
    assert number != 7 and not broken, f"case {case.id} failed its check"
"""


def write_dataset(pytester: pytest.Pytester, n: int = 40, *, extra: int = 0) -> None:
    lines = [
        json.dumps({"id": f"q-{i}", "input": f"question {i}", "reference": f"answer {i}", "relevant_ids": [f"doc-{i}"]})
        for i in range(n + extra)
    ]
    (pytester.path / "datasets").mkdir(exist_ok=True)
    (pytester.path / "datasets" / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


#: Every metric the project records gates (its tests predate primary metrics and check them all).
ALL_PRIMARY = "checks_passed ap hit@1 hit@5 mrr ndcg@1 ndcg@5 precision@1 precision@5 recall@1 recall@5"


def make_project(pytester: pytest.Pytester, n: int = 40) -> None:
    pytester.makeini(f"[pytest]\nllm_gate_primary = {ALL_PRIMARY}\n")
    write_dataset(pytester, n)
    pytester.makepyfile(test_qa=TEST_FILE)
