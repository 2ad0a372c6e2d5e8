"""JUnit XML carries the gate's verdict as a test case of its own (`llm_gate.gate`): failing,
with the reasons, when the gate fails, so a CI dashboard that reads JUnit does not show a
FAILed gate as `failures="0"`; passing when the gate passes. Serial and `-n 2` agree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from gate_project import make_project

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--junitxml=junit.xml")


def _gate_case(pytester: pytest.Pytester) -> tuple[ET.Element, ET.Element]:
    root = ET.parse(pytester.path / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = [c for c in suite.iter("testcase") if (c.get("classname"), c.get("name")) == ("llm_gate", "gate")]
    assert len(cases) == 1, ET.tostring(root, encoding="unicode")
    return suite, cases[0]


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_failed_gate_is_a_failing_testcase_with_its_reasons(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    make_project(pytester, 40)
    monkeypatch.setenv("GATE_MODE", "good")
    assert pytester.runpytest(*GATE, "--llm-gate-update").ret == 0
    suite, case = _gate_case(pytester)
    assert case.find("failure") is None
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["llm_gate.passed"] == "true"
    failures_when_passed = int(suite.get("failures", "0"))

    monkeypatch.setenv("GATE_MODE", "worse-retrieval")
    result = pytester.runpytest(*GATE, *workers)
    assert result.ret == 1
    assert "LLM gate: FAIL" in result.stdout.str()
    suite, case = _gate_case(pytester)
    failure = case.find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert message.startswith("LLM gate: FAIL: test_qa.py::test_qa: "), message
    assert "mrr" in (failure.text or "") and "recall@1" in (failure.text or "")
    assert int(suite.get("failures", "0")) == failures_when_passed + 1
    tests = len(list(suite.iter("testcase")))
    assert int(suite.get("tests", "0")) == tests == 41
