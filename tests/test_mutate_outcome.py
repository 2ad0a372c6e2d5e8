"""How `llmgate mutate` reads a suite's verdict from a results JSON (today's string reasons and the
typed `Reason` shape alike), and the flags it refuses or manages itself."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmgate.mutate.plant import MutateError
from pytest_llmgate.mutate.runs import check_args, split_budget, suite_outcome

SUITE = "test_qa.py::test_qa"


def metric(
    name: str, status: str, *, primary: bool = True, p: float | None = 0.5, diff: float = -0.02
) -> dict[str, Any]:
    return {"metric": name, "status": status, "primary": primary, "p_adjusted": p, "diff": diff}


def results(metrics: list[dict[str, Any]], reasons: list[Any] | None = None, **verdict: Any) -> dict[str, Any]:
    return {
        "verdicts": [{"suite": SUITE, "metrics": metrics, "problems": [], "slices": [], "cases": [], **verdict}],
        "gate": {"reasons": reasons or []},
        "settings": {},
    }


def test_a_primary_drop_is_caught_with_its_metric_and_p() -> None:
    outcome = suite_outcome(results([metric("checks_passed", "fail", p=0.004), metric("mrr", "pass")]), SUITE)
    assert outcome.status == "caught" and outcome.gate == "FAIL"
    assert [(c.metric, c.p, c.how) for c in outcome.caught_by] == [("checks_passed", 0.004, "regression")]


def test_a_secondary_drop_is_not_caught_but_a_floor_is() -> None:
    assert suite_outcome(results([metric("ndcg@5", "fail", primary=False)]), SUITE).status == "missed"
    floor = suite_outcome(results([metric("recall@5", "below_floor", primary=False)]), SUITE)
    assert floor.status == "caught" and floor.caught_by[0].how == "floor" and floor.caught_by[0].p is None


def test_inconclusive_and_a_gated_slice() -> None:
    assert suite_outcome(results([metric("checks_passed", "inconclusive")]), SUITE).status == "inconclusive"
    # INCONCLUSIVE with no primary metric moved: nothing noticed the mutant, a blind spot.
    unmoved = suite_outcome(results([metric("checks_passed", "inconclusive", diff=0.0)]), SUITE)
    assert unmoved.status == "missed" and unmoved.gate == "INCONCLUSIVE"
    sliced = results(
        [metric("checks_passed", "pass")],
        slices=[{"tag": "refund", "gated": True, "metrics": [metric("checks_passed", "fail", p=0.01)]}],
    )
    outcome = suite_outcome(sliced, SUITE)
    assert outcome.status == "caught" and outcome.caught_by[0].slice == "refund"


def test_run_level_reasons_are_noted_and_a_spent_budget_leaves_it_unscored() -> None:
    calibration = "judge agreement for rubric 'correctness': kappa low bound 0.1 < 0.15"
    noted = suite_outcome(results([metric("checks_passed", "pass")], [calibration]), SUITE)
    assert noted.status == "missed" and noted.note == calibration
    spent = "the judge dollar budget ($0.05) ran out: verdicts after it are judge errors."
    assert suite_outcome(results([metric("checks_passed", "fail")], [spent]), SUITE).status == "unscored"
    replay = "replay: 3 judge call(s) are not in the cache: a, b, c."
    assert suite_outcome(results([metric("checks_passed", "pass")], [replay]), SUITE).status == "unscored"
    assert suite_outcome(None, SUITE).status == "unscored"
    assert suite_outcome(results([]), "other.py::test").status == "unscored"


def test_typed_reasons_are_read_by_kind_and_suite() -> None:
    typed = [
        {"kind": "newly_failing", "text": "2 newly failing", "suite": SUITE, "metric": None},
        {"kind": "budget", "text": "spent", "suite": "other.py::test", "metric": None},
    ]
    outcome = suite_outcome(results([metric("checks_passed", "pass")], typed), SUITE)
    assert outcome.status == "caught" and outcome.caught_by[0].how == "newly_failing"
    run_budget = [{"kind": "budget", "text": "the judge budget ran out", "suite": None}]
    assert suite_outcome(results([metric("checks_passed", "pass")], run_budget), SUITE).status == "unscored"


def test_flags_mutate_sets_itself_are_refused_and_the_budget_is_taken_out() -> None:
    with pytest.raises(MutateError, match="sets --llm-gate-results itself"):
        check_args(["examples/", "--llm-gate-results=x.json"])
    assert split_budget(["a", "--llm-gate-budget-usd", "2.5", "-k", "x"]) == (["a", "-k", "x"], 2.5)
    assert split_budget(["--llm-gate-budget-usd=1"]) == ([], 1.0)
    with pytest.raises(MutateError, match=r"'--llm-gate-budget-usd' must be a number of dollars >= 0 \(got -1\)"):
        split_budget(["--llm-gate-budget-usd", "-1"])


def test_the_page_lists_blind_spots_first_with_the_changed_fields_escaped() -> None:
    from pytest_llmgate.mutate.plant import Example
    from pytest_llmgate.mutate.report import Mutant, MutationReport, SuiteReport, lines, render_html, to_json
    from pytest_llmgate.mutate.runs import Catch, SuiteOutcome

    def mutant(name: str, outcome: SuiteOutcome, after: str) -> Mutant:
        before = {"answer": "Refunds take 5 days.", "ids": ["a"]}
        example = Example(case_id="q-1", before=before, after={**before, "answer": after})
        return Mutant(SUITE, name, "plants", ["q-1"], 3, outcome, f"m/{name}.jsonl", example)

    caught = SuiteOutcome(status="caught", gate="FAIL", caught_by=[Catch("checks_passed", 0.004)])
    missed = SuiteOutcome(status="missed", gate="PASS")
    suite = SuiteReport(SUITE, 10, "PASS", [mutant("text.empty", caught, ""), mutant("text.x", missed, "<b>x</b>")])
    report = MutationReport(seed=0, rate=0.2, suites=[suite], operators=["text.empty", "text.x"])
    page = render_html(report)
    assert page.index("text.x") < page.index("text.empty")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "&quot;ids&quot;" not in page  # only the fields the mutant changed
    assert "mutation score: 1 of 2 mutants caught (50%)" in lines(report)[-1]
    assert to_json(report)["suites"][SUITE]["score"] == {"caught": 1, "mutants": 2, "percent": 50.0}
    # A mutant missed because no primary metric moved is a blind spot, not a run-level gate.
    unmoved = SuiteOutcome(status="missed", gate="INCONCLUSIVE", note="no primary metric moved")
    suite.mutants.append(mutant("text.negate", unmoved, "Refunds do not take 5 days."))
    text = "\n".join(lines(report))
    assert "blind spots (missed): text.x, text.negate" in text and "run-level gate" not in text
