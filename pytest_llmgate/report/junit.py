"""The gate in JUnit XML. Judge metrics arrive after pytest wrote each test case, and the gate's
verdict only at the end of the session, so both are added to the file pytest's junitxml plugin
wrote: metrics as properties of their test case, the verdict as a test case of its own
(`llm_gate.gate`), failing when the gate fails, so CI dashboards that read JUnit see it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytest_llmgate._files import atomic_write_text
from pytest_llmgate.gate.records import CaseResult, GateResult, RunResults

PREFIX = "llm_gate."
#: classname and name of the test case that carries the gate's verdict.
GATE_CLASSNAME = "llm_gate"
GATE_NAME = "gate"


def _junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml derives them from a node id."""
    parts = nodeid.split("::")
    module = parts[0].replace(".py", "").replace("/", ".")
    return ".".join([module, *parts[1:-1]]), parts[-1]


def amend_junit(xml_path: Path, results: RunResults) -> None:
    """Add the case metrics and the gate's verdict to the JUnit file pytest wrote (rewritten atomically)."""
    tree = ET.parse(xml_path)
    _add_metric_properties(tree, results)
    _add_gate_case(tree, results)
    atomic_write_text(xml_path, ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True))


def add_metric_properties(xml_path: Path, results: RunResults) -> None:
    """Add every case metric missing from its <testcase> as a property `llm_gate.<metric>`."""
    tree = ET.parse(xml_path)
    if _add_metric_properties(tree, results):
        atomic_write_text(xml_path, ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True))


def _reason_line(reason: object) -> str:
    line = getattr(reason, "line", None)  # a typed `Reason` renders itself; a plain reason is its text
    return str(line() if callable(line) else reason)


def gate_failure_text(gate: GateResult) -> tuple[str, str]:
    """(message, body) of the gate's <failure>: the status and first reason; then every reason and the remedy."""
    reasons = [_reason_line(reason) for reason in gate.reasons]
    message = f"LLM gate: {gate.status}" + (f": {reasons[0]}" if reasons else "")
    if len(reasons) > 1:
        message += f" (and {len(reasons) - 1} more)"
    body = [f"LLM gate: {gate.status}", *(f"  - {line}" for line in reasons)]
    if gate.remedy:
        body.append(gate.remedy)
    return message, "\n".join(body)


def _add_gate_case(tree: ET.ElementTree[ET.Element], results: RunResults) -> None:
    """The gate's verdict as `<testcase classname="llm_gate" name="gate">` in the first test suite,
    with a <failure> when the build fails; the suite's `tests` and `failures` counts follow."""
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    counted = [suite, root] if root is not suite and root.get("tests") is not None else [suite]
    for old in suite.findall("testcase"):
        if (old.get("classname"), old.get("name")) == (GATE_CLASSNAME, GATE_NAME):
            suite.remove(old)
            for element in counted:
                _bump(element, "tests", -1)
                if old.find("failure") is not None:
                    _bump(element, "failures", -1)
    gate = results.gate
    case = ET.SubElement(suite, "testcase", classname=GATE_CLASSNAME, name=GATE_NAME, time=f"{results.duration:.3f}")
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name=PREFIX + "status", value=str(gate.status))
    ET.SubElement(properties, "property", name=PREFIX + "passed", value=str(gate.passed).lower())
    for element in counted:
        _bump(element, "tests", 1)
    if gate.passed:
        if gate.reasons:  # e.g. INCONCLUSIVE without fail_inconclusive: shown, not failed
            ET.SubElement(case, "system-out").text = gate_failure_text(gate)[1]
        return
    message, body = gate_failure_text(gate)
    failure = ET.SubElement(case, "failure", message=message)
    failure.text = body
    for element in counted:
        _bump(element, "failures", 1)


def _bump(element: ET.Element, attribute: str, by: int) -> None:
    try:
        count = int(element.get(attribute, "0"))
    except ValueError:
        return
    element.set(attribute, str(max(0, count + by)))


def _add_metric_properties(tree: ET.ElementTree[ET.Element], results: RunResults) -> bool:
    """Add every case metric missing from its <testcase> as a property; True when one was added."""
    by_key: dict[tuple[str, str], CaseResult] = {}
    for suite in results.suites.values():
        for case_result in suite.cases.values():
            by_key[_junit_key(case_result.nodeid)] = case_result
    changed = False
    for testcase in tree.getroot().iter("testcase"):
        case = by_key.get((testcase.get("classname", ""), testcase.get("name", "")))
        if case is None:
            continue
        properties = testcase.find("properties")
        present = set() if properties is None else {p.get("name") for p in properties.iter("property")}
        for metric, value in sorted(case.metrics.items()):
            name = PREFIX + metric
            if name in present:
                continue
            if properties is None:
                properties = ET.Element("properties")
                testcase.insert(0, properties)
            ET.SubElement(properties, "property", name=name, value=str(value))
            changed = True
    return changed
