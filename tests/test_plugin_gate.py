"""Real pytest sessions of a small project through the gate: baseline, pass, regression, update."""

from __future__ import annotations

import json

import pytest
from gate_project import make_project, write_dataset

from pytest_llmgate._files import dumps
from pytest_llmgate.gate.records import RunResults
from pytest_llmgate.gate.verdict import evaluate

BASELINE = "baselines/test_qa/test_qa.json"
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester)
    return pytester


def _update(project: pytest.Pytester) -> pytest.RunResult:
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    return result


def test_missing_baseline_fails_with_the_remedy(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*no baseline for this suite at baselines/test_qa/test_qa.json*--llm-gate-update*",
            "LLM gate: FAIL",
        ]
    )


def test_update_writes_a_deterministic_baseline_and_the_next_run_passes(project: pytest.Pytester) -> None:
    _update(project)
    first = (project.path / BASELINE).read_text(encoding="utf-8")
    data = json.loads(first)
    assert data["format_version"] == 1
    assert list(data["cases"]) == sorted(data["cases"])
    assert data["cases"]["q-7"]["passed"] is False
    assert data["aggregates"]["recall@5"] == {"mean": 1.0, "n": 40.0}
    assert first.endswith("}\n") and first == json.dumps(data, sort_keys=True, indent=2) + "\n"
    _update(project)
    assert (project.path / BASELINE).read_text(encoding="utf-8") == first
    result = project.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()
    # Nothing changed: every metric is shown non-inferior, whatever the set's size.
    result.stdout.fnmatch_lines(["*known failing (failed in the baseline too): q-7*", "LLM gate: PASS"])
    result.stdout.fnmatch_lines(["*39 passed, 1 check failed*"])
    # A looser tolerance than the baseline was accepted under is a loosening: it needs an update.
    loose = project.runpytest(*GATE, "--llm-gate-tolerance", "0.2")
    assert loose.ret == pytest.ExitCode.TESTS_FAILED
    loose.stdout.fnmatch_lines(["LLM gate: FAIL", "*LOOSENED: tolerance 0.03 -> 0.2 for test_qa.py::test_qa*"])


def test_planted_regression_fails_naming_metrics_and_cases(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _update(project)
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "LLM gate: FAIL" in out
    assert "test_qa.py::test_qa: 7 metric(s) dropped beyond their tolerance, significantly" in out
    assert "recall@1 -0.500 (p=1.3e-06)" in out and "mrr -0.400" in out
    assert "recall@5 -" not in out  # the relevant id is still within the top 5
    results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text())
    statuses = {m.metric: m.status for m in results.verdicts[0].metrics}
    assert statuses["recall@1"] == "fail" and statuses["recall@5"] == "pass"
    assert "re-run with --llm-gate-update" in (results.gate.remedy or "").lower()


def test_newly_failing_cases_are_listed_and_strict_mode_fails_on_them(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _update(project)
    monkeypatch.setenv("GATE_MODE", "broken-checks")
    lenient = project.runpytest(*GATE)
    lenient.stdout.fnmatch_lines(["*14 newly failing cases*", "*q-0  AssertionError: case q-0 failed its check*"])
    strict = project.runpytest(*GATE, "--llm-gate-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*14 newly failing case(s) in strict mode: q-0, q-12*"])


def test_changed_dataset_is_a_fingerprint_mismatch_with_the_remedy(project: pytest.Pytester) -> None:
    _update(project)
    write_dataset(project, 40, extra=1)
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*fingerprint 'dataset' changed*Re-run with --llm-gate-update*"])


def test_update_prunes_cases_removed_from_the_dataset(project: pytest.Pytester) -> None:
    _update(project)
    write_dataset(project, 30)
    _update(project)
    data = json.loads((project.path / BASELINE).read_text(encoding="utf-8"))
    assert len(data["cases"]) == 30 and "q-35" not in data["cases"]


