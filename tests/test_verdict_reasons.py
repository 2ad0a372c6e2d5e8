"""The verdict from a results file alone (no pytest session): every reason kind `evaluate` gives,
each with its own remedy; selection, per-suite Holm families, shards and update mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.gate.reasons import REMEDIES, UPDATE_KINDS, Reason, remedies
from pytest_llmgate.gate.records import (
    Baseline,
    BaselineCase,
    CaseResult,
    GateResult,
    MetricSpec,
    RubricStats,
    RunFacts,
    RunResults,
    SliceSpec,
    SuiteResult,
)
from pytest_llmgate.gate.verdict import evaluate
from pytest_llmgate.report.commands import load_results
from pytest_llmgate.report.markdown import render_markdown
from pytest_llmgate.report.terminal import render

SUITE = "tests/test_a.py::test_a"


def suite(
    name: str = SUITE,
    values: list[float] | None = None,
    *,
    tags: dict[int, list[str]] | None = None,
    slices: dict[str, SliceSpec] | None = None,
    primary: list[str] | None = None,
    fingerprints: dict[str, str] | None = None,
) -> SuiteResult:
    """A suite whose case i scored values[i] on `checks_passed` (1 = passed)."""
    values = [1.0] * 40 if values is None else values
    cases = {}
    for i, value in enumerate(values):
        case = {"id": f"c-{i:02d}", "input": "q", "tags": (tags or {}).get(i, [])}
        cases[f"c-{i:02d}"] = CaseResult(
            case_id=f"c-{i:02d}",
            nodeid=f"{name}[c-{i:02d}]",
            case=case,
            passed=value == 1.0,
            metrics={"checks_passed": value},
            output=f"answer {i}",
        )
    all_tags = sorted({tag for group in (tags or {}).values() for tag in group})
    return SuiteResult(
        suite=name,
        dataset="datasets/a.jsonl",
        fingerprints=fingerprints or {"dataset": "d1", "format": "1"},
        metrics={"checks_passed": MetricSpec(name="checks_passed", kind="binary")},
        cases=cases,
        slices=slices or {},
        primary=primary,
        dataset_tags=all_tags,
    )


def baseline_of(result: SuiteResult, values: list[float] | None = None) -> Baseline:
    values = values if values is not None else [c.metrics["checks_passed"] for c in result.cases.values()]
    return Baseline(
        suite=result.suite,
        dataset=result.dataset,
        fingerprints=dict(result.fingerprints),
        metrics=dict(result.metrics),
        cases={
            # The outputs of an unchanged run: byte-equal, so an unchanged metric PASSes at any size.
            cid: BaselineCase(passed=value == 1.0, metrics={"checks_passed": value}, output=result.cases[cid].output)
            for cid, value in zip(sorted(result.cases), values, strict=False)
        },
    )


def results_of(
    suites: list[SuiteResult],
    baselines: dict[str, Baseline | None] | None = None,
    *,
    settings: dict[str, Any] | None = None,
    **update: object,
) -> RunResults:
    found = {s.suite: s for s in suites}
    return RunResults(
        plugin_version="0",
        created_at="2026-01-01T00:00:00+00:00",
        settings={"alpha": 0.05, "tolerance": 0.02, **(settings or {})},
        suites=found,
        baselines=baselines if baselines is not None else {s.suite: baseline_of(s) for s in suites},
        gate=GateResult(status="PASS", passed=True),
        **update,  # type: ignore[arg-type]
    )


def from_file(results: RunResults, tmp_path: Path) -> RunResults:
    """Write the results, read them back, and decide from the file alone."""
    path = tmp_path / "llm-gate.json"
    path.write_text(results.model_dump_json(), encoding="utf-8")
    return evaluate(load_results(path))


def kinds(results: RunResults) -> list[str]:
    return [reason.kind for reason in results.gate.reasons]


def regressed() -> tuple[SuiteResult, Baseline]:
    """8 of 53 cases newly fail: `checks_passed` drops 0.151 (FAILs on its own)."""
    now = suite(values=[0.0] * 8 + [1.0] * 45)
    return now, baseline_of(now, [1.0] * 53)


def test_an_unchanged_suite_passes_with_no_reason(tmp_path: Path) -> None:
    gated = from_file(results_of([suite()]), tmp_path)
    assert gated.gate.status == "PASS" and gated.gate.passed and gated.gate.reasons == []


def test_a_regression_names_the_metric_and_offers_the_update(tmp_path: Path) -> None:
    now, before = regressed()
    gated = from_file(results_of([now], {SUITE: before}), tmp_path)
    assert gated.gate.status == "FAIL" and kinds(gated) == ["regression"]
    reason = gated.gate.reasons[0]
    assert reason.suite == SUITE and reason.metric == "checks_passed" and "dropped" in reason.text
    assert "--llm-gate-update" in (reason.remedy or "") and "Fix the regression" in (reason.remedy or "")


def test_strict_mode_fails_newly_failing_cases(tmp_path: Path) -> None:
    now = suite(values=[0.0] + [1.0] * 39)
    gated = from_file(results_of([now], {SUITE: baseline_of(now, [1.0] * 40)}, settings={"strict": True}), tmp_path)
    assert "newly_failing" in kinds(gated) and "c-00" in gated.gate.reasons[-1].text


def test_a_floor_below_the_mean_fails(tmp_path: Path) -> None:
    now = suite(values=[0.0] * 10 + [1.0] * 30)
    now.metrics["checks_passed"] = MetricSpec(name="checks_passed", kind="binary", min_score=0.9)
    gated = from_file(results_of([now], {SUITE: baseline_of(now)}), tmp_path)
    assert kinds(gated) == ["below_floor"] and "floor 0.9" in gated.gate.reasons[0].text


def test_a_missing_baseline_says_how_to_create_it(tmp_path: Path) -> None:
    gated = from_file(results_of([suite()], {SUITE: None}), tmp_path)
    assert kinds(gated) == ["no_baseline"]
    assert gated.gate.reasons[0].remedy == "Run `pytest --llm-gate --llm-gate-update` to create it, then commit it."


def test_an_unreadable_baseline_is_its_own_kind(tmp_path: Path) -> None:
    facts = RunFacts(baseline_errors={SUITE: "baselines/a.json: not valid JSON (line 1)."})
    gated = from_file(results_of([suite()], {SUITE: None}, facts=facts), tmp_path)
    assert kinds(gated) == ["baseline_error"] and "not valid JSON" in gated.gate.reasons[0].text


def test_changed_fingerprints_split_into_update_and_rejudge(tmp_path: Path) -> None:
    now = suite(fingerprints={"dataset": "d2", "format": "1", "judge": "openai:new", "rubric:c": "h1"})
    before = baseline_of(now)
    before.fingerprints = {"dataset": "d1", "format": "1", "judge": "openai:old", "rubric:c": "h1"}
    gated = from_file(results_of([now], {SUITE: before}), tmp_path)
    by_kind = {r.kind: r for r in gated.gate.reasons}
    assert set(by_kind) == {"fingerprint", "judge_changed"}
    assert "--llm-gate-update" in (by_kind["fingerprint"].remedy or "")
    assert "--llm-gate-rejudge-baseline" in (by_kind["judge_changed"].remedy or "")


def test_a_metric_of_the_baseline_not_recorded(tmp_path: Path) -> None:
    now = suite()
    before = baseline_of(now)
    before.metrics["mrr"] = MetricSpec(name="mrr")
    gated = from_file(results_of([now], {SUITE: before}), tmp_path)
    assert kinds(gated) == ["metric_missing"] and gated.gate.reasons[0].metric == "mrr"


def test_a_primary_typo_is_a_usage_error_without_update_advice(tmp_path: Path) -> None:
    gated = from_file(results_of([suite(primary=["checks_pased"])]), tmp_path)
    assert kinds(gated) == ["usage"]
    assert "--llm-gate-update" not in (gated.gate.remedy or "") and "primary=" in (gated.gate.remedy or "")


def test_a_gated_slice_tag_absent_from_the_golden_set_is_a_usage_error(tmp_path: Path) -> None:
    gated = from_file(results_of([suite(slices={"mismatch": SliceSpec()})]), tmp_path)
    assert kinds(gated) == ["usage"] and "fix the tag" in (gated.gate.remedy or "").lower()


def test_a_gated_slice_with_no_selected_case_is_a_note(tmp_path: Path) -> None:
    now = suite(values=[1.0] * 10, tags={}, slices={"mismatch": SliceSpec()})
    now.dataset_tags = ["mismatch"]  # tagged cases exist in the golden set, none was selected
    gated = from_file(results_of([now]), tmp_path)
    assert gated.gate.status == "PASS" and kinds(gated) == ["note"]
    assert "no selected case carries the tag" in gated.gate.reasons[0].text


def test_a_deselected_suite_is_not_run_listed_once(tmp_path: Path) -> None:
    ran = suite()
    other = suite("tests/test_b.py::test_b", values=[], fingerprints={"dataset": "d9", "format": "1"})
    third = suite("tests/test_c.py::test_c", values=[])
    before = baseline_of(suite("tests/test_b.py::test_b", fingerprints={"judge": "openai:x", "dataset": "d9"}))
    gated = from_file(
        results_of([ran, other, third], {ran.suite: baseline_of(ran), other.suite: before, third.suite: None}),
        tmp_path,
    )
    assert gated.gate.passed and kinds(gated) == ["note"]
    assert (
        gated.gate.reasons[0].text
        == "not run (no case selected), not gated: tests/test_b.py::test_b, tests/test_c.py::test_c"
    )
    assert [v.suite for v in gated.verdicts] == [SUITE]


def test_a_suite_whose_every_case_errored_names_the_first_error(tmp_path: Path) -> None:
    now = suite(values=[0.0] * 3)
    for case in now.cases.values():
        case.failure = "ConnectionError: the SUT is down"
    facts = RunFacts(errored={f"{SUITE}::c-{i:02d}": "ConnectionError: the SUT is down" for i in range(3)})
    before = baseline_of(suite(fingerprints={"dataset": "d1", "format": "1", "judge": "openai:x"}))
    gated = from_file(results_of([now], {SUITE: before}, facts=facts), tmp_path)
    assert kinds(gated) == ["suite_errored"]
    assert "every selected case errored (3 of 3)" in gated.gate.reasons[0].text
    assert "c-00: ConnectionError: the SUT is down" in gated.gate.reasons[0].text
    assert "fingerprint" not in render(gated)


def test_judge_errors_above_the_limit(tmp_path: Path) -> None:
    stats = {"correctness": RubricStats(rubric="correctness", verdicts=10, errors=5)}
    gated = from_file(results_of([suite()], judge_stats=stats, settings={"max_judge_error_rate": 0.1}), tmp_path)
    assert kinds(gated) == ["judge_errors"] and "5 of 10" in gated.gate.reasons[0].text


def test_replay_misses_budgets_and_deadline(tmp_path: Path) -> None:
    facts = RunFacts(
        replay_missing=[f"{SUITE}::c-01 (correctness)"],
        budget_tokens_exhausted=True,
        budget_usd_exhausted=True,
        unjudged_by_deadline=3,
    )
    settings = {"budget_tokens": 100, "budget_usd": 0.5, "judge_deadline": 30.0}
    gated = from_file(results_of([suite()], facts=facts, settings=settings), tmp_path)
    assert kinds(gated) == ["replay_miss", "budget", "budget", "deadline"]
    texts = [r.text for r in gated.gate.reasons]
    assert "token budget (100)" in texts[1] and "dollar budget ($0.5)" in texts[2] and "3 judge call(s)" in texts[3]
    assert gated.gate.reasons[0].remedy == "Run once without --llm-gate-replay to fill the cache, then replay."
    assert not any("--llm-gate-update" in (r.remedy or "") for r in gated.gate.reasons)


def test_a_calibration_floor_is_gated_from_the_recorded_agreement(tmp_path: Path) -> None:
    agreement = {"kappa": {"value": 0.5, "low": 0.3, "high": 0.7}}
    calibration: dict[str, Any] = {"correctness": {"n_labels": 30, "agreement": agreement}}
    settings: dict[str, Any] = {"min_agreement": {"correctness": 0.6}}
    gated = from_file(results_of([suite()], calibration=calibration, settings=settings), tmp_path)
    assert kinds(gated) == ["calibration"] and "correctness" in gated.gate.reasons[0].text
    assert "llmgate label --rubric correctness" in (gated.gate.reasons[0].remedy or "")
    agreement["kappa"]["low"] = 0.65
    assert from_file(results_of([suite()], calibration=calibration, settings=settings), tmp_path).gate.passed


def test_unreadable_labels_fail_the_calibration_gate(tmp_path: Path) -> None:
    facts = RunFacts(label_error="labels/c.jsonl:3: field 'label': not an integer")
    gated = from_file(results_of([suite()], facts=facts), tmp_path)
    assert kinds(gated) == ["calibration"] and "labels/c.jsonl:3" in gated.gate.reasons[0].text


def test_an_inconclusive_primary_leaves_the_gate_inconclusive(tmp_path: Path) -> None:
    now = suite(values=[0.0, 1.0, 1.0, 0.0, 1.0, 1.0])  # two of six cases flip, one each way
    gated = from_file(results_of([now], {SUITE: baseline_of(now, [1.0, 0.0, 1.0, 0.0, 1.0, 1.0])}), tmp_path)
    assert gated.gate.status == "INCONCLUSIVE" and gated.gate.passed and kinds(gated) == ["inconclusive"]
    assert "llmgate plan" in (gated.gate.remedy or "")
    strict = from_file(
        results_of(
            [now], {SUITE: baseline_of(now, [1.0, 0.0, 1.0, 0.0, 1.0, 1.0])}, settings={"fail_inconclusive": True}
        ),
        tmp_path,
    )
    assert strict.gate.status == "INCONCLUSIVE" and not strict.gate.passed


def test_a_shard_passes_as_a_partial_run(tmp_path: Path) -> None:
    now, before = regressed()
    gated = from_file(results_of([now], {SUITE: before}, settings={"shard": "1/2"}), tmp_path)
    assert gated.gate.passed and kinds(gated) == ["partial"] and "llmgate merge" in (gated.gate.reasons[0].text)


def test_an_update_is_refused_for_errors_and_accepted_otherwise(tmp_path: Path) -> None:
    now, before = regressed()
    facts = RunFacts(errored={f"{SUITE}::c-00": "RuntimeError: boom"})
    refused = from_file(results_of([now], {SUITE: before}, facts=facts, settings={"update": True}), tmp_path)
    assert not refused.gate.passed and kinds(refused) == ["update_refused", "update_refused"]
    assert refused.gate.reasons[0].text == "baselines not updated, nothing written:"
    accepted = from_file(results_of([now], {SUITE: before}, settings={"update": True}), tmp_path)
    assert accepted.gate.passed and kinds(accepted) == ["note"]
    assert accepted.gate.reasons[0].text.startswith("baselines updated: 1 file(s) written")
    nothing = from_file(results_of([suite(values=[])], {SUITE: None}, settings={"update": True}), tmp_path)
    assert not nothing.gate.passed and "no case ran" in render(nothing)


def test_old_string_reasons_still_load_and_render(tmp_path: Path) -> None:
    data = json.loads(results_of([suite()]).model_dump_json())
    data["gate"] = {"status": "FAIL", "passed": False, "reasons": ["x dropped"], "remedy": "Fix it."}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    old = load_results(path)
    assert old.gate.reasons == [Reason(kind="legacy", text="x dropped")]
    assert "  - x dropped\n  Fix it.\n" in render(old) and "**Remedy:** Fix it." in render_markdown(old)


def test_the_reports_render_the_same_reasons_and_remedies(tmp_path: Path) -> None:
    now, before = regressed()
    gated = from_file(results_of([now], {SUITE: before}, facts=RunFacts(replay_missing=["a::b (c)"])), tmp_path)
    text, markdown = render(gated), render_markdown(gated)
    for reason in gated.gate.reasons:
        assert reason.text.split(":")[0] in text and reason.text.split(":")[0] in markdown
    for remedy in remedies(gated.gate.reasons):
        assert remedy in text and remedy.replace("`", "\\`") in markdown


@pytest.mark.parametrize("kind", sorted(REMEDIES))
def test_update_is_offered_only_for_score_changes_and_baseline_setup(kind: str) -> None:
    remedy = REMEDIES[kind] or ""
    accepts = "--llm-gate-update" in remedy and "re-run with --llm-gate-update." not in remedy.lower()
    assert accepts == (kind in UPDATE_KINDS), (kind, remedy)


def test_a_suite_family_is_its_own_and_a_run_family_is_an_option(tmp_path: Path) -> None:
    now, before = regressed()
    alone = from_file(results_of([now], {SUITE: before}), tmp_path)
    others = []
    for name in ("tests/test_b.py::test_b", "tests/test_c.py::test_c"):
        other = suite(name, values=[1.0] * 60)
        for case in other.cases.values():
            case.metrics.update({"mrr": 0.8, "recall@5": 0.9})
        other.metrics["mrr"] = MetricSpec(name="mrr")
        other.metrics["recall@5"] = MetricSpec(name="recall@5")
        other.primary = ["checks_passed", "mrr"]
        others.append(other)
    beside = results_of([now, *others], {now.suite: before, **{o.suite: baseline_of(o) for o in others}})
    for other in others:
        stored = beside.baselines[other.suite]
        assert stored is not None
        for kept in stored.cases.values():
            kept.metrics.update({"mrr": 0.8, "recall@5": 0.9})
    assert alone.gate.status == "FAIL"
    by_suite = from_file(beside, tmp_path)
    assert by_suite.gate.status == "FAIL" and kinds(by_suite) == ["regression"]
    p_alone = alone.verdicts[0].metrics[0].p_adjusted
    p_beside = next(v for v in by_suite.verdicts if v.suite == SUITE).metrics[0].p_adjusted
    assert p_alone == p_beside
    run_wide = from_file(beside.model_copy(update={"settings": {**beside.settings, "family": "run"}}), tmp_path)
    p_run = next(v for v in run_wide.verdicts if v.suite == SUITE).metrics[0].p_adjusted
    assert p_run is not None and p_alone is not None and p_run > p_alone


def test_judge_cost_counts_every_run_of_a_repeated_case() -> None:
    from pytest_llmgate.gate.baseline import judge_cost
    from pytest_llmgate.gate.records import JudgeCall, JudgeVerdict, RepeatResult

    def verdict(cached: bool) -> JudgeVerdict:
        call = JudgeCall(order="forward", cached=cached, input_tokens=0 if cached else 100, list_cost_usd=0.01)
        return JudgeVerdict(rubric="c", rubric_version="1", kind="pointwise", metric="judge:c", calls=[call])

    now = suite(values=[1.0, 1.0])
    for case in now.cases.values():
        case.repeats = [RepeatResult(judge=[verdict(False)]) for _ in range(3)]
        case.judge = case.repeats[0].judge
    fresh = judge_cost(now, None, 0)
    assert fresh == {"calls": 6.0, "input_tokens": 600.0, "output_tokens": 0.0, "usd": 0.06}
    previous = baseline_of(now)
    previous.judge_cost = fresh
    for case in now.cases.values():  # a rerun answered by the cache: the same figures
        case.repeats = [RepeatResult(judge=[verdict(True)]) for _ in range(3)]
    assert judge_cost(now, previous, 0) == fresh
