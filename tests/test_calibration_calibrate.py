"""calibrate(): labels matched to outputs, agreement, PPI estimate, the gate on agreement, the table."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import cohen_kappa_score
from test_calibration_support import SUITE, make_results, output_hash

from pytest_llmgate.calibration.calibrate import (
    MIN_LABELS,
    calibrate,
    calibration_table,
    calibration_text,
    check_min_agreement,
)
from pytest_llmgate.calibration.labels import Label
from pytest_llmgate.gate.records import RunResults

PASS_FAIL = {"helpful": {"kind": "pass_fail"}}


def _label(case_id: str, value: object, rubric: str = "helpful", **extra: object) -> Label:
    fields: dict = {"output_hash": output_hash(f"answer {int(case_id.split('-')[1])}"), **extra}
    return Label(suite=SUITE, case_id=case_id, rubric=rubric, label=value, labeler="ann", **fields)


def _worked_example() -> tuple[RunResults, list[Label]]:
    """200 cases: the first 20 labeled as in the issue's worked example; 117 of the other 180 pass."""
    judged = [1.0] * 12 + [0.0] * 6 + [0.0, 1.0] + [1.0] * 117 + [0.0] * 63
    human = ["pass"] * 12 + ["fail"] * 6 + ["pass", "fail"]
    results = make_results("helpful", "pass_fail", judged)
    return results, [_label(f"case-{i:03d}", human[i]) for i in range(20)]


def test_worked_example_through_calibrate() -> None:
    results, labels = _worked_example()
    entry = calibrate(results, labels, PASS_FAIL)["helpful"]
    assert entry["n_labels"] == 20 and entry["n_judged"] == 200
    assert entry["judge_mean"] == pytest.approx(130 / 200)
    calibrated = entry["calibrated"]
    assert calibrated["estimate"] == pytest.approx(0.65)
    assert (calibrated["low"], calibrated["high"]) == pytest.approx((0.5094, 0.7906), abs=5e-4)
    assert calibrated["n_unlabeled"] == 180 and calibrated["power_tuned"]
    agreement = entry["agreement"]
    assert agreement["accuracy"]["value"] == pytest.approx(18 / 20)
    human = ["pass"] * 12 + ["fail"] * 6 + ["pass", "fail"]
    judge = ["pass"] * 12 + ["fail"] * 6 + ["fail", "pass"]
    assert agreement["kappa"]["value"] == pytest.approx(cohen_kappa_score(human, judge))
    assert agreement["kappa"]["weights"] is None
    assert agreement["confusion"]["matrix"] == [[6, 1], [1, 12]]  # rows human fail/pass, columns judge
    # Serialisable into the results file as is.
    again = RunResults.model_validate({**results.model_dump(), "calibration": calibrate(results, labels, PASS_FAIL)})
    assert json.loads(json.dumps(again.calibration)) == again.calibration


def test_stale_unmatched_and_extra_strata_are_kept_out_of_the_estimate() -> None:
    results, labels = _worked_example()
    stale = Label(suite=SUITE, case_id="case-050", rubric="helpful", label="fail", labeler="ann", output_hash="old")
    unmatched = Label(suite=SUITE, case_id="case-999", rubric="helpful", label="fail", labeler="ann", output_hash="x")
    extra = _label("case-060", "fail", stratum="flips")
    entry = calibrate(results, [*labels, stale, unmatched, extra], PASS_FAIL)["helpful"]
    assert (entry["n_labels"], entry["n_stale"], entry["n_unmatched"]) == (20, 1, 1)
    assert entry["calibrated"]["estimate"] == pytest.approx(0.65)  # unchanged
    assert entry["strata"]["flips"]["n"] == 1
    assert entry["strata"]["flips"]["accuracy"]["value"] == 0.0  # judge said pass, human fail


