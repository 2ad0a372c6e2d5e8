"""Report view model: what the page's case table and details are built from.

Also holds `make_results`, the realistic `RunResults` the other report tests render.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re

import pytest

from pytest_llmgate._files import printable
from pytest_llmgate.gate.records import (
    Baseline,
    BaselineCase,
    CaseChange,
    CaseResult,
    GateResult,
    JudgeCall,
    JudgeVerdict,
    MetricSpec,
    MetricVerdict,
    RubricStats,
    RunResults,
    SuiteResult,
    SuiteVerdict,
)
from pytest_llmgate.report import html as report_html
from pytest_llmgate.report.html import (
    build_case_data,
    embed_json,
    read_case_data,
    render_html_string,
)

SUITE = "evals/test_support.py::test_answer"
RAG = "evals/test_rag.py::test_retrieval"

ANSWERS = [
    "You can request a refund within 30 days of purchase from the Orders page.",
    "Refunds go back to the original payment method within 5 business days.",
    "To reset your password, click 'Forgot password' on the sign-in page.",
    "We ship to the EU, the UK and North America; shipping takes 3 to 7 days.",
    "Your subscription renews monthly; cancel any time under Settings > Billing.",
]


def _verdict(case_id: str, value: float, consistent: bool, reason: str, error: str | None = None) -> JudgeVerdict:
    if error is not None:
        return JudgeVerdict(
            rubric="correctness",
            rubric_version="3",
            kind="pairwise",
            against="baseline",
            metric="judge:correctness",
            error=error,
            provider="offline:overlap",
            calls=[JudgeCall(order="forward", error=error, attempts=3)],
        )
    forward = "A" if value >= 0.5 else "B"
    swapped = ("B" if value >= 0.5 else "A") if consistent else forward
    return JudgeVerdict(
        rubric="correctness",
        rubric_version="3",
        kind="pairwise",
        against="baseline",
        metric="judge:correctness",
        value=value,
        label="win" if value == 1.0 else ("tie" if value == 0.5 else "loss"),
        consistent=consistent,
        first_position_preferred=1 if consistent else 2,
        provider="offline:overlap",
        calls=[
            JudgeCall(
                order="forward",
                preference=forward,
                reason=f"forward: {reason}",
                attempts=1,
                input_tokens=412,
                output_tokens=57,
            ),
            JudgeCall(order="swapped", preference=swapped, reason=f"swapped: {reason}", cached=True),
        ],
    )


def make_results(n_cases: int = 12, *, seed: int = 7, failing: bool = True) -> RunResults:
    """A two-suite run with a baseline, a judge, retrieval details, calibration and a verdict."""
    rng = random.Random(seed)
    support_cases: dict[str, CaseResult] = {}
    base_cases: dict[str, BaselineCase] = {}
    changes: list[CaseChange] = []
    for i in range(n_cases):
        case_id = f"refund-{i:03d}"
        answer = ANSWERS[i % len(ANSWERS)]
        old = answer
        new = answer[:-1] + ", but only within 14 days." if (failing and i % 4 == 1) else answer
        passed = not (failing and i % 6 == 1)
        base_passed = i % 6 != 5
        correctness = 0.0 if new != old else (1.0 if i % 3 else 0.5)
        consistent = correctness != 0.5
        verdict = (
            _verdict(
                case_id, correctness, consistent, f"Answer {'matches' if new == old else 'contradicts'} the policy."
            )
            if i != 2
            else _verdict(case_id, 0.0, True, "", error="judge returned malformed JSON 3 times")
        )
        metrics = {"checks_passed": 1.0 if passed else 0.0, "recall@5": rng.choice([0.5, 1.0])}
        if verdict.value is not None:
            metrics["judge:correctness"] = verdict.value
        support_cases[case_id] = CaseResult(
            case_id=case_id,
            nodeid=f"{SUITE}[{case_id}]",
            case={
                "id": case_id,
                "input": f"Question {i}: how do refunds work?",
                "reference": old,
                "relevant": ["doc-1", "doc-7"],
            },
            output=new,
            passed=passed,
            failure=None if passed else "AssertionError: expected '30 days' in output",
            metrics=metrics,
            details={"retrieval": {"ranks": {"doc-1": 1, "doc-7": None}, "retrieved": ["doc-1", "doc-3", "doc-9"]}},
            judge=[verdict],
            duration=0.12,
        )
        base_cases[case_id] = BaselineCase(
            passed=base_passed,
            metrics={"checks_passed": 1.0 if base_passed else 0.0, "recall@5": 1.0, "judge:correctness": 0.5},
            output=old,
        )
        if not passed:
            changes.append(
                CaseChange(
                    suite=SUITE,
                    case_id=case_id,
                    nodeid=f"{SUITE}[{case_id}]",
                    kind="known_failing" if not base_passed else "newly_failing",
                    failure="expected '30 days'",
                )
            )
        elif not base_passed:
            changes.append(CaseChange(suite=SUITE, case_id=case_id, nodeid=f"{SUITE}[{case_id}]", kind="fixed"))
    specs = {
        "checks_passed": MetricSpec(name="checks_passed", kind="binary"),
        "recall@5": MetricSpec(name="recall@5"),
        "judge:correctness": MetricSpec(name="judge:correctness"),
    }
    rag_cases = {
        f"q-{i}": CaseResult(
            case_id=f"q-{i}",
            nodeid=f"{RAG}[q-{i}]",
            case={"query": f"where is doc {i}?"},
            output={"retrieved": ["doc-1", f"doc-{i}"]},
            metrics={"mrr": 1.0 / (1 + i % 3)},
            details={"retrieval": {"ranks": {f"doc-{i}": 1 + i % 3}, "retrieved": ["doc-1", f"doc-{i}"]}},
        )
        for i in range(4)
    }
    status = "FAIL" if failing else "PASS"
    return RunResults(
        plugin_version="0.1.0",
        created_at="2025-05-01T12:00:00Z",
        duration=42.5,
        git_commit="0123abcd",
        git_dirty=True,
        judge_provider="offline:overlap",
        settings={"alpha": 0.05, "tolerance": 0.02},
        suites={
            SUITE: SuiteResult(suite=SUITE, dataset="datasets/support.jsonl", metrics=specs, cases=support_cases),
            RAG: SuiteResult(
                suite=RAG, dataset="datasets/rag.jsonl", metrics={"mrr": MetricSpec(name="mrr")}, cases=rag_cases
            ),
        },
        baselines={
            SUITE: Baseline(suite=SUITE, dataset="datasets/support.jsonl", metrics=specs, cases=base_cases),
            RAG: None,
        },
        verdicts=[
            SuiteVerdict(
                suite=SUITE,
                baseline_path="baselines/support.json",
                metrics=[
                    MetricVerdict(
                        suite=SUITE,
                        metric="judge:correctness",
                        kind="continuous",
                        higher_is_better=True,
                        n_paired=n_cases - 1,
                        baseline_mean=0.5,
                        current_mean=0.41,
                        diff=-0.09,
                        ci_low=-0.2,
                        ci_high=-0.01,
                        p_value=0.012,
                        p_adjusted=0.036,
                        test="wilcoxon",
                        tolerance=0.02,
                        alpha=0.05,
                        mde=0.08,
                        status="fail" if failing else "pass",
                        reason="Mean dropped by 0.090 (tolerance 0.020), p=0.036.",
                    ),
                    MetricVerdict(
                        suite=SUITE,
                        metric="checks_passed",
                        kind="binary",
                        higher_is_better=True,
                        n_paired=n_cases,
                        baseline_mean=0.833,
                        current_mean=0.75,
                        diff=-0.083,
                        ci_low=-0.25,
                        ci_high=0.05,
                        p_value=0.25,
                        p_adjusted=0.5,
                        test="mcnemar-exact",
                        tolerance=0.02,
                        alpha=0.05,
                        mde=0.3,
                        status="underpowered",
                        reason="Too few cases to see a drop of 0.020.",
                    ),
                ],
                cases=changes,
            ),
            SuiteVerdict(
                suite=RAG,
                baseline_path="baselines/rag.json",
                problems=["No baseline for this suite. Re-run with --llm-gate-update to create it."],
            ),
        ],
        judge_stats={
            "correctness": RubricStats(
                rubric="correctness",
                verdicts=n_cases,
                errors=1,
                calls=n_cases + 2,
                cache_hits=n_cases - 1,
                input_tokens=4120,
                output_tokens=570,
                swapped_pairs=n_cases - 1,
                consistent_pairs=n_cases - 4,
                first_position_rate=0.58,
            ),
        },
        calibration={
            "correctness": {
                "confusion": [[14, 3], [2, 21]],
                "labels": ["fail", "pass"],
                "kappa": {"value": 0.74, "low": 0.52, "high": 0.9},
                "accuracy": 0.875,
                "n_labels": 40,
            }
        },
        gate=GateResult(
            status=status,
            passed=not failing,
            reasons=["judge:correctness dropped by 0.090 in evals/test_support.py::test_answer (p=0.036)."]
            if failing
            else [],
            remedy="Fix the regression, or re-run with --llm-gate-update to accept the new scores."
            if failing
            else None,
        ),
    )


def _by_id(data: dict, case_id: str) -> dict:
    """The case's entry with its pooled texts resolved."""
    case = dict(next(case for case in data["cases"] if case["id"] == case_id))
    for key in ("fail", "in", "ref", "case", "out", "bout", "det"):
        if case[key] is not None:
            case[key] = data["strings"][case[key]]
    return case


