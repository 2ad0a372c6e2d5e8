"""A small gated session's fixed cost: the modules that take most of a second to import stay
unimported unless the session needs them (benchmarks/scale_bench.py has the timings)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from gate_project import make_project

from pytest_llmgate.session.warmup import Warmup

#: Written at the very end of the session, after the gate and the reports: what was imported.
CONFTEST = """
import sys


def pytest_unconfigure(config):
    heavy = ("scipy.stats", "anthropic", "openai", "pandas", "pytest_llmgate.judge.providers", "pytest_llmgate.judge.rubrics")
    heavy = sorted(m for m in heavy if m in sys.modules)
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


def test_warmup_runs_steps_only_while_the_wait_lasts() -> None:
    ran: list[int] = []
    steps = tuple((lambda i=i: ran.append(i)) for i in range(5))
    warmup = Warmup(steps)
    warmup.while_waiting(lambda: len(ran) >= 2)  # the output arrives after two steps
    assert ran == [0, 1]
    warmup.while_waiting(lambda: True)  # nothing to wait for: no step runs
    assert ran == [0, 1]
    warmup.while_waiting(lambda: False)  # a long wait: the rest, each once
    warmup.while_waiting(lambda: False)
    assert ran == [0, 1, 2, 3, 4]


def test_warmup_step_that_fails_is_skipped_and_disable_drops_the_rest() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ImportError("no such module")

    warmup = Warmup((broken, lambda: ran.append("after")))
    warmup.while_waiting(lambda: False)
    assert ran == ["after"]
    worker = Warmup((lambda: ran.append("worker"),))
    worker.disable()
    worker.while_waiting(lambda: False)
    assert ran == ["after"]


#: Run in a fresh interpreter: what the steps load, which was not loaded before them.
WARMUP_PROBE = """
import sys
from pytest_llmgate.session.warmup import Warmup
wanted = ("numpy", "scipy.special", "jinja2", "rich.console", "pytest_llmgate.report.html")
before = [m for m in wanted if m in sys.modules]
Warmup().while_waiting(lambda: False)
from pytest_llmgate.report import html
print(" ".join(before), "|", " ".join(m for m in wanted if m in sys.modules), "|", len(html._environment().cache))
"""


def test_warmup_steps_load_what_the_end_of_the_session_imports() -> None:
    probe = subprocess.run([sys.executable, "-c", WARMUP_PROBE], capture_output=True, text=True, check=True)
    before, after, templates = (part.strip() for part in probe.stdout.split("|"))
    assert before == ""
    assert after.split() == ["numpy", "scipy.special", "jinja2", "rich.console", "pytest_llmgate.report.html"]
    assert templates == "1", "the report's template is compiled"


#: At the start of the end of the session (before the gate runs): what is loaded already.
LOADED_AT_FINISH = """
import sys

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    wanted = ("numpy", "scipy.special", "jinja2", "rich.console")
    with open("loaded.txt", "w", encoding="utf-8") as f:
        f.write(" ".join(m for m in wanted if m in sys.modules))
"""

SLOW_SUT_TEST = """
import time

import pytest


def ask(case):
    time.sleep(0.2)
    return {"answer": case.reference}


@pytest.mark.golden("cases.jsonl", sut=ask)
def test_case(case, output, llm_gate):
    assert output["answer"]
"""


def test_a_session_that_waits_on_its_sut_loads_the_gate_and_report_while_waiting(pytester: pytest.Pytester) -> None:
    lines = [f'{{"id": "c-{i}", "input": "q{i}", "reference": "a{i}"}}' for i in range(10)]
    pytester.makefile(".jsonl", cases="\n".join(lines))
    pytester.makepyfile(test_slow=SLOW_SUT_TEST)
    pytester.makeconftest(LOADED_AT_FINISH)
    # One call at a time, 0.2 s each: the main thread waits 2 s in all, in ten waits (room for
    # the steps' 0.5 s on a loaded machine).
    gate = ("--llm-gate-update", "--llm-gate-no-progress", "--llm-gate-sut-concurrency", "1")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *gate)
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / "loaded.txt").read_text(encoding="utf-8").split() == [
        "numpy",
        "scipy.special",
        "jinja2",
        "rich.console",
    ]
