"""Juries: several judges per rubric (both real SDKs against the fake provider), aggregated by
mean or majority, every judge's verdict kept, inter-judge kappa with an interval (checked
against scikit-learn); and the self-preference warning."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeConfig, FakeProvider
from sklearn.metrics import cohen_kappa_score

from pytest_llmgate.gate.records import CaseResult, JudgeVerdict, RunResults, SuiteResult
from pytest_llmgate.judge.jury import aggregate, agreement, model_family, self_preference_warnings


def member(kind: str, value: float | None, provider: str = "a", error: str | None = None) -> JudgeVerdict:
    return JudgeVerdict(
        rubric="r",
        rubric_version="1",
        kind=kind,
        metric="judge:r",
        value=value,
        provider=provider,
        error=error,  # type: ignore[arg-type]
    )


def test_mean_and_majority() -> None:
    scores = [member("pointwise", v, p) for v, p in ((0.25, "a"), (0.5, "b"), (1.0, "c"))]
    assert aggregate(scores, "mean", "jury").value == pytest.approx(7 / 12)
    assert aggregate(scores, "majority", "jury").value == 0.5  # the median score
    pairs = [member("pairwise", v, p) for v, p in ((1.0, "a"), (1.0, "b"), (0.0, "c"))]
    assert aggregate(pairs, "mean", "jury").value == pytest.approx(2 / 3)
    majority = aggregate(pairs, "majority", "jury")
    assert majority.value == 1.0 and majority.label == "win (majority of 3 judges)"
    split = [member("pairwise", 1.0, "a"), member("pairwise", 0.0, "b")]
    assert aggregate(split, "majority", "jury").value == 0.5  # no strict majority: a tie
    # pass/fail takes the majority whatever the setting, and a tie between judges is a fail
    votes = [member("pass_fail", 1.0, "a"), member("pass_fail", 0.0, "b")]
    assert aggregate(votes, "mean", "jury").value == 0.0
    assert aggregate(votes + [member("pass_fail", 1.0, "c")], "mean", "jury").value == 1.0


def test_every_verdict_is_kept_and_errors_are_not_scores() -> None:
    partial = aggregate([member("pointwise", 1.0, "a"), member("pointwise", None, "b", "timeout")], "mean", "a + b")
    assert partial.value == 1.0 and partial.error is None and "1 judge(s) gave no value" in (partial.label or "")
    assert [m.provider for m in partial.jury or []] == ["a", "b"]
    failed = aggregate([member("pointwise", None, "a", "x"), member("pointwise", None, "b", "y")], "mean", "a + b")
    assert failed.value is None and failed.error == "every judge failed: a: x; b: y"


def test_inter_judge_kappa_matches_scikit_learn() -> None:
    a = [1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 3, 3]
    b = [1, 2, 4, 4, 5, 4, 4, 2, 2, 1, 3, 5]
    cases = {}
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        jury = [member("pointwise", (x - 1) / 4, "A"), member("pointwise", (y - 1) / 4, "B")]
        verdict = aggregate(jury, "mean", "A + B")
        cases[f"c{i}"] = CaseResult(case_id=f"c{i}", nodeid=f"t[c{i}]", judge=[verdict])
    results = RunResults(
        plugin_version="x",
        created_at="now",
        suites={"s": SuiteResult(suite="s", dataset="d", cases=cases)},
        gate={"status": "PASS", "passed": True},
    )
    entry = agreement(results, {"r": (1, 5)}, {"r": "mean"})["r"]
    [pair] = entry["pairs"]
    expected = cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert pair["kappa"] == pytest.approx(expected)
    assert pair["low"] < pair["kappa"] < pair["high"] and pair["n"] == len(a)
    assert pair["agreement"] == pytest.approx(sum(x == y for x, y in zip(a, b, strict=True)) / len(a))
    assert entry["judges"] == ["A", "B"] and entry["aggregate"] == "mean"


def test_model_families_and_the_self_preference_warning() -> None:
    assert model_family("anthropic:claude-sonnet-4-5") == "anthropic"
    assert model_family("openai:gpt-4.1-mini") == "openai"
    assert model_family("openai-compatible:llama3@http://127.0.0.1:11434/v1") == "meta"
    assert model_family("claude-3-5-haiku") == "anthropic"
    assert model_family("offline") is None
    [warning] = self_preference_warnings(["anthropic:claude-x", "openai:gpt-4.1"], "claude-sonnet-4-5")
    assert warning.startswith("self-preference: the judge anthropic:claude-x is of the same model family (anthropic)")
    assert warning.endswith("e.g. --llm-gate-judge openai:gpt-4.1.")
    assert self_preference_warnings(["openai:gpt-4.1"], "claude-sonnet-4-5") == []
    assert self_preference_warnings(["anthropic:claude-x"], None) == []


N = 12
TEST_FILE = """
import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    number = int(case.id.split("-")[1])
    words = case.reference.split()
    llm_gate.output({"answer": " ".join(words[: 2 + number % len(words)])})
    llm_gate.judge("correctness")
"""
CORRECTNESS = """name: correctness
version: "1"
kind: pointwise
criteria: |
  5 when the answer states the same facts as the reference, 1 when it misses them.
