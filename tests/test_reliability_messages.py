"""Remedies in the user's terms: a replay miss says how to fill the cache, not "fix the regression"."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeProvider

TEST_FILE = """
import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference})
    llm_gate.judge("correctness")
"""
RUBRIC = 'name: correctness\nversion: "1"\nkind: pointwise\ncriteria: Same facts as the reference.\n'
JUDGE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--llm-gate-judge", "openai:gpt-test")


def test_a_replay_miss_says_to_fill_the_cache(pytester: pytest.Pytester, fake_provider: FakeProvider) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    lines = [json.dumps({"id": f"r-{i}", "input": f"q {i}", "reference": f"answer {i}"}) for i in range(6)]
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    assert pytester.runpytest(*JUDGE, "--llm-gate-update", "--llm-gate-no-cache").ret == 0
    result = pytester.runpytest(*JUDGE, "--llm-gate-replay")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "replay: 6 judge call(s) are not in the cache" in out
    assert "Run once without --llm-gate-replay to fill the cache, then replay." in out
    assert "Fix the regression" not in out
