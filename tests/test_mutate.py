"""`llmgate mutate` in real projects: a length-only suite misses content mutants and catches
truncation; its verdicts equal those of `pytest --llm-gate --llm-gate-outputs MUTANT.jsonl`;
a second run with the same seed makes no judge call; user operators, `--min-score`, the files."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
from fake_provider import FakeProvider

N_CASES = 40
TEST_FILE = """
import os

import pytest

from pytest_llmgate import checks


def answer(case):
    return {"answer": case.reference}


@pytest.mark.golden("datasets/qa.jsonl", sut=answer)
def test_qa(case, output, llm_gate):
    # the suite's only check is the answer's length: a known blind spot for its content
    checks.length(output["answer"], min_words=8)
    if os.environ.get("MUTATE_JUDGE"):
        llm_gate.judge("correctness")
"""
CORRECTNESS = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: |
  5 when the answer states the same facts as the reference, 1 when it contradicts or misses them.
"""
CONFTEST = '''
from pytest_llmgate.mutate import mutation_operator


@mutation_operator("answer.shout")
def shout(output):
    """Shout the answer (and smuggle markup in)."""
    return {**output, "answer": output["answer"].upper() + " <script>alert(1)</script>"}
'''
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
SUITE = "test_qa.py::test_qa"
CONTENT = ("text.change_numbers", "text.negate", "text.swap_entity", "text.other_case")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("MUTATE_JUDGE", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    pytester.makeini("[pytest]\nllm_gate_judge_price = input=1 output=2\n")
    lines = [
        json.dumps(
            {
                "id": f"q-{i:02d}",
                "input": f"Where is crate {i}?",
                "reference": f"Crate {i} holds {i * 3 + 7} green apples. It is packed on Monday in Oslo.",
            }
        )
        for i in range(N_CASES)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


def mutate(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    code = "import sys; from pytest_llmgate.cli import main; sys.argv[0] = 'llmgate'; main()"
    return project.run(sys.executable, "-c", code, "mutate", *args)


def mutants(project: pytest.Pytester) -> dict[str, dict[str, Any]]:
    data = json.loads((project.path / "reports/llm-gate-mutants.json").read_text(encoding="utf-8"))
    return {m["operator"]: m for m in data["suites"][SUITE]["mutants"]}


def test_a_length_only_suite_misses_content_mutants_and_catches_truncation(project: pytest.Pytester) -> None:
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    baseline = (project.path / "baselines").rglob("*.json").__next__().read_bytes()
    user_results = (project.path / "reports/llm-gate.json").read_bytes()
    operators = ",".join(("text.truncate_half", *CONTENT))
    result = mutate(project, "--operators", operators)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    found = mutants(project)
    assert set(found) == {"text.truncate_half", *CONTENT}
    truncated = found["text.truncate_half"]
    assert truncated["outcome"] == "caught" and truncated["gate"] == "FAIL"
    assert [c["metric"] for c in truncated["caught_by"]] == ["checks_passed"]
    assert 0 < truncated["caught_by"][0]["p"] < 0.05
    assert len(truncated["cases"]) == 8  # 20 % of 40
    for name in CONTENT:
        assert found[name]["outcome"] == "missed", name
        assert found[name]["caught_by"] == []
    result.stdout.fnmatch_lines(
        [
            "*text.truncate_half*8/40*caught*checks_passed*",
            "*text.negate*8/40*missed*",
            "*mutation score: 1 of 5 mutants caught (20%)",
            "*blind spots (missed): text.change_numbers, text.negate, text.swap_entity, text.other_case",
            "overall mutation score: 1 of 5 mutants caught (20%)",
        ]
    )
    # the mutants never touch the user's files
    assert (project.path / "baselines").rglob("*.json").__next__().read_bytes() == baseline
    assert (project.path / "reports/llm-gate.json").read_bytes() == user_results

    # the verdict reported equals a real gated run on the same mutated file
    # (a missed mutant moved no metric; on 40 cases the gate cannot certify its tolerance: INCONCLUSIVE, exit 0)
    for name, status, code in (("text.truncate_half", "FAIL", 1), ("text.negate", "INCONCLUSIVE", 0)):
        replay = project.runpytest(*GATE, "--llm-gate-outputs", found[name]["outputs_file"])
        replay.stdout.fnmatch_lines([f"LLM gate: {status}"])
        assert replay.ret == code and found[name]["gate"] == status
        mutated = {
            json.loads(line)["id"]
            for line, before in zip(
                (project.path / found[name]["outputs_file"]).read_text(encoding="utf-8").splitlines(),
                (project.path / "reports/llm-gate-mutants/unmutated.jsonl").read_text(encoding="utf-8").splitlines(),
                strict=True,
            )
            if line != before
        }
        assert mutated == set(found[name]["cases"])


def test_the_second_run_with_the_same_seed_makes_no_judge_call(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUTATE_JUDGE", "1")
    judge = ("--llm-gate-judge", "openai:gpt-test")
    assert project.runpytest(*GATE, *judge, "--llm-gate-update").ret == 0
    before = fake_provider.request_count
    first = mutate(project, "--operators", "text.change_numbers,text.empty", "--seed", "7", ".", *judge)
    assert first.ret == 0, first.stdout.str() + first.stderr.str()
    sent = fake_provider.request_count - before
    # the estimate comes first: 2 mutants x 8 cases x 1 pointwise rubric, priced from the ini price
    estimate = re.search(
        r"estimate: 2 mutant session\(s\), at most (\d+) judge call\(s\), about ([\d,]+) tokens, \$[\d.]+ ",
        first.stdout.str(),
    )
    assert estimate is not None, first.stdout.str()
    # an upper bound: the empty answers fail their length check before the body asks the judge
    assert int(estimate.group(1)) == 16 and sent == 8
    first.stdout.fnmatch_lines(["*llm_gate_judge_price*", "judge calls sent by the mutants: 8 (*cache hits)"])
    report = (project.path / "reports/llm-gate-mutants.json").read_text(encoding="utf-8")
    assert mutants(project)["text.empty"]["outcome"] == "caught"

    again = mutate(project, "--operators", "text.change_numbers,text.empty", "--seed", "7", ".", *judge)
    assert again.ret == 0
    assert fake_provider.request_count - before == sent  # zero calls, counted at the provider
    again.stdout.fnmatch_lines(["judge calls sent by the mutants: 0 (*cache hits)"])
    assert (
        json.loads(report)["suites"]
        == json.loads((project.path / "reports/llm-gate-mutants.json").read_text(encoding="utf-8"))["suites"]
    )


def test_a_user_operator_and_min_score(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST)
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    result = mutate(project, "--operators", "answer.shout,text.empty", "--min-score", "60")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*answer.shout*missed*",
            "*text.empty*caught*",
            "llmgate mutate: FAIL: mutation score: 1 of 2 mutants caught (50%) is below --min-score 60%*",
        ]
    )
    page = (project.path / "reports/llm-gate-mutants.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.index("answer.shout") < page.index("text.empty")  # blind spots first
    # a saved outputs file instead of the SUT, and a score that meets the bar
    saved = "reports/llm-gate-mutants/unmutated.jsonl"
    again = mutate(project, "--outputs", saved, "--operators", "answer.shout,text.empty", "--min-score", "50")
    assert again.ret == 0, again.stdout.str()
    assert {m["operator"]: m["outcome"] for m in mutants(project).values()} == {
        "answer.shout": "missed",
        "text.empty": "caught",
    }


def test_refused_flags_and_unknown_operators_are_usage_errors(project: pytest.Pytester) -> None:
    refused = mutate(project, ".", "--llm-gate-update")
    assert refused.ret == 4
    refused.stdout.fnmatch_lines(["ERROR: `llmgate mutate` sets --llm-gate-update itself: mutants must never rewrite*"])
    unknown = mutate(project, "--operators", "text.nope")
    assert unknown.ret == 4
    unknown.stdout.fnmatch_lines(
        ["ERROR: unknown mutation operator 'text.nope'; choose among: text.drop_last_sentence*"]
    )


def test_the_budget_covers_the_whole_command(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUTATE_JUDGE", "1")
    judge = ("--llm-gate-judge", "openai:gpt-test")
    assert project.runpytest(*GATE, *judge, "--llm-gate-update").ret == 0
    before = fake_provider.request_count
    # at $1,000 per million input tokens a call costs cents: $0.05 pays for a few calls, not 16
    project.makeini("[pytest]\nllm_gate_judge_price = input=1000 output=1000\n")
    operators = "text.change_numbers,text.swap_entity"
    # one call in flight: the engine stops issuing calls once spent, but calls in flight still land
    budget = ("--llm-gate-budget-usd", "0.05", "--llm-gate-concurrency", "1")
    result = mutate(project, "--operators", operators, ".", *judge, *budget)
    assert result.ret == 0, result.stdout.str()
    sent = fake_provider.request_count - before
    assert 0 < sent < 8
    result.stdout.fnmatch_lines(["budget: $0.05 for the whole command*"])
    found = mutants(project)
    assert found["text.change_numbers"]["outcome"] == "unscored"
    assert "budget" in found["text.change_numbers"]["note"]
    assert found["text.swap_entity"]["outcome"] == "unscored"
    assert found["text.swap_entity"]["note"] == "the judge budget (--llm-gate-budget-usd 0.05) was spent"
    result.stdout.fnmatch_lines(["overall mutation score: 0 of 0 mutants caught (no mutant)"])