def test_case_statuses_follow_baseline_and_verdicts():
    data = build_case_data(make_results())
    assert data["against"] == "baseline"
    # refund-001: 30 -> 14 days, judged a loss (0.0 vs baseline 0.5), newly failing per the verdict.
    one = _by_id(data, "refund-001")
    assert one["tags"] == ["regressed", "newly_failing"]
    assert one["worst"] == -1.0  # checks_passed 1 -> 0
    assert one["bout"] != one["out"] and "14 days" in one["out"]
    # refund-003: a win (1.0 vs 0.5), recall unchanged or lower depending on the draw.
    three = _by_id(data, "refund-003")
    expected = "regressed" if three["m"]["recall@5"] < 1.0 else "improved"
    assert three["tags"][0] == expected
    # refund-005 failed in the baseline and passes now: fixed.
    assert "fixed" in _by_id(data, "refund-005")["tags"]
    # Judge error and inconsistency are tags of their own; an errored verdict has no metric value.
    two = _by_id(data, "refund-002")
    assert "judge_error" in two["tags"] and "judge:correctness" not in two["m"]
    assert "judge_inconsistent" in _by_id(data, "refund-000")["tags"]  # tie: orders disagree
    # Input / reference / the rest of the case are split out; retrieval ranks keep null for "not retrieved".
    assert one["in"] == "Question 1: how do refunds work?"
    assert json.loads(one["case"]) == {"id": "refund-001", "relevant": ["doc-1", "doc-7"]}
    assert one["ret"] == {"ranks": [["doc-1", 1], ["doc-7", None]], "retrieved": ["doc-1", "doc-3", "doc-9"]}
    # A suite without a baseline has no reference values and no regressed/improved tags.
    rag = _by_id(data, "q-1")
    assert rag["b"] is None and rag["bout"] is None and rag["tags"] == []
    assert rag["in"] == "where is doc 1?" and json.loads(rag["out"]) == {"retrieved": ["doc-1", "doc-1"]}
    # Each distinct text is stored once: refund-000's output, reference and baseline output are one string.
    zero = next(case for case in data["cases"] if case["id"] == "refund-000")
    assert zero["out"] == zero["ref"] == zero["bout"]
    assert len(data["strings"]) == len(set(data["strings"]))
    reasons = [call["reason"] for call in zero["j"][0]["calls"]]
    assert data["strings"][reasons[0]] == "forward: Answer matches the policy."


