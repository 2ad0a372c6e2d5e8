"""Real pytest sessions: a slice regression hidden in the overall mean, primary metrics,
clusters from the golden set, and INCONCLUSIVE with and without --llm-gate-fail-inconclusive."""

from __future__ import annotations

import json

import pytest

from pytest_llmgate.gate.records import RunResults

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")

TEST_FILE = """
import os

import pytest

BROKEN = os.environ.get("BROKEN") == "1"
SLICES = ["ticket"] if os.environ.get("GATED") == "1" else None


@pytest.mark.golden("datasets/t.jsonl", primary=["quality"], slices=SLICES)
def test_t(case, llm_gate):
    number = int(case.id.split("-")[1])
    quality = 0.5 + (number % 5) / 10
    if BROKEN:
        # The guardrail breaks the ticket cases; everything else gets a little better, so the
        # overall mean does not move.
        quality += -0.5 if "ticket" in case.tags else 0.1
    llm_gate.output({"answer": case.reference})
    llm_gate.score("quality", quality)
    llm_gate.score("latency_ms", 100 + number, higher_is_better=False)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("BROKEN", raising=False)
    monkeypatch.delenv("GATED", raising=False)
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps(
            {
                "id": f"c-{i}",
                "input": f"question {i}",
                "reference": f"answer {i}",
                "tags": ["ticket"] if i < 20 else ["faq"],
                "cluster": f"doc-{i // 2}",
            }
        )
        for i in range(120)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets" / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pytester.makepyfile(test_t=TEST_FILE)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    return pytester


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def test_unchanged_run_passes_with_primary_and_secondary_metrics(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["quality ↑*PASS*", "*secondary metrics (reported, not gated):*", "latency_ms ↓*PASS*", "LLM gate: PASS"]
    )
    verdicts = {m.metric: m for m in _results(project).verdicts[0].metrics}
    assert verdicts["quality"].primary and not verdicts["latency_ms"].primary
    assert verdicts["checks_passed"].primary is False  # primary= names only quality
    assert verdicts["quality"].clusters == 60  # 120 cases in clusters of 2 from the golden set


def test_slice_regression_hidden_in_the_mean_shows_in_the_slice_table(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKEN", "1")
    result = project.runpytest(*GATE)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "LLM gate: FAIL" not in out
    result.stdout.fnmatch_lines(["quality ↑*+0.000*", "*slices (2 tags*", "*ticket*quality ↑*-0.500*FAIL*"])
    results = _results(project)
    overall = results.verdicts[0].metrics[0]
    assert overall.metric == "quality" and overall.status != "fail"
    ticket = next(s for s in results.verdicts[0].slices if s.tag == "ticket")
    assert not ticket.gated and ticket.metrics[0].status == "fail" and ticket.n_cases == 20
    markdown = (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")
    assert "| ticket | quality | 20 |" in markdown
    html = (project.path / "reports/llm-gate.html").read_text(encoding="utf-8")
    assert "Slices: the primary metrics over the cases of each tag" in html


def test_gated_slice_regression_fails_the_run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATED", "1")
    assert project.runpytest(*GATE).ret == 0
    monkeypatch.setenv("BROKEN", "1")
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "LLM gate: FAIL",
            "*test_t.py::test_t ?slice ticket?: 1 metric(s) dropped beyond their tolerance*quality -0.500*",
        ]
    )


def test_inconclusive_exits_0_unless_asked_to_fail(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKEN", "1")
    result = project.runpytest(*GATE)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["LLM gate: INCONCLUSIVE", "*1 primary metric(s) inconclusive*quality*", "*llmgate plan*"]
    )
    strict = project.runpytest(*GATE, "--llm-gate-fail-inconclusive")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    project.makeini("[pytest]\nllm_gate_fail_inconclusive = true\n")
    assert project.runpytest(*GATE).ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ('primary="quality"', "'primary' must be a non-empty list of metric names"),
        (
            'slices={"ticket": {"tolerence": 0.1}}',
            "slice 'ticket' takes only 'tolerance', 'alpha' and 'max_newly_failing'",
        ),
        ("slices=[3]", "'slices' keys must be tags as strings (got 3)"),
    ],
)
def test_bad_marker_values_are_usage_errors_at_collection(pytester: pytest.Pytester, kwargs: str, message: str) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets" / "t.jsonl").write_text('{"id": "c-1", "input": "q"}\n', encoding="utf-8")
    pytester.makepyfile(
        test_bad=f"""
import pytest

@pytest.mark.golden("datasets/t.jsonl", {kwargs})
def test_t(case, llm_gate):
    llm_gate.score("quality", 1.0)
"""
    )
    result = pytester.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"test_bad.py:3: @pytest.mark.golden: {message}" in result.stderr.str()