"""


@pytest.fixture
def project(pytester: pytest.Pytester, fake_provider: FakeProvider) -> pytest.Pytester:
    lines = [
        json.dumps(
            {
                "id": f"j-{i}",
                "input": f"Crate {i}?",
                "reference": f"Crate {i} holds {i + 7} green apples packed on Monday.",
            }
        )
        for i in range(N)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


BASE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
JURY = ("--llm-gate-judge", "anthropic:claude-test", "--llm-gate-judge", "openai:gpt-test")


def _results(pytester: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def test_a_jury_of_two_providers(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    fake_provider.reset(FakeConfig(score_offset={"openai": -1}))  # the openai judge is one point stricter
    project.makeini("[pytest]\nllm_gate_sut_model = gpt-4.1\n")
    result = project.runpytest(*BASE, *JURY, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    paths = {seen.path for seen in fake_provider.requests}
    assert paths == {"/v1/messages", "/v1/chat/completions"}, "both SDKs were asked"
    assert fake_provider.request_count == 2 * N
    results = _results(project)
    case = results.suites["test_qa.py::test_qa"].cases["j-3"]
    [verdict] = case.judge
    assert [m.provider for m in verdict.jury or []] == ["anthropic:claude-test", "openai:gpt-test"]
    values = [m.value for m in verdict.jury or [] if m.value is not None]
    assert verdict.value == pytest.approx(sum(values) / 2) and case.metrics["judge:correctness"] == verdict.value
    assert results.suites["test_qa.py::test_qa"].fingerprints["judge"] == "anthropic:claude-test + openai:gpt-test"
    assert results.settings["judges"] == ["anthropic:claude-test", "openai:gpt-test"]

    [pair] = results.jury["correctness"]["pairs"]
    cases = results.suites["test_qa.py::test_qa"].cases.values()
    a = [round(1 + 4 * c.judge[0].jury[0].value) for c in cases]  # type: ignore[index, operator]
    b = [round(1 + 4 * c.judge[0].jury[1].value) for c in cases]  # type: ignore[index, operator]
    expected = cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert a != b and 0 < expected < 1, (a, b)
    assert pair["n"] == N and pair["kappa"] == pytest.approx(expected)
    assert pair["agreement"] == pytest.approx(sum(x == y for x, y in zip(a, b, strict=True)) / N)
    result.stdout.fnmatch_lines(
        [
            "*jury: inter-judge agreement*",
            f"*correctness (mean): anthropic:claude-test vs openai:gpt-test: kappa {expected:.2f} [[]*n=12*",
        ]
    )
    # The SUT is a GPT model: the openai judge is of its family, the anthropic one is not.
    result.stdout.fnmatch_lines(
        ["*warning: self-preference: the judge openai:gpt-test is of the same model family (openai)*"]
    )
    assert results.judge_warnings and "anthropic:claude-test" not in results.judge_warnings[0]
    html = (project.path / "reports/llm-gate.html").read_text(encoding="utf-8")
    assert 'data-role="judge-warning"' in html and 'data-role="jury"' in html
    assert "self-preference" in (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")

    rerun = project.runpytest(*BASE, *JURY)
    assert rerun.ret == 0, rerun.stdout.str()
    assert fake_provider.request_count == 2 * N, "each judge's answers are cached"


def test_a_jury_from_the_ini_aggregated_by_majority(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    project.makeini(
        "[pytest]\nllm_gate_judge =\n    anthropic:claude-test\n    openai:gpt-test\nllm_gate_jury_aggregate = majority\n"
    )
    result = project.runpytest(*BASE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    results = _results(project)
    assert results.jury["correctness"]["aggregate"] == "majority"
    assert "majority of 2 judges" in (results.suites["test_qa.py::test_qa"].cases["j-1"].judge[0].label or "")
    assert results.judge_warnings == []


def test_jury_settings_are_checked(project: pytest.Pytester) -> None:
    same = project.runpytest(*BASE, "--llm-gate-judge", "offline", "--llm-gate-judge", "offline")
    assert same.ret == pytest.ExitCode.USAGE_ERROR
    same.stderr.fnmatch_lines(
        ["*'--llm-gate-judge' names the same judge twice (offline, offline); give each judge once.*"]
    )
    project.makeini("[pytest]\nllm_gate_jury_aggregate = vote\n")
    bad = project.runpytest(*BASE)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*'llm_gate_jury_aggregate' must be 'mean' or 'majority' (got 'vote').*"])


def test_xdist_workers_give_the_jury_of_a_serial_run(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    project.makeini("[pytest]\n")
    serial = project.runpytest(*BASE, *JURY, "--llm-gate-update")
    assert serial.ret == 0, serial.stdout.str()
    expected = _results(project).jury
    parallel = project.runpytest_subprocess(*BASE, *JURY, "-n", "2")
    assert parallel.ret == 0, parallel.stdout.str()
    assert _results(project).jury == expected and expected["correctness"]["pairs"][0]["n"] == N


def test_the_rubric_says_how_its_jury_aggregates(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    project.makeini("[pytest]\nllm_gate_jury_aggregate = mean\n")
    (project.path / "rubrics/correctness.yaml").write_text(CORRECTNESS + "aggregate: majority\n", encoding="utf-8")
    result = project.runpytest(
        *BASE, "--llm-gate-judge", "offline", "--llm-gate-judge", "openai:gpt-test", "--llm-gate-update"
    )
    assert result.ret == 0, result.stdout.str()
    results = _results(project)
    assert results.jury["correctness"]["aggregate"] == "majority"
    verdict = results.suites["test_qa.py::test_qa"].cases["j-2"].judge[0]
    assert [m.provider for m in verdict.jury or []] == ["offline:overlap-v1", "openai:gpt-test"]
    assert "majority of 2 judges" in (verdict.label or "")
