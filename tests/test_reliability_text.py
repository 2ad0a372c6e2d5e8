"""Text is text: an output holding a lone surrogate (an emoji escape cut in half by a model's
`max_tokens`, `"\\ud83d"`) is recorded, judged, cached and reported like any other, in both SUT
styles and with the offline and an API judge; files read back the exact text."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeProvider
from pydantic_core import from_json

from pytest_llmgate._files import dumps, printable, utf8
from pytest_llmgate.gate.records import RunResults
from pytest_llmgate.outputs import content_hash

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
CUT = "Crate {n} holds apples \ud83d"

TEST_FILE = """
import os

import pytest

CUT = {cut!r}


def ask(case):
    return {{"answer": CUT.format(n=case.id)}}


if os.environ.get("SUT_STYLE") == "inbody":

    @pytest.mark.golden("datasets/qa.jsonl")
    def test_qa(case, llm_gate):
        output = ask(case)
        llm_gate.output(output)
        llm_gate.judge("correctness")
        assert case.id != "q-1", "bad answer: " + output["answer"]

else:

    @pytest.mark.golden("datasets/qa.jsonl", sut=ask)
    def test_qa(case, output, llm_gate):
        llm_gate.judge("correctness")
        assert case.id != "q-1", "bad answer: " + output["answer"]
"""

RUBRIC = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: Same facts as the reference.
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nllm_gate_primary = judge:correctness\n")
    (pytester.path / "datasets").mkdir()
    lines = [
        json.dumps({"id": f"q-{i}", "input": f"crate {i}?", "reference": f"Crate q-{i} holds apples"}) for i in range(4)
    ]
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE.format(cut=CUT))
    return pytester


@pytest.mark.parametrize("judge", ["offline", "api"])
@pytest.mark.parametrize("style", ["sut", "inbody"])
def test_a_lone_surrogate_is_recorded_judged_and_reported(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider, style: str, judge: str
) -> None:
    monkeypatch.setenv("SUT_STYLE", style)
    args = [*GATE, "--llm-gate-update"]
    if judge == "api":
        args += ["--llm-gate-judge", f"openai-compatible:llama3@{fake_provider.url}/v1"]
    result = project.runpytest(*args)
    out = result.stdout.str() + result.stderr.str()
    assert "UnicodeEncodeError" not in out and "INTERNALERROR" not in out, out
    result.assert_outcomes(passed=3)
    assert "1 check failed" in out

    results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    cases = results.suites["test_qa.py::test_qa"].cases
    # The failed check's message, escaped once (a first update lists no case as newly failing).
    failure = cases["q-1"].failure or ""
    assert failure.startswith("AssertionError: bad answer: Crate q-1 holds apples \\ud83d\n")
    assert len(cases) == 4
    for case_id, case in cases.items():
        expected = CUT.format(n=case_id)
        assert case.output == {"answer": printable(expected)}  # the escape, as every reader loads it
        assert printable(expected).endswith("apples \\ud83d")
        assert [v.error for v in case.judge] == [None]
        assert case.judge[0].output_hash == content_hash(expected)
    baseline = json.loads((project.path / "baselines/test_qa/test_qa.json").read_text(encoding="utf-8"))
    assert baseline["cases"]["q-2"]["output"] == {"answer": printable(CUT.format(n="q-2"))}
    html = (project.path / "reports/llm-gate.html").read_text(encoding="utf-8")
    assert "apples \\\\ud83d" in html  # the case data holds the six-character escape, as every file does
    assert (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")

    if judge == "api":  # the cache key of the escaped text is found again: no second call
        calls = fake_provider.request_count
        again = project.runpytest(*GATE, "--llm-gate-judge", f"openai-compatible:llama3@{fake_provider.url}/v1")
        again.assert_outcomes(passed=3)
        assert fake_provider.request_count == calls


def test_one_rule_for_unencodable_text_in_hashes_and_files() -> None:
    text = "a\ud83db"
    assert utf8(text) == b"a\\ud83db"
    assert content_hash(text) == content_hash("a\\ud83db")  # the escape is the text's one spelling
    assert printable(text) == "a\\ud83db"
    assert content_hash(text) == content_hash(printable(text))  # a label for the file's text applies
    assert json.loads(dumps({"t": text})) == {"t": printable(text)}

    assert from_json(dumps({"t": text}, compact=True)) == {"t": printable(text)}  # strict readers load it