def test_pointwise_scale_and_quadratic_kappa() -> None:
    judged_scores = [1, 2, 3, 4, 5, 3, 4, 2, 5, 1, 3, 4, 4, 2, 5]
    results = make_results("quality", "pointwise", [(s - 1) / 4 for s in judged_scores])
    human_scores = [1, 3, 3, 4, 4, 3, 5, 2, 5, 2, 3, 4]
    labels = [_label(f"case-{i:03d}", h, rubric="quality") for i, h in enumerate(human_scores)]
    entry = calibrate(results, labels, {"quality": {"kind": "pointwise", "scale": {"min": 1, "max": 5}}})["quality"]
    agreement = entry["agreement"]
    expected = cohen_kappa_score(human_scores, judged_scores[:12], labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert agreement["kappa"]["value"] == pytest.approx(expected)
    assert agreement["mean_offset"]["value"] == pytest.approx(
        sum(j - h for h, j in zip(human_scores, judged_scores[:12], strict=True)) / 12
    )
    # The estimate is on the metric's [0, 1] scale, like the judge mean.
    assert 0.0 <= entry["calibrated"]["estimate"] <= 1.0
    assert entry["scale"] == {"min": 1, "max": 5}
    with pytest.raises(ValueError, match="not on the scale of rubric 'quality'"):
        calibrate(results, [_label("case-000", 7, rubric="quality")], {"quality": {"kind": "pointwise"}})


def test_pairwise_labels_count_from_the_candidate_side() -> None:
    results = make_results("vs_ref", "pairwise", [1.0, 0.0, 0.5, 1.0, 0.0])
    labels = [_label(f"case-{i:03d}", v, rubric="vs_ref") for i, v in enumerate(["A", "B", "A", "tie", "A"])]
    agreement = calibrate(results, labels, {"vs_ref": {"kind": "pairwise"}})["vs_ref"]["agreement"]
    # human win/loss/win/tie/win vs judge win/loss/tie/win/loss
    assert agreement["agreement_with_ties"]["value"] == pytest.approx(2 / 5)
    assert agreement["agreement_without_ties"]["value"] == pytest.approx(2 / 3)
    assert agreement["confusion"]["labels"] == ["loss", "tie", "win"]


def test_inferred_rubric_info_without_a_rubric_mapping() -> None:
    results, labels = _worked_example()
    entry = calibrate(results, labels)["helpful"]
    assert entry["kind"] == "pass_fail"
    assert entry["calibrated"]["estimate"] == pytest.approx(0.65)


def test_gate_on_agreement() -> None:
    results, labels = _worked_example()
    calibration = calibrate(results, labels, PASS_FAIL)
    kappa = calibration["helpful"]["agreement"]["kappa"]
    assert check_min_agreement(calibration, {"helpful": kappa["low"] - 0.01}) == []
    # Point estimate above the threshold but the lower bound below: too few labels to tell.
    threshold = (kappa["low"] + kappa["value"]) / 2
    [line] = check_min_agreement(calibration, {"helpful": threshold})
    assert "rubric 'helpful'" in line and "too few labels to tell" in line and "more labels" in line
    # Point estimate itself below the threshold: a real failure.
    [line] = check_min_agreement(calibration, {"helpful": 0.95})
    assert "rubric 'helpful'" in line and "below the required 0.950" in line
    # Another statistic.
    assert check_min_agreement(calibration, {"helpful": 0.5}, statistic="accuracy_low") == []
    # No labels at all for a required rubric.
    [line] = check_min_agreement(calibration, {"other": 0.4})
    assert "rubric 'other'" in line and f"needs {MIN_LABELS} more labels" in line
    few = calibrate(results, labels[:4], PASS_FAIL)
    [line] = check_min_agreement(few, {"helpful": 0.4})
    assert f"needs {MIN_LABELS - 4} more labels" in line
    with pytest.raises(ValueError, match="unknown agreement statistic"):
        check_min_agreement(calibration, {"helpful": 0.4}, statistic="vibes_low")


def test_table_renders_every_rubric() -> None:
    results, labels = _worked_example()
    calibration = calibrate(results, labels, PASS_FAIL)
    table = calibration_table(calibration)
    assert table.row_count == 1
    text = calibration_text(calibration)
    assert "helpful (pass_fail)" in text
    assert "0.650 [0.509, 0.791]" in text


def test_calibrate_command_prints_the_table_and_gates(tmp_path) -> None:
    from click.testing import CliRunner

    from pytest_llmgate.calibration.commands import calibrate as calibrate_command
    from pytest_llmgate.calibration.labels import append_label

    results, labels = _worked_example()
    results_path = tmp_path / "llm-gate.json"
    results_path.write_text(results.model_dump_json(), encoding="utf-8")
    for label in labels:
        append_label(tmp_path / "labels" / "helpful.jsonl", label)
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "helpful.yaml").write_text("name: helpful\nversion: '1'\nkind: pass_fail\n", encoding="utf-8")
    args = [str(results_path), "--labels-dir", str(tmp_path / "labels"), "--rubrics-dir", str(rubrics)]
    runner = CliRunner()
    outcome = runner.invoke(calibrate_command, args, env={"COLUMNS": "200"})
    assert outcome.exit_code == 0, outcome.output
    assert "0.650 [0.509, 0.791]" in outcome.output
    failing = runner.invoke(calibrate_command, [*args, "--min-agreement", "helpful=0.95"], env={"COLUMNS": "200"})
    assert failing.exit_code == 1
    assert "FAIL judge agreement for rubric 'helpful'" in failing.output
    bad = runner.invoke(calibrate_command, [*args, "--min-agreement", "helpful"])
    assert bad.exit_code == 2 and "RUBRIC=0.4" in bad.output