def test_deselected_cases_stay_in_the_baseline_on_update(project: pytest.Pytester) -> None:
    _update(project)
    project.runpytest(*GATE, "--llm-gate-update", "-k", "q-1]")
    data = json.loads((project.path / BASELINE).read_text(encoding="utf-8"))
    assert len(data["cases"]) == 40


def test_results_file_recomputes_the_same_verdict(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _update(project)
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    project.runpytest(*GATE)
    results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text())
    again = evaluate(results)
    assert again.gate == results.gate
    assert again.verdicts == results.verdicts


def test_marker_tolerance_makes_a_small_drop_acceptable(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _update(project)
    source = (project.path / "test_qa.py").read_text()
    project.makepyfile(
        test_qa=source.replace(
            '@pytest.mark.golden("datasets/qa.jsonl")', '@pytest.mark.golden("datasets/qa.jsonl", tolerance=0.6)'
        )
    )
    _update(project)  # the looser tolerance is accepted in the baseline, where the diff shows it
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    result = project.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()


def test_broken_baseline_file_says_regenerate(project: pytest.Pytester) -> None:
    _update(project)
    path = project.path / BASELINE
    data = json.loads(path.read_text())
    data["format_version"] = 0
    path.write_text(json.dumps(data))
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*baseline format version 0, this plugin writes 1. Regenerate it*"])


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "input": "x"', "datasets/qa.jsonl:1:*"),
        ('{"id": "a"}', "datasets/qa.jsonl:1: *'input'*"),
    ],
)
def test_bad_golden_set_is_one_usage_error(project: pytest.Pytester, line: str, message: str) -> None:
    (project.path / "datasets/qa.jsonl").write_text(line + "\n", encoding="utf-8")
    result = project.runpytest(*GATE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    output = result.stdout.str() + result.stderr.str()
    assert output.count("datasets/qa.jsonl:1") == 1, output
    assert "Traceback" not in output and "During handling" not in output
    assert not (project.path / "reports").exists()


def test_xdist_gives_the_same_verdict_as_a_serial_run(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _update(project)
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    serial = project.runpytest_subprocess(*GATE)
    serial_results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text())
    parallel = project.runpytest_subprocess(*GATE, "-n", "2")
    parallel_results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text())
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    assert parallel_results.verdicts == serial_results.verdicts
    assert parallel_results.gate == serial_results.gate
    parallel.stdout.fnmatch_lines(["LLM gate: FAIL"])


def test_shards_merged_gate_like_one_run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from pytest_llmgate.cli import main

    _update(project)
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    whole = project.runpytest(*GATE)
    assert whole.ret == pytest.ExitCode.TESTS_FAILED
    full = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text())
    shard_files = []
    for index in (1, 2):
        target = project.path / f"shard-{index}.json"
        shard = project.runpytest(*GATE, "--llm-gate-shard", f"{index}/2", "--llm-gate-results", str(target))
        assert shard.ret == 0, "a shard alone is partial and does not gate"
        shard.stdout.fnmatch_lines([f"*shard {index}/2: partial run, merge with `llmgate merge`*"])
        shard_files.append(str(target))
    merged_path = project.path / "merged.json"
    outcome = CliRunner().invoke(
        main, ["merge", *shard_files, "-o", str(merged_path), "--html", str(project.path / "merged.html")]
    )
    assert outcome.exit_code == 1, outcome.output
    assert "LLM gate: FAIL" in outcome.output
    merged = RunResults.model_validate_json(merged_path.read_text())
    # Written a case at a time, the file is the deterministic JSON of the whole record.
    assert merged_path.read_text(encoding="utf-8") == dumps(merged.model_dump(mode="json"), compact=True)
    assert merged.gate.status == full.gate.status
    assert [m.model_dump(exclude={"reason"}) for v in merged.verdicts for m in v.metrics] == [
        m.model_dump(exclude={"reason"}) for v in full.verdicts for m in v.metrics
    ]
