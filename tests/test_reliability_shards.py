"""A shard writes only its own results file and gates nothing; a replay miss names its remedy."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from gate_project import make_project

from pytest_llmgate.cli import main

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester, 40)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    shutil.rmtree(pytester.path / "reports")
    return pytester


def test_a_shard_writes_only_its_results_file_and_gates_nothing(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    summary = tmp_path_factory.mktemp("ci") / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    for index in (1, 2):
        result = project.runpytest(*GATE, "--llm-gate-shard", f"{index}/2")
        assert result.ret == 0, result.stdout.str()
        out = result.stdout.str()
        assert f"shard {index}/2: partial run, merge with `llmgate merge` to gate" in out
        assert f"LLM gate: partial run (shard {index}/2)" in out
        assert "dropped" not in out and "LLM gate: FAIL" not in out and "LLM gate: PASS" not in out
    written = sorted(p.name for p in (project.path / "reports").iterdir())
    assert written == ["llm-gate.shard-1-of-2.json", "llm-gate.shard-2-of-2.json"]
    assert not summary.exists(), "a shard appends nothing to the step summary"
    shards = [str(project.path / "reports" / name) for name in written]
    outcome = CliRunner().invoke(
        main, ["merge", *shards, "-o", str(project.path / "merged.json"), "--html", str(project.path / "merged.html")]
    )
    assert outcome.exit_code == 1 and "LLM gate: FAIL" in outcome.output
    assert "dropped beyond their tolerance" in outcome.output


def test_an_explicit_results_path_is_kept_for_a_shard(project: pytest.Pytester) -> None:
    target = project.path / "out" / "mine.json"
    assert project.runpytest(*GATE, "--llm-gate-shard", "1/3", "--llm-gate-results", str(target)).ret == 0
    assert json.loads(target.read_text(encoding="utf-8"))["settings"]["shard"] == "1/3"
    assert not (project.path / "reports").exists()
