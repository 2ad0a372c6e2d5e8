"""Small things a new user trips on: `rubrics copy` names the remedy the gate gives, the first
update does not call its own baseline missing nor every failing case newly failing, `llmgate
merge --markdown`, and `llmgate plan` keeps both ends of a long name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from gate_project import TEST_FILE, make_project

from pytest_llmgate.cli import main
from pytest_llmgate.gate.plan import short_name

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")


def test_rubrics_copy_names_the_rejudge_remedy(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rubrics", "copy", "llmgate:correctness", "--to", str(tmp_path / "rubrics")])
    assert result.exit_code == 0, result.output
    assert "--llm-gate-rejudge-baseline" in result.output
    assert "--llm-gate-update" not in result.output


def test_the_first_update_is_not_a_list_of_problems(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_MODE", "broken-checks")  # q-0, q-3, q-6, q-7 fail their checks
    make_project(pytester, 10)
    result = pytester.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    assert "✗" not in out, out
    assert "newly failing" not in out, out
    assert "test_qa.py::test_qa: no previous baseline: this update creates it." in out
    assert "LLM gate: PASS" in out


def test_merge_writes_the_markdown_summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester, 10)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    assert pytester.runpytest(*GATE).ret == 0
    monkeypatch.chdir(pytester.path)
    result = CliRunner().invoke(
        main,
        [
            "merge",
            "reports/llm-gate.json",
            "-o",
            "out/merged.json",
            "--html",
            "out/merged.html",
            "--markdown",
            "out/m.md",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote out/m.md" in result.output
    text = (pytester.path / "out/m.md").read_text(encoding="utf-8")
    assert "LLM gate: PASS" in text and "recall@5" in text
    assert "(merged.html)" in text  # the link is relative to the markdown file


def test_plan_keeps_both_ends_of_a_long_suite_name(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester, 30)
    (pytester.path / "test_qa.py").unlink()
    folder = pytester.path / "tests/evaluations"
    folder.mkdir(parents=True)
    (folder / "test_question_answering_quality.py").write_text(TEST_FILE, encoding="utf-8")
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    assert pytester.runpytest(*GATE).ret == 0
    result = CliRunner().invoke(main, ["plan", str(pytester.path / "reports/llm-gate.json"), "--drop", "0.1"])
    assert result.exit_code == 0, result.output
    suite = "tests/evaluations/test_question_answering_quality.py::test_qa"
    shown = short_name(suite, 30)
    assert len(shown) == 30 and shown.startswith("tests/eval") and shown.endswith("ity.py::test_qa")
    assert any(line.startswith(shown) for line in result.output.splitlines()), result.output
    assert short_name("checks_passed", 22) == "checks_passed"
