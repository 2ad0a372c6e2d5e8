"""The package's import graph has no circle: every arrow points down the flow of DESIGN.md.

Imports are read from the source wherever they stand: top level, inside functions (a lazy
import still ties two modules together) and under `if TYPE_CHECKING:` (a module that names
another's types knows it as well as one that calls it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_llmgate

PACKAGE = Path(pytest_llmgate.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module name -> the package's modules it imports at run time."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_known_edges() -> None:
    graph = import_graph()
    assert "pytest_llmgate.gate.records" in graph["pytest_llmgate.session.state"]
    assert "pytest_llmgate.config" in graph["pytest_llmgate.plugin"]


def test_a_planted_circle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_in_the_package() -> None:
    assert cycles(import_graph()) == []


#: Modules that are command-line entry points: they may import across layers to drive them.
CLI_MODULES = {"pytest_llmgate.cli", "pytest_llmgate.gate.commands", "pytest_llmgate.report.commands"}
#: (importer prefix, forbidden prefixes): the "never" arrows of the flow (DESIGN.md, CONTRIBUTING.md).
NEVER = [
    ("pytest_llmgate.gate", ("pytest_llmgate.judge", "pytest_llmgate.session", "pytest_llmgate.report")),
    ("pytest_llmgate.report", ("pytest_llmgate.session", "pytest_llmgate.plugin")),
    ("pytest_llmgate.session", ("pytest_llmgate.plugin", "pytest_llmgate.recorder")),
]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def forbidden_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Every import that one of the NEVER rules forbids, as `importer -> imported`."""
    found = []
    for importer, targets in sorted(graph.items()):
        if importer in CLI_MODULES:
            continue
        for prefix, banned in NEVER:
            if not _under(importer, prefix):
                continue
            found += [f"{importer} -> {t}" for t in sorted(targets) if any(_under(t, b) for b in banned)]
    return found


def test_a_planted_forbidden_arrow_is_found() -> None:
    graph = {
        "pytest_llmgate.gate.verdict": {"pytest_llmgate.judge.providers", "pytest_llmgate.gate.stats"},
        "pytest_llmgate.gate.commands": {"pytest_llmgate.report.html"},
        "pytest_llmgate.report.terminal": {"pytest_llmgate.session.state"},
    }
    assert forbidden_arrows(graph) == [
        "pytest_llmgate.gate.verdict -> pytest_llmgate.judge.providers",
        "pytest_llmgate.report.terminal -> pytest_llmgate.session.state",
    ]


def test_no_forbidden_arrow_in_the_package() -> None:
    assert forbidden_arrows(import_graph()) == []