def test_compare_uses_the_earlier_run_as_before():
    before = make_results(failing=False)
    now = make_results(failing=True)
    data = build_case_data(now, before)
    assert data["against"] == "before"
    one = _by_id(data, "refund-001")
    # In the earlier run refund-001 passed with the old answer: it is newly failing relative to it.
    assert one["bok"] is True and "newly_failing" in one["tags"]
    assert one["bout"] == ANSWERS[1] and "14 days" in one["out"]
    # The rag suite has no baseline but exists in the earlier run: now it is compared.
    assert _by_id(data, "q-1")["b"] == {"mrr": 0.5}


def test_embedded_json_cannot_close_its_script_tag():
    hostile = {"x": "</script><script>alert(1)</script><!-- & \u2028\u2029 \ud800"}
    text = str(embed_json(hostile))
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert re.fullmatch(r"[\x20-\x7e]*", text)
    # A lone surrogate shows as its escape, as in every file the plugin writes (_files.printable).
    assert json.loads(text) == {"x": printable(hostile["x"])}


def test_small_report_embeds_plain_greppable_json():
    results = make_results()
    html = render_html_string(results)
    data = build_case_data(results)
    assert len(str(embed_json(data))) <= report_html.COMPRESS_ABOVE
    assert 'id="llmgate-data" data-encoding' not in html
    assert '<script type="application/json" id="llmgate-data">' + str(embed_json(data)) + "</script>" in html
    assert "refund-001" in html and "how do refunds work?" in html  # greppable
    assert read_case_data(html) == data


