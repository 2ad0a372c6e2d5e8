"""The loosening guard: a run whose gate settings are looser than its baseline was accepted under
fails with a LOOSENED reason per loosening, until `--llm-gate-update` records the new settings;
tightening passes without an update; old baselines without settings load and are upgraded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from history_project import BASELINE, GATE, SUITE, accept, git, make_project, write_conf, write_dataset

LOOSENINGS: dict[str, tuple[dict[str, Any], str]] = {
    "tolerance": (
        {"tolerance": 0.10},
        f"*LOOSENED: tolerance 0.03 -> 0.1 for {SUITE}, metric checks_passed (accepted under 0.03)*",
    ),
    "alpha": ({"alpha": 0.10}, f"*LOOSENED: alpha 0.05 -> 0.1 for {SUITE}, metric quality (accepted under 0.05)*"),
    "primary": (
        {"primary": ["checks_passed"]},
        f"*LOOSENED: primary metric quality removed for {SUITE} (accepted with primary checks_passed, quality)*",
    ),
    "floor": (
        {"metrics": {"quality": {"min_score": 0.3}}},
        f"*LOOSENED: floor (min_score) 0.5 -> 0.3 for {SUITE}, metric quality (accepted under 0.5)*",
    ),
    "floor removed": (
        {"metrics": {"quality": {}}},
        f"*LOOSENED: floor (min_score) 0.5 -> none for {SUITE}, metric quality (accepted under 0.5)*",
    ),
    "slice": (
        {"slices": None},
        f"*LOOSENED: gated slice 'refund' removed for {SUITE} (accepted with gated slices refund)*",
    ),
    "slice tolerance": (
        {"slices": {"refund": {"tolerance": 0.2}}},
        f"*LOOSENED: tolerance 0.03 -> 0.2 for {SUITE} [[]slice refund[]], metric checks_passed (accepted under 0.03)*",
    ),
}


def _results(project: pytest.Pytester) -> dict[str, Any]:
    return json.loads((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def _baseline(project: pytest.Pytester) -> dict[str, Any]:
    return json.loads((project.path / BASELINE).read_text(encoding="utf-8"))


def _accept(project: pytest.Pytester) -> None:
    result = project.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()


def _loosened_then_accepted(project: pytest.Pytester, line: str) -> None:
    """The run fails with `line`; the update accepts it (into the baseline) and the next run passes."""
    loose = project.runpytest(*GATE)
    assert loose.ret == pytest.ExitCode.TESTS_FAILED, loose.stdout.str()
    loose.stdout.fnmatch_lines(["LLM gate: FAIL", line])
    assert "Re-run with --llm-gate-update to accept the looser settings" in loose.stdout.str()
    assert any(r["text"].startswith("LOOSENED: ") for r in _results(project)["gate"]["reasons"])
    _accept(project)
    again = project.runpytest(*GATE)
    assert again.ret == 0, again.stdout.str()
    again.stdout.fnmatch_lines(["LLM gate: PASS"])
    assert "LOOSENED" not in again.stdout.str()


@pytest.mark.parametrize("kind", list(LOOSENINGS))
def test_each_loosening_fails_until_the_update_accepts_it(pytester: pytest.Pytester, kind: str) -> None:
    make_project(pytester, repo=False)
    _accept(pytester)
    settings = _baseline(pytester)["gate_settings"]
    assert settings["primary"] == ["checks_passed", "quality"] and settings["slices"] == {
        "refund": {"alpha": None, "max_newly_failing": None, "tolerance": None}
    }
    assert settings["metrics"]["quality"] == {
        "alpha": 0.05,
        "higher_is_better": True,
        "min_score": 0.5,
        "tolerance": 0.03,
    }
    change, line = LOOSENINGS[kind]
    write_conf(pytester.path, **change)
    _loosened_then_accepted(pytester, line)
    # The update wrote the new settings, so the baseline's diff shows the loosening.
    assert _baseline(pytester)["gate_settings"] != settings


def test_removed_golden_cases_are_a_loosening(pytester: pytest.Pytester) -> None:
    make_project(pytester, repo=False)
    _accept(pytester)
    assert _baseline(pytester)["gate_settings"]["cases"] == 20
    write_dataset(pytester.path, n=17)
    _loosened_then_accepted(
        pytester, f"*LOOSENED: 3 golden case(s) removed for {SUITE}: q-17, q-18, q-19 (accepted with 20 cases)*"
    )
    assert _baseline(pytester)["gate_settings"]["cases"] == 17


def test_a_changed_rubric_text_is_a_loosening(pytester: pytest.Pytester) -> None:
    make_project(pytester, repo=False)
    text = _pack_text("correctness")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(text, encoding="utf-8")
    write_conf(pytester.path, judge=True)
    _accept(pytester)
    assert set(_baseline(pytester)["gate_settings"]["rubrics"]) == {"correctness"}
    # Loosened criteria: the same rubric name, a more lenient text.
    lenient = text.replace("a paraphrase of the reference is fully correct.", "anything on topic is fully correct.")
    assert lenient != text
    (pytester.path / "rubrics/correctness.yaml").write_text(lenient, encoding="utf-8")
    _loosened_then_accepted(
        pytester, f"*LOOSENED: rubric 'correctness' text changed for {SUITE} (accepted as *, now *)*"
    )


def _pack_text(name: str) -> str:
    from pytest_llmgate.judge import rubrics

    return (Path(rubrics.__file__).parent / "pack" / f"{name}.yaml").read_text(encoding="utf-8")


def test_tightening_passes_without_an_update(pytester: pytest.Pytester) -> None:
    make_project(pytester, repo=False)
    _accept(pytester)
    before = (pytester.path / BASELINE).read_text(encoding="utf-8")
    write_conf(
        pytester.path,
        tolerance=0.01,
        alpha=0.01,
        metrics={"quality": {"min_score": 0.8}},
        slices={"refund": {"tolerance": 0.005}, "billing": {}},
    )
    result = pytester.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["LLM gate: PASS"])
    assert "LOOSENED" not in result.stdout.str()
    assert (pytester.path / BASELINE).read_text(encoding="utf-8") == before


def test_a_looser_command_line_tolerance_is_a_loosening_too(pytester: pytest.Pytester) -> None:
    make_project(pytester, repo=False)
    write_conf(pytester.path, tolerance=None)  # the suite takes the global tolerance (0.03 by default)
    _accept(pytester)
    result = pytester.runpytest(*GATE, "--llm-gate-tolerance", "0.08")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*LOOSENED: tolerance 0.03 -> 0.08 for {SUITE}, metric checks_passed*"])


def test_an_old_baseline_without_settings_loads_and_the_update_records_them(pytester: pytest.Pytester) -> None:
    make_project(pytester, repo=False)
    _accept(pytester)
    path = pytester.path / BASELINE
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["gate_settings"]  # as written before settings were recorded
    path.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    write_conf(pytester.path, tolerance=0.10)
    result = pytester.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()  # nothing recorded: nothing to compare with
    _accept(pytester)
    assert _baseline(pytester)["gate_settings"]["metrics"]["quality"]["tolerance"] == 0.1


def test_the_pr_comment_lists_the_loosenings_a_branch_accepted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(pytester)
    accept(pytester, 0.9, "baseline on main")
    git(root, "checkout", "-q", "-b", "loosen")
    accept(pytester, 0.9, "raise the tolerance", tolerance=0.10)
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    result = pytester.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()  # accepted: it no longer fails ...
    history = _results(pytester)["history"]
    assert history["base"] == git(root, "rev-parse", "main")
    assert (
        f"LOOSENED: tolerance 0.03 -> 0.1 for {SUITE}, metric checks_passed (accepted under 0.03)"
        in history["accepted"]
    )
    markdown = (root / "reports/llm-gate.md").read_text(encoding="utf-8")
    assert (
        "**Loosened in this branch, accepted with `--llm-gate-update`**" in markdown
    )  # ... but the PR comment says so
    assert "LOOSENED: tolerance 0.03 -&gt; 0.1" in markdown
    # On the base branch itself nothing was loosened.
    git(root, "checkout", "-q", "main")
    write_conf(root)
    assert pytester.runpytest(*GATE).ret == 0
    assert _results(pytester)["history"]["accepted"] == []


def test_a_raised_or_removed_newly_failing_rule_is_a_loosening() -> None:
    from pytest_llmgate.gate.loosening import loosenings
    from pytest_llmgate.gate.records import Baseline, GateSettings, SliceSpec, SuiteResult

    def settings(rule: int | None) -> GateSettings:
        return GateSettings(primary=["checks_passed"], slices={"guard": SliceSpec(max_newly_failing=rule)})

    baseline = Baseline(suite=SUITE, dataset="d.jsonl", gate_settings=settings(0))
    for rule, loose in ((0, False), (1, True), (None, True)):
        result = SuiteResult(suite=SUITE, dataset="d.jsonl", gate_settings=settings(rule))
        texts = [r.text for r in loosenings(result, baseline)]
        assert bool(texts) is loose, texts
        if loose:
            assert texts == [
                f"LOOSENED: max_newly_failing 0 -> {'none' if rule is None else rule} for {SUITE} [slice guard] (accepted under 0)"
            ]
    tighter = Baseline(suite=SUITE, dataset="d.jsonl", gate_settings=settings(None))
    assert loosenings(SuiteResult(suite=SUITE, dataset="d.jsonl", gate_settings=settings(0)), tighter) == []
