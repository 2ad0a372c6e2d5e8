"""The deepeval adapter: a deepeval-style metric scores a case as `deepeval:<name>`; a metric
that raises is counted as an error and never scored. deepeval itself is an optional extra and
is not installed for these tests: the metric and the test-case factory below follow its
protocol (`metric.measure(LLMTestCase(...))` sets `score`, `reason`, `success`)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from pytest_llmgate.judge.deepeval_adapter import INSTALL_HINT, measure

TEST_FILE = '''
from dataclasses import dataclass, field

import pytest


@dataclass
class DeepevalCase:
    input: str
    actual_output: str
    expected_output: str | None = None
    retrieval_context: list = field(default_factory=list)


class MentionsReference:
    """Share of the reference's words found in the answer; raises on an empty answer."""
    __name__ = "mentions_reference"

    def measure(self, case):
        if not case.actual_output:
            raise RuntimeError("empty answer")
        words = case.expected_output.split()
        self.score = sum(w in case.actual_output.split() for w in words) / len(words)
        self.reason = f"{self.score:.2f} of the reference words"
        self.success = self.score >= 0.5
        return self.score


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    answer = "" if case.id == "q-3" else ("red box" if case.id == "q-1" else case.reference)
    llm_gate.output({"answer": answer})
    llm_gate.deepeval(MentionsReference(), test_case_factory=DeepevalCase, retrieval_context=["ctx"])
'''


def test_deepeval_metric_scores_cases_and_errors_are_counted(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    lines = [json.dumps({"id": f"q-{i}", "input": f"q {i}", "reference": "the red box ships today"}) for i in range(4)]
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    gated = pytester.runpytest("-p", "no:cacheprovider", "--llm-gate")
    data = json.loads((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    cases = data["suites"]["test_qa.py::test_qa"]["cases"]
    assert cases["q-0"]["metrics"]["deepeval:mentions_reference"] == 1.0
    assert cases["q-1"]["metrics"]["deepeval:mentions_reference"] == 0.4
    assert cases["q-1"]["details"]["deepeval"]["deepeval:mentions_reference"]["reason"] == "0.40 of the reference words"
    assert "deepeval:mentions_reference" not in cases["q-3"]["metrics"]  # an error is not a 0
    assert cases["q-3"]["details"]["deepeval"]["deepeval:mentions_reference"]["error"] == "RuntimeError: empty answer"
    stats = data["judge_stats"]["deepeval:mentions_reference"]
    assert (stats["verdicts"], stats["errors"]) == (4, 1)
    gated.stdout.fnmatch_lines(["*judge errors for rubric 'deepeval:mentions_reference': 1 of 4 verdicts (25%)*"])
    update = pytester.runpytest("-p", "no:cacheprovider", "--llm-gate-update")
    assert update.ret == pytest.ExitCode.TESTS_FAILED  # errors over the limit: the update is refused
    assert not (pytester.path / "baselines").exists()


def test_score_outside_the_unit_interval_is_an_error() -> None:
    class Loud:
        def measure(self, case: object) -> None:
            self.score, self.reason, self.success = 7, "", True

    result = measure(Loud(), input="q", actual_output="a", test_case_factory=dict)
    assert result.score is None and result.error == "metric returned no score in [0, 1] (got 7)"


@pytest.mark.skipif(importlib.util.find_spec("deepeval") is not None, reason="deepeval is installed here")
def test_without_deepeval_the_error_says_how_to_install_it() -> None:
    with pytest.raises(ImportError, match=r"pip install 'pytest-llmgate\[deepeval\]'"):
        measure(object(), input="q", actual_output="a")
    assert "pytest-llmgate[deepeval]" in INSTALL_HINT