def test_large_report_embeds_compressed_data_that_round_trips():
    results = make_results(n_cases=2000)
    data = build_case_data(results)
    plain = str(embed_json(data))
    assert len(plain) > report_html.COMPRESS_ABOVE
    html = render_html_string(results)
    match = re.search(
        r'<script type="application/octet-stream" id="llmgate-data" data-encoding="gzip\+base64">([^<]*)</script>', html
    )
    assert match is not None
    payload = match.group(1)
    assert re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", payload)  # base64 only: inert inside <script>
    raw = gzip.decompress(base64.b64decode(payload, validate=True))
    assert raw.decode("ascii") == plain  # exactly the plain block's text, compressed
    assert read_case_data(html) == data
    # The case text is no longer in the file in clear, and the whole report is several times smaller.
    assert "how do refunds work?" not in html
    assert len(html.encode("utf-8")) * 5 < len(plain)
    assert render_html_string(results) == html  # gzip with a fixed mtime: byte-identical reruns


def test_compression_threshold_is_on_the_json_size(monkeypatch):
    results = make_results()
    plain = str(embed_json(build_case_data(results)))
    monkeypatch.setattr(report_html, "COMPRESS_ABOVE", len(plain))
    assert 'id="llmgate-data" data-encoding' not in render_html_string(results)
    monkeypatch.setattr(report_html, "COMPRESS_ABOVE", len(plain) - 1)
    html = render_html_string(results)
    assert 'id="llmgate-data" data-encoding="gzip+base64"' in html
    assert read_case_data(html) == build_case_data(results)


def test_read_case_data_rejects_what_is_not_a_report():
    html = render_html_string(make_results(n_cases=2000))
    with pytest.raises(ValueError, match="no llmgate-data block"):
        read_case_data("<html><body>hello</body></html>")
    corrupt = re.sub(r'(data-encoding="gzip\+base64">)([A-Za-z0-9+/]{8})', r"\1AAAAAAAA", html, count=1)
    assert corrupt != html
    with pytest.raises(ValueError, match="compressed case data is corrupt"):
        read_case_data(corrupt)
    with pytest.raises(ValueError, match="unknown encoding 'zstd'"):
        read_case_data(html.replace('data-encoding="gzip+base64"', 'data-encoding="zstd"'))


def test_calibration_is_rendered_generically():
    from pytest_llmgate.report.html import _calibration_view

    nested = {
        "n_labels": 40,
        "calibrated": None,
        "agreement": {
            "kappa": {"value": 0.74, "low": 0.52, "high": 0.9, "method": "bootstrap-percentile", "seed": 1},
            "confusion": {"labels": ["loss", "tie", "win"], "matrix": [[5, 1, 0], [1, 4, 2], [0, 1, 6]]},
        },
    }
    flat = {"confusion": [[14, 3], [2, 21]], "labels": ["fail", "pass"]}
    blocks = {
        b["rubric"]: b
        for b in _calibration_view({"a": nested, "b": flat, "c": "oops", "d": {"confusion": [[1], [2, 3]]}})
    }
    a = blocks["a"]
    assert a["matrix"]["rows"] == ["loss", "tie", "win"] and [c["value"] for c in a["matrix"]["cells"]][:3] == [
        "5",
        "1",
        "0",
    ]
    assert {e["key"]: e["text"] for e in a["entries"]} == {
        "agreement.kappa": "0.740 [0.520, 0.900] (bootstrap-percentile)",
        "calibrated": "—",
        "n_labels": "40",
    }
    assert blocks["b"]["matrix"]["cols"] == ["fail", "pass"] and blocks["b"]["entries"] == []
    assert blocks["c"]["raw"] == "oops"
    # A ragged matrix is not drawn; it is listed as text instead of crashing.
    assert blocks["d"]["matrix"] is None and blocks["d"]["entries"] == [{"key": "confusion", "text": "[[1], [2, 3]]"}]
