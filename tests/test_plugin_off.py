"""Without --llm-gate the plugin stays out of the way: skips, no files, no output, no heavy imports."""

from __future__ import annotations

import sys

import pytest
from gate_project import make_project


def test_without_flag_eval_tests_are_skipped_with_the_flag_named(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    before = sorted(p.name for p in pytester.path.rglob("*"))
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*LLM gate evals run with --llm-gate*"])
    result.stdout.no_fnmatch_line("*LLM gate ==*")
    after = sorted(p.name for p in pytester.path.rglob("*") if "__pycache__" not in p.parts)
    assert [p for p in after if p != "__pycache__" and not p.endswith(".pyc")] == before


def test_llm_gate_fixture_alone_is_skipped(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("def test_x(llm_gate):\n    raise AssertionError('must not run')\n")
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*LLM gate evals run with --llm-gate*"])


def test_without_flag_no_heavy_module_is_imported(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makeconftest(
        "import sys\n"
        "def pytest_unconfigure(config):\n"
        "    heavy = ('pydantic', 'pandas', 'scipy', 'numpy', 'rich', 'anthropic', 'openai', 'jinja2')\n"
        "    loaded = [m for m in heavy if m in sys.modules]\n"
        "    print('HEAVY=' + ','.join(loaded))\n"
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["HEAVY="])
    assert sys.executable  # the subprocess ran with this interpreter


def test_golden_test_without_case_argument_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("import pytest\n@pytest.mark.golden('datasets/qa.jsonl')\ndef test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_x: a test marked @pytest.mark.golden must take a 'case' argument."])
    result.stdout.no_fnmatch_line("*Traceback*")
