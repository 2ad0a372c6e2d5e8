"""Real pytest sessions for the gate's statistics v3: PASS only when it holds, slices that can
do their job (the absolute `max_newly_failing` rule, slices that cannot FAIL named at session
start), and clusters that collapse named in the verdict and caught by the documented rule."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_llmgate.gate.records import RunResults

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")

TEST_FILE = """
import os

import pytest

BROKEN = set(filter(None, os.environ.get("BROKEN", "").split(",")))
SLICES = json.loads(os.environ["SLICES"]) if os.environ.get("SLICES") else None


@pytest.mark.golden("datasets/t.jsonl", slices=SLICES)
def test_t(case, llm_gate):
    broken = case.id in BROKEN or (case.cluster is not None and case.cluster in BROKEN)
    llm_gate.output({"answer": "wrong" if broken else case.reference})
    llm_gate.score("quality", 0.0 if broken else 1.0)
    assert not broken, f"{case.id} answered wrong"
"""


def _project(pytester: pytest.Pytester, cases: list[dict[str, object]], ini: str = "") -> pytest.Pytester:
    pytester.makeini(f"[pytest]\n{ini}\n")
    (pytester.path / "datasets").mkdir()
    lines = [json.dumps({"input": f"question {c['id']}", "reference": f"answer {c['id']}", **c}) for c in cases]
    (pytester.path / "datasets" / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pytester.makepyfile(test_t="import json\n" + TEST_FILE)
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    return pytester


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("BROKEN", raising=False)
    monkeypatch.delenv("SLICES", raising=False)
    return monkeypatch


def test_one_newly_failing_case_of_100_is_not_a_pass(pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch) -> None:
    project = _project(pytester, [{"id": f"c-{i}"} for i in range(100)])
    clean_env.setenv("BROKEN", "c-42")
    result = project.runpytest(*GATE)
    # An app breaking 3 % of its cases shows exactly this a fifth of the time: not shown within 0.03.
    result.stdout.fnmatch_lines(["checks_passed ↑*-0.010*INCONCLUSIVE*", "LLM gate: INCONCLUSIVE*"])
    assert result.ret == 0
    checks = _results(project).verdicts[0].metrics[0]
    assert checks.status == "inconclusive" and checks.cases_to_pass is not None
    assert "certifies a tolerance of" in checks.reason and "PASSes 80 % of the time with about" in checks.reason


def test_identical_outputs_on_30_cases_pass(pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch) -> None:
    project = _project(pytester, [{"id": f"c-{i}"} for i in range(30)])
    result = project.runpytest(*GATE)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["checks_passed ↑*PASS*", "LLM gate: PASS"])
    checks = _results(project).verdicts[0].metrics[0]
    assert checks.test == "identical" and "outputs identical to the baseline's" in checks.reason


#: Two primary metrics and one gated slice: a Holm family of 4 (alpha / 4 = 0.0125).
TWO_PRIMARIES = "llm_gate_primary = checks_passed quality"


def _guardrail_cases() -> list[dict[str, object]]:
    """7 guardrail cases in 6 clusters (g-0 and g-1 are paraphrases), 60 others."""
    guard = [{"id": f"g-{i}", "tags": ["refund-guardrail"], "cluster": f"g-{max(i, 1)}"} for i in range(7)]
    return guard + [{"id": f"c-{i}", "tags": ["faq"]} for i in range(60)]


def test_a_gated_guardrail_slice_fails_on_one_newly_failing_case(
    pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SLICES", json.dumps({"refund-guardrail": {"max_newly_failing": 0}}))
    project = _project(pytester, _guardrail_cases(), TWO_PRIMARIES)
    clean_env.setenv("BROKEN", "g-3")
    result = project.runpytest(*GATE)
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "LLM gate: FAIL*",
            "*[[]slice refund-guardrail[]]: 1 newly failing case(s) with tag 'refund-guardrail' "
            "(max_newly_failing 0): g-3*",
        ]
    )
    piece = next(s for s in _results(project).verdicts[0].slices if s.tag == "refund-guardrail")
    assert piece.max_newly_failing == 0 and piece.newly_failing == ["g-3"]


def test_a_slice_that_cannot_fail_is_named_at_session_start(
    pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SLICES", json.dumps(["refund-guardrail"]))
    project = _project(pytester, _guardrail_cases(), TWO_PRIMARIES)
    result = project.runpytest(*GATE)
    lines = result.stdout.lines
    note = next(i for i, line in enumerate(lines) if "gated slice 'refund-guardrail'" in line)
    first_result = next(i for i, line in enumerate(lines) if line.startswith("test_t.py"))
    assert note < first_result  # at collection, before any case runs
    assert (
        "(7 case(s) in 6 cluster(s)) cannot FAIL at any drop on its own: its smallest reachable p-value is "
        "0.01562, above alpha / 4 = 0.0125" in lines[note]
    )
    assert 'slices={"refund-guardrail": {"max_newly_failing": 0}}' in lines[note]
    # `llmgate validate` names it too.
    validate = subprocess.run(
        [sys.executable, "-c", "from pytest_llmgate.cli import main; main()", "validate"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert (
        "note: test_t.py::test_t: gated slice 'refund-guardrail' (7 case(s) in 6 cluster(s)) cannot FAIL at any drop on its own"
        in (validate.stdout)
    )
    # Every case of the slice broken: the slice can FAIL only through Holm's later steps, when
    # the suite's own metrics fail first (here they do: 7 of 67 cases).
    clean_env.setenv("BROKEN", ",".join(f"g-{i}" for i in range(7)))
    project.runpytest(*GATE)
    piece = next(s for s in _results(project).verdicts[0].slices if s.tag == "refund-guardrail")
    assert piece.metrics[0].diff == -1.0


def _hr_cases() -> list[dict[str, object]]:
    """103 questions on 17 policy documents (one cluster each); parental and bereavement hold 9."""
    cases: list[dict[str, object]] = []
    for doc in range(17):
        size = {0: 5, 1: 4}.get(doc, 7 if doc < 6 else 6)
        name = {0: "parental-leave", 1: "bereavement"}.get(doc, f"policy-{doc}")
        tags = ["leave"] if doc in (0, 1) else ["policy"]
        cases += [{"id": f"{name}-{q}", "cluster": name, "tags": tags} for q in range(size)]
    return cases


def test_collapsed_clusters_are_named_and_the_documented_rule_catches_them(
    pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch
) -> None:
    cases = _hr_cases()
    assert len(cases) == 103 and len({c["cluster"] for c in cases}) == 17
    clean_env.setenv("SLICES", json.dumps({"leave": {"max_newly_failing": 0}}))
    project = _project(pytester, cases)
    start = project.runpytest(*GATE)
    start.stdout.fnmatch_lines(["LLM gate: *103 cases in 17 independent units (declared clusters)*"])
    clean_env.setenv("BROKEN", "parental-leave,bereavement")
    result = project.runpytest(*GATE)
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "LLM gate: FAIL*",
            "*2 cluster(s) collapsed, every case newly failing: bereavement, parental-leave;*",
        ]
    )
    verdict = _results(project).verdicts[0]
    assert verdict.collapsed_clusters == ["bereavement", "parental-leave"]
    # The mean test alone cannot tell (2 of 17 units), which is why the rule exists.
    assert verdict.metrics[0].status != "fail"
    # Without the slice rule, --llm-gate-strict is the documented catch-all.
    clean_env.delenv("SLICES")
    strict = project.runpytest(*GATE, "--llm-gate-strict")
    assert strict.ret == 1
    strict.stdout.fnmatch_lines(["*collapsed, every case newly failing: bereavement, parental-leave*"])


def test_a_slice_that_cannot_fail_says_why_in_numbers() -> None:
    # The guardrail: 7 cases in 6 clusters, every one newly failing, while the rest of the
    # suite improves as much: the slice's -1.000 cannot reach alpha / 4 with 6 units.
    from pytest_llmgate.gate.records import (
        Baseline,
        BaselineCase,
        CaseResult,
        GateResult,
        MetricSpec,
        SliceSpec,
        SuiteResult,
    )
    from pytest_llmgate.gate.verdict import evaluate

    specs = {"checks_passed": MetricSpec(name="checks_passed", kind="binary"), "quality": MetricSpec(name="quality")}
    guard = [(f"g-{i}", f"g-{max(i, 1)}", ["refund-guardrail"], 1.0, 0.0) for i in range(7)]
    others = [(f"c-{i}", None, ["faq"], 0.0 if i < 7 else 1.0, 1.0) for i in range(200)]
    cases, base = {}, {}
    for cid, cluster, tags, before, after in guard + others:
        fields = {"id": cid, "tags": tags, "cluster": cluster}
        values = {"checks_passed": after, "quality": after}
        cases[cid] = CaseResult(case_id=cid, nodeid=f"t.py::t[{cid}]", case=fields, metrics=values, passed=bool(after))
        base[cid] = BaselineCase(metrics={"checks_passed": before, "quality": before}, passed=bool(before))
    suite = SuiteResult(
        suite="t.py::t",
        dataset="d.jsonl",
        metrics=specs,
        cases=cases,
        primary=["checks_passed", "quality"],
        slices={"refund-guardrail": SliceSpec()},
    )
    raw = RunResults(
        plugin_version="0",
        created_at="2026-01-01T00:00:00+00:00",
        settings={"alpha": 0.05, "tolerance": 0.03},
        suites={"t.py::t": suite},
        baselines={"t.py::t": Baseline(suite="t.py::t", dataset="d.jsonl", metrics=specs, cases=base)},
        gate=GateResult(status="PASS", passed=True),
    )
    verdict = evaluate(raw, baseline_paths={"t.py::t": "b.json"}).verdicts[0]
    checks = next(s for s in verdict.slices if s.tag == "refund-guardrail").metrics[0]
    assert checks.diff == -1.0 and checks.status == "inconclusive"
    assert (
        "6 clusters (7 cases): the smallest reachable p-value is 0.01562, above alpha / 4 = 0.0125, "
        "so no drop can FAIL on its own" in checks.reason
    )


def test_the_slice_rule_is_a_typed_reason_naming_the_cases() -> None:
    from pytest_llmgate.gate.design import collapsed_clusters, slice_reach, slice_rule_reasons

    assert slice_rule_reasons("s", "guard", 0, []) == []
    assert slice_rule_reasons("s", "guard", None, ["a"]) == []
    (reason,) = slice_rule_reasons("s", "guard", 1, ["b", "a"])
    assert (reason.kind, reason.suite, reason.slice, reason.blocking) == ("newly_failing", "s", "guard", True)
    assert reason.text == "2 newly failing case(s) with tag 'guard' (max_newly_failing 1): a, b"
    assert reason.line() == "s [slice guard]: " + reason.text
    # Clusters of one case are newly failing cases, not collapsed topics.
    assert collapsed_clusters({"a": "x", "b": "x", "c": "y", "d": None}, ["a", "b", "c", "d"]) == ["x"]
    # 7 units reach 0.0078 < 0.05 / 4; the smallest drop they catch is 7 of 7 cases failing.
    reach = slice_reach("guard", [None] * 7, alpha=0.05, family=4)
    assert reach.can_fail and reach.smallest_drop == 1.0
    assert not slice_reach("guard", ["a", "a", "b", "c", "d", "e", "f"], alpha=0.05, family=4).can_fail


def test_settle_words_never_ask_for_cases_the_set_already_has() -> None:
    from types import SimpleNamespace

    from pytest_llmgate.gate.design import settle_words

    short = SimpleNamespace(tolerance=0.03, cases_to_pass=201, repeats_to_pass=2, n_paired=100)
    assert settle_words(short) == (
        "an unchanged app PASSes 80 % of the time with about 201 paired cases, or repeat=2 on these 100 if the "
        "changes are run-to-run noise"
    )
    enough = SimpleNamespace(tolerance=0.03, cases_to_pass=81, repeats_to_pass=None, n_paired=91)
    assert settle_words(enough).startswith("these 91 cases would PASS an unchanged app (about 81 needed)")
    assert "can never be shown" in settle_words(SimpleNamespace(tolerance=0.0, cases_to_pass=None, n_paired=5))
