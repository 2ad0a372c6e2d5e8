"""Changing the judge without losing the baseline: `--llm-gate-rejudge-baseline` judges the
baseline's stored outputs with the new judge, so old and new outputs are compared paired,
under one judge; the judge's fingerprint is its identity, not an OpenAI-compatible server's URL."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeProvider
from test_plugin_judge import CORRECTNESS, N_CASES, make_project

from pytest_llmgate.gate.records import RunResults

SUITE = "test_qa.py::test_qa"
BASE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
# The same rubric on a finer scale: another rubric version, whose scores are not comparable.
CORRECTNESS_10 = CORRECTNESS.replace("scale: {min: 1, max: 5}", "scale: {min: 1, max: 10}").replace("5 when", "10 when")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "worse")
    return make_project(pytester)


def judge(spec: str) -> tuple[str, ...]:
    return (*BASE, "--llm-gate-judge", spec)


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def _baseline(project: pytest.Pytester) -> dict:
    return json.loads((project.path / "baselines/test_qa/test_qa.json").read_text(encoding="utf-8"))


def _metric(results: RunResults, name: str):
    verdict = next(v for v in results.verdicts if v.suite == SUITE)
    return next(m for m in verdict.metrics if m.metric == name)


def test_a_judge_change_with_rejudge_gives_a_paired_verdict(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert project.runpytest(*judge("openai:gpt-old"), "--llm-gate-update").ret == 0
    old_values = {cid: c["metrics"]["judge:correctness"] for cid, c in _baseline(project)["cases"].items()}
    # A new judge model and a new version of the rubric (1-10 instead of 1-5).
    (project.path / "rubrics/correctness.yaml").write_text(CORRECTNESS_10, encoding="utf-8")
    new = judge("openai:gpt-new")

    refused = project.runpytest(*new)
    assert refused.ret == pytest.ExitCode.TESTS_FAILED
    refused.stdout.fnmatch_lines(
        [
            "*fingerprint 'judge' changed (baseline openai:gpt-old, now openai:gpt-new): scores are not "
            "comparable. Re-run with --llm-gate-rejudge-baseline*",
            "*fingerprint 'rubric:correctness' changed*--llm-gate-rejudge-baseline*",
            # The rubric's new text is also a loosening the update must accept (issue 22).
            "*LOOSENED: rubric 'correctness' text changed for test_qa.py::test_qa*",
        ]
    )

    # Same outputs as the baseline's, re-judged by the same judge: a difference of exactly 0, paired on every case.
    before = fake_provider.request_count
    same = project.runpytest(*new, "--llm-gate-rejudge-baseline")
    # Comparable now; what is left is the rubric's new text, which the update must accept (issue 22).
    assert same.ret == pytest.ExitCode.TESTS_FAILED, same.stdout.str()
    assert [r.text.split(" (")[0] for r in _results(project).gate.reasons] == [
        f"LOOSENED: rubric 'correctness' text changed for {SUITE}"
    ]
    results = _results(project)
    correctness = _metric(results, "judge:correctness")
    assert correctness.n_paired == N_CASES and correctness.diff == 0 and correctness.status != "fail"
    assert not next(v for v in results.verdicts if v.suite == SUITE).problems
    rejudged = results.baselines[SUITE]
    assert rejudged is not None and rejudged.fingerprints["judge"] == "openai:gpt-new"
    now = {cid: c.metrics["judge:correctness"] for cid, c in results.suites[SUITE].cases.items()}
    assert {cid: c.metrics["judge:correctness"] for cid, c in rejudged.cases.items()} == pytest.approx(now)
    assert now != pytest.approx(old_values)  # the new scale really scored differently
    assert "baseline re-judged with openai:gpt-new" in results.rejudged[SUITE]
    same.stdout.fnmatch_lines(["*test_qa.py::test_qa: baseline re-judged with openai:gpt-new*24 value(s)*"])
    # Re-judging is cached like any call: the baseline's outputs are this run's, which the refused
    # run above already judged with the new judge, so no call was made.
    assert fake_provider.request_count == before
    assert _baseline(project)["fingerprints"]["judge"] == "openai:gpt-old", "re-judging writes no file"

    # Better outputs now, compared with the re-judged baseline: a paired, significant improvement.
    monkeypatch.setenv("GATE_MODE", "good")
    better = project.runpytest(*new, "--llm-gate-rejudge-baseline")
    assert better.ret == pytest.ExitCode.TESTS_FAILED
    assert all(r.text.startswith("LOOSENED: rubric") for r in _results(project).gate.reasons if r.blocking)
    improved = _metric(_results(project), "judge:correctness")
    assert improved.n_paired == N_CASES and improved.status == "improved" and improved.diff > 0

    # The update that follows records the new judge's values; then the plain gate passes.
    assert project.runpytest(*new, "--llm-gate-update", "--llm-gate-rejudge-baseline").ret == 0
    baseline = _baseline(project)
    assert baseline["fingerprints"]["judge"] == "openai:gpt-new"
    assert {cid: c["metrics"]["judge:correctness"] for cid, c in baseline["cases"].items()} == {
        cid: c.metrics["judge:correctness"] for cid, c in _results(project).suites[SUITE].cases.items()
    }
    plain = project.runpytest(*new)
    assert plain.ret == 0, plain.stdout.str()


def test_rejudge_under_xdist_matches_serial(project: pytest.Pytester) -> None:
    assert project.runpytest(*judge("openai:gpt-old"), "--llm-gate-update").ret == 0
    (project.path / "rubrics/correctness.yaml").write_text(CORRECTNESS_10, encoding="utf-8")
    args = (*judge("openai:gpt-new"), "--llm-gate-rejudge-baseline")
    serial = project.runpytest(*args)
    serial_results = _results(project)
    parallel = project.runpytest_subprocess(*args, "-n", "2")
    parallel_results = _results(project)
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED  # the rubric's new text awaits an update
    assert parallel_results.verdicts == serial_results.verdicts
    assert parallel_results.baselines == serial_results.baselines


def test_without_a_judge_change_the_flag_says_nothing_was_rejudged(project: pytest.Pytester) -> None:
    assert project.runpytest(*judge("openai:gpt-old"), "--llm-gate-update").ret == 0
    result = project.runpytest(*judge("openai:gpt-old"), "--llm-gate-rejudge-baseline")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--llm-gate-rejudge-baseline: every baseline was judged by this run's judge*"])
    assert _results(project).rejudged == {}


def test_the_judge_fingerprint_ignores_the_servers_host_and_port(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    first = f"openai-compatible:llama3@{fake_provider.url}/v1"
    assert project.runpytest(*judge(first), "--llm-gate-update").ret == 0
    assert _baseline(project)["fingerprints"]["judge"] == "openai-compatible:llama3"

    moved = FakeProvider().start()  # the same model served on another port
    try:
        second = f"openai-compatible:llama3@{moved.url.replace('127.0.0.1', 'localhost')}/v1"
        result = project.runpytest(*judge(second))
        assert result.ret == 0, result.stdout.str()
        assert moved.request_count == 0, "the cache key names the model, not the server's URL"
        results = _results(project)
        assert results.judge_provider == "openai-compatible:llama3"
        assert results.judge_stats["correctness"].cache_hits == N_CASES
    finally:
        moved.stop()

    # An older baseline that recorded the URL is accepted when provider and model match, and says so.
    data = _baseline(project)
    data["fingerprints"]["judge"] = "openai-compatible:llama3@http://127.0.0.1:9/v1"
    (project.path / "baselines/test_qa/test_qa.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    old = project.runpytest(*judge(first))
    assert old.ret == 0, old.stdout.str()
    old.stdout.fnmatch_lines(
        [
            "*the baseline's judge fingerprint 'openai-compatible:llama3@http://127.0.0.1:9/v1' includes a "
            "server URL; accepted as 'openai-compatible:llama3'*"
        ]
    )
    # Another model behind the same URL is a different judge.
    data["fingerprints"]["judge"] = f"openai-compatible:mistral@{fake_provider.url}/v1"
    (project.path / "baselines/test_qa/test_qa.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    other = project.runpytest(*judge(first))
    assert other.ret == pytest.ExitCode.TESTS_FAILED
    other.stdout.fnmatch_lines(["*fingerprint 'judge' changed*--llm-gate-rejudge-baseline*"])


def test_an_update_of_some_cases_keeps_no_value_of_the_old_judge(project: pytest.Pytester) -> None:
    assert project.runpytest(*judge("openai:gpt-old"), "--llm-gate-update").ret == 0
    (project.path / "rubrics/correctness.yaml").write_text(CORRECTNESS_10, encoding="utf-8")
    result = project.runpytest(
        *judge("openai:gpt-new"), "--llm-gate-update", "--llm-gate-rejudge-baseline", "-k", "j-3 or j-4"
    )
    assert result.ret == 0, result.stdout.str()
    baseline = _baseline(project)
    assert baseline["fingerprints"]["judge"] == "openai:gpt-new" and len(baseline["cases"]) == N_CASES
    judged = {cid for cid, case in baseline["cases"].items() if "judge:correctness" in case["metrics"]}
    assert judged == {"j-3", "j-4"}  # the deselected cases kept their other values, not the old judge's
    assert all("checks_passed" in case["metrics"] for case in baseline["cases"].values())
