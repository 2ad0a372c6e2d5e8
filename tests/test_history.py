"""`llmgate history` and drift: the accepted values of each primary metric read from git, in a
temporary repository with several commits; drift flagged in the history and in the gated run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_project import GATE, SUITE, accept, commit, git, make_project, write_conf

from pytest_llmgate.cli import main
from pytest_llmgate.gate.records import RunHistory, RunResults


@pytest.fixture
def drifted(pytester: pytest.Pytester) -> tuple[pytest.Pytester, list[str]]:
    """Four accepted values of `quality` (0.90, then three drops of 0.02), an unrelated commit between."""
    make_project(pytester)
    commits = [accept(pytester, 0.90, "first baseline")]
    commits.append(accept(pytester, 0.88, "prompt tweak"))
    (pytester.path / "notes.txt").write_text("unrelated\n", encoding="utf-8")
    commit(pytester.path, "docs only")
    commits.append(accept(pytester, 0.86, "cheaper model"))
    commits.append(accept(pytester, 0.84, "shorter context"))
    return pytester, commits


def history(root: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = runner.invoke(main, ["history", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_history_lists_every_accepted_value_with_its_commit(drifted: tuple[pytest.Pytester, list[str]]) -> None:
    project, commits = drifted
    code, out, _ = history(project.path, "--json")
    assert code == 0
    found = RunHistory.model_validate_json(out)
    assert found.commits == 4 and not found.shallow
    quality = next(m for m in found.metrics if m.metric == "quality")
    assert [p.commit for p in quality.points] == commits
    assert [p.value for p in quality.points] == [0.9, 0.88, 0.86, 0.84]
    assert [p.change for p in quality.points] == [None, -0.02, -0.02, -0.02]
    assert [p.subject for p in quality.points] == ["first baseline", "prompt tweak", "cheaper model", "shorter context"]
    assert {p.author for p in quality.points} == {"Ada Lovelace <ada@example.com>"}
    dates = [git(project.path, "log", "-1", "--format=%aI", sha) for sha in commits]
    assert [p.date for p in quality.points] == dates
    assert quality.reference == commits[0] and quality.cumulative == pytest.approx(-0.06) and quality.updates == 3
    # checks_passed is primary and never moved; only primary metrics are listed by default.
    assert {m.metric for m in found.metrics} == {"checks_passed", "quality"}
    # The terminal table: every value with its commit, and the drift line.
    code, out, _ = history(project.path)
    assert code == 0
    for sha, value in zip(commits, ("0.900", "0.880", "0.860", "0.840"), strict=True):
        assert any(sha[:7] in line and value in line for line in out.splitlines()), out
    assert f"DRIFT: {SUITE}: quality fell 0.060 over 3 accepted updates since {commits[0][:7]}; tolerance 0.03" in out


def test_three_accepted_drops_within_tolerance_are_drift(drifted: tuple[pytest.Pytester, list[str]]) -> None:
    project, commits = drifted
    code, out, _ = history(project.path, "--json")
    found = RunHistory.model_validate_json(out)
    assert [(d.metric, d.drop, d.updates, d.since) for d in found.drift] == [("quality", 0.06, 3, commits[0][:7])]
    code, _, _ = history(project.path, "--fail-drift")
    assert code == 1
    # Measured from the second accepted value, two drops of 0.02 add up to 0.04: still drift;
    # from the third, one drop of 0.02 is within the tolerance.
    code, out, _ = history(project.path, "--json", "--since", commits[1])
    assert [d.drop for d in RunHistory.model_validate_json(out).drift] == [0.04]
    code, out, _ = history(project.path, "--json", "--since", commits[2], "--fail-drift")
    assert code == 0 and RunHistory.model_validate_json(out).drift == []
    code, _, err = history(project.path, "--since", "no-such-rev")
    assert code == 4 and "no-such-rev" in err and "no such commit" in err


def test_the_gated_run_warns_on_drift_and_fails_with_the_setting(
    drifted: tuple[pytest.Pytester, list[str]],
) -> None:
    project, commits = drifted
    line = f"{SUITE}: quality fell 0.060 over 3 accepted updates since {commits[0][:7]}; tolerance 0.03"
    warned = project.runpytest(*GATE)
    assert warned.ret == 0, warned.stdout.str()
    warned.stdout.fnmatch_lines([f"drift: {line}", "LLM gate: PASS"])
    markdown = (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")
    assert "**Drift:**" in markdown and "quality fell 0.060 over 3 accepted updates" in markdown
    assert "**Accepted history**" in markdown
    results = RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    assert results.history is not None and [d.metric for d in results.history.drift] == ["quality"]

    failed = project.runpytest(*GATE, "--llm-gate-fail-drift")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["LLM gate: FAIL", "*DRIFT: quality fell 0.060 over 3 accepted updates*"])
    project.makeini("[pytest]\nllm_gate_fail_drift = true\n")
    assert project.runpytest(*GATE).ret == pytest.ExitCode.TESTS_FAILED
    # Moving the reference forward (after review) clears it.
    moved = project.runpytest(*GATE, "--llm-gate-drift-since", commits[2])
    assert moved.ret == 0, moved.stdout.str()
    assert "fell" not in moved.stdout.str()


def test_an_uncommitted_update_is_the_last_point(drifted: tuple[pytest.Pytester, list[str]]) -> None:
    project, _ = drifted
    write_conf(project.path, 0.83)
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    code, out, _ = history(project.path, "--json")
    quality = next(m for m in RunHistory.model_validate_json(out).metrics if m.metric == "quality")
    assert quality.points[-1].commit == "uncommitted" and quality.points[-1].value == 0.83


def test_a_shallow_clone_says_how_much_history_it_saw(
    drifted: tuple[pytest.Pytester, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    project, commits = drifted
    clone = tmp_path_factory.mktemp("shallow") / "repo"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{project.path}", str(clone)], check=True, capture_output=True
    )
    code, out, _ = history(clone)
    assert code == 0
    assert "shallow clone: the history seen starts at" in out and "(1 commit changed baselines)" in out
    assert "`actions/checkout` and `fetch-depth: 0`" in out and "git fetch --unshallow" in out
    code, out, _ = history(clone, "--json")
    found = RunHistory.model_validate_json(out)
    assert found.shallow and found.commits == 1
    assert [p.commit for p in next(m for m in found.metrics if m.metric == "quality").points] == [commits[-1]]


def test_outside_git_it_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "baselines").mkdir()
    code, out, err = history(tmp_path)
    assert code == 4 and out == ""
    assert f"{tmp_path} is not inside a git repository" in err


def test_a_gated_run_outside_git_has_no_history(pytester: pytest.Pytester) -> None:
    make_project(pytester, repo=False)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    result = pytester.runpytest(*GATE, "--llm-gate-fail-drift")
    assert result.ret == 0, result.stdout.str()
    results = json.loads((pytester.path / "reports/llm-gate.json").read_text(encoding="utf-8"))
    assert results["history"] is None
