"""repeat=K in real sessions: a SUT with planted nondeterminism gives pass@k, pass^k and the flaky
cases (checked against scipy's binomial coefficients on the runs' own records), the case stays the
gate's unit, the baseline records K, and the judge cache sees K outputs as K calls only when they differ."""

from __future__ import annotations

import json

import pytest
from fake_provider import FakeProvider
from scipy.special import comb
from sut_project import N_CASES, make_sut_project

from pytest_llmgate.gate.records import RunResults

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
SUITE = "test_qa.py::test_qa"
K = 4


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider) -> pytest.Pytester:
    for name in ("GATE_MODE", "SUT_RAISE", "SUT_SLOW", "SUT_UNIQUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUT_STYLE", "async")
    monkeypatch.setenv("SUT_FLAKY", "0.5")
    monkeypatch.setenv("SUT_REPEAT", str(K))
    monkeypatch.setenv("FAKE_SUT_URL", fake_provider.url)
    make_sut_project(pytester)
    return pytester


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def _expected(results: RunResults, k: int) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """pass@j, pass^j (j = 1..k) and the flaky ids, from each run's own pass/fail, by the textbook formulas."""
    at: dict[str, float] = {}
    hat: dict[str, float] = {}
    cases = results.suites[SUITE].cases
    outcomes = {cid: [run.passed for run in case.repeats] for cid, case in cases.items()}
    for j in range(1, k + 1):
        at[str(j)] = sum(1 - comb(k - sum(o), j) / comb(k, j) for o in outcomes.values()) / len(outcomes)
        hat[str(j)] = sum(comb(sum(o), j) / comb(k, j) for o in outcomes.values()) / len(outcomes)
    flaky = sorted(cid for cid, o in outcomes.items() if any(o) and not all(o))
    return at, hat, flaky


def test_repeats_give_pass_at_k_pass_hat_k_and_the_flaky_cases(
    project: pytest.Pytester, fake_provider: FakeProvider
) -> None:
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    assert fake_provider.count(200) == K * N_CASES
    results = _results(project)
    suite = results.suites[SUITE]
    assert suite.repeat == K and all(len(case.repeats) == K for case in suite.cases.values())
    stats = suite.repeat_stats
    assert stats is not None and stats.k == K and stats.cases == N_CASES
    at, hat, flaky = _expected(results, K)
    assert stats.pass_at_k["checks_passed"] == pytest.approx(at, abs=1e-6)
    assert stats.pass_hat_k["checks_passed"] == pytest.approx(hat, abs=1e-6)
    assert sorted(stats.flaky["checks_passed"]) == flaky
    # Only every third case is nondeterministic; q-7 always fails, so it is never flaky.
    assert flaky and all(int(cid.split("-")[1]) % 3 == 0 for cid in flaky)
    assert stats.pass_at_k["checks_passed"][str(K)] > stats.pass_at_k["checks_passed"]["1"]
    assert stats.pass_hat_k["checks_passed"][str(K)] < stats.pass_hat_k["checks_passed"]["1"]
    # The case is the unit: its metric is the mean over its runs; pass rates are gated as scores.
    for case in suite.cases.values():
        assert case.metrics["checks_passed"] == pytest.approx(sum(r.passed for r in case.repeats) / K)
        assert case.passed == all(r.passed for r in case.repeats)
        mean_words = sum(r.metrics["answer_words"] for r in case.repeats) / K
        assert case.metrics["answer_words"] == pytest.approx(mean_words)
    assert suite.metrics["checks_passed"].kind == "continuous" and suite.repeat_binary == ["checks_passed"]
    variance = stats.within_variance["checks_passed"]
    assert 0 < variance < 0.5
    # Shown in the terminal, the markdown summary and the HTML report; K in the baseline.
    result.stdout.fnmatch_lines(
        [
            f"*repeats: every case run {K} times ({N_CASES} cases)*",
            f"*checks_passed*{at['1']:.3f}*{at[str(K)]:.3f}*{hat[str(K)]:.3f}*",
            f"*{len(flaky)} flaky case*(checks differ across runs): {', '.join(flaky[:3])}*",
        ]
    )
    markdown = (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")
    assert f"| pass@1 | pass@{K} | pass^{K} |" in markdown and f"**Flaky ({len(flaky)}):**" in markdown
    html = (project.path / "reports/llm-gate.html").read_text(encoding="utf-8")
    assert f"Repeats: every case run {K} times" in html and "Flaky cases (checks differ across runs)" in html
    baseline = json.loads((project.path / "baselines/test_qa/test_qa.json").read_text(encoding="utf-8"))
    assert baseline["repeat"] == K

    gated = project.runpytest(*GATE)
    assert gated.ret == 0, gated.stdout.str()


def test_the_repeat_flag_wins_over_the_marker(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    result = project.runpytest(*GATE, "--llm-gate-update", "--llm-gate-repeat", "2")
    assert result.ret == 0
    assert _results(project).suites[SUITE].repeat == 2
    assert fake_provider.count(200) == 2 * N_CASES
    assert _results(project).settings["repeat"] == 2


def test_repeats_work_for_the_in_body_style(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUT_STYLE", "inbody")
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0
    suite = _results(project).suites[SUITE]
    assert all(len(case.repeats) == K for case in suite.cases.values())
    at, _, flaky = _expected(_results(project), K)
    assert suite.repeat_stats is not None and suite.repeat_stats.pass_at_k["checks_passed"] == pytest.approx(at)
    assert flaky == suite.repeat_stats.flaky["checks_passed"]


@pytest.mark.parametrize("unique, calls_per_case", [(False, 1), (True, 3)], ids=["identical", "different"])
def test_judge_cache_one_call_per_distinct_output(
    project: pytest.Pytester,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    unique: bool,
    calls_per_case: int,
) -> None:
    monkeypatch.setenv("SUT_FLAKY", "0")
    monkeypatch.setenv("SUT_REPEAT", "3")
    if unique:
        monkeypatch.setenv("SUT_UNIQUE", "1")
    result = project.runpytest(*GATE, "--llm-gate-update", "--llm-gate-judge", "openai:gpt-test")
    assert result.ret == 0, result.stdout.str()
    judge_calls = sum(seen.path.endswith("/chat/completions") for seen in fake_provider.requests)
    assert judge_calls == calls_per_case * N_CASES
    case = _results(project).suites[SUITE].cases["q-1"]
    assert all(len(run.judge) == 1 and run.judge[0].error is None for run in case.repeats)
    values = [run.metrics["judge:correctness"] for run in case.repeats]
    assert case.metrics["judge:correctness"] == pytest.approx(sum(values) / 3)
