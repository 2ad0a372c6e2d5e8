"""A small gated session's fixed cost: the modules that take most of a second to import stay
unimported unless the session needs them (benchmarks/scale_bench.py has the timings)."""

from __future__ import annotations

import pytest
from gate_project import make_project

#: Written at the very end of the session, after the gate and the reports: what was imported.
CONFTEST = """
import sys


def pytest_unconfigure(config):
    heavy = sorted(m for m in ("scipy.stats", "anthropic", "openai", "pandas") if m in sys.modules)
    with open("imported.txt", "w", encoding="utf-8") as f:
        f.write(" ".join(heavy))
"""


def test_gated_session_without_labels_or_judge_never_imports_scipy_stats(pytester: pytest.Pytester) -> None:
    make_project(pytester, n=30)
    pytester.makeconftest(CONFTEST)
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llm-gate-update").ret == 0
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
    assert result.ret == 0, result.stdout.str()
    # The gate did compare (paired tests and detectable drops need t and binomial tails) ...
    result.stdout.fnmatch_lines(["*LLM gate*PASS*"])
    # ... with scipy.special alone.
    assert (pytester.path / "imported.txt").read_text(encoding="utf-8") == ""
