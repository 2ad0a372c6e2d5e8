"""Judge metrics in JUnit XML: they arrive after pytest wrote each test case, so they are added
to the file pytest's junitxml plugin wrote, at the end of the session."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytest_llmgate._files import atomic_write_text
from pytest_llmgate.gate.records import CaseResult, RunResults

PREFIX = "llm_gate."


def _junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml derives them from a node id."""
    parts = nodeid.split("::")
    module = parts[0].replace(".py", "").replace("/", ".")
    return ".".join([module, *parts[1:-1]]), parts[-1]


def add_metric_properties(xml_path: Path, results: RunResults) -> None:
    """Add every case metric missing from its <testcase> as a property `llm_gate.<metric>`."""
    tree = ET.parse(xml_path)
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
    if changed:
        atomic_write_text(xml_path, ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True))
