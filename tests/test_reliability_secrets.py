"""A judge URL with credentials (`http://user:password@host/v1`) is used, and written nowhere:
not in the results, report, markdown, step summary, JUnit, baseline, shard and merged files,
nor in the terminal log. Reports name the judge `provider:model`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_provider import FakeProvider

from pytest_llmgate.cli import main

CANARY = "CANARY123pass"
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
TEST_FILE = """
import pytest


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference if case.id != "q-3" else "no idea"})
    llm_gate.judge("correctness")
"""
RUBRIC = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: Same facts as the reference.
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "datasets").mkdir()
    lines = [json.dumps({"id": f"q-{i}", "input": f"crate {i}?", "reference": f"Crate {i}."}) for i in range(6)]
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


def _files_with(root: Path, needle: str) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    )


def test_a_credentialed_judge_url_is_written_nowhere(
    project: pytest.Pytester, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = fake_provider.url.removeprefix("http://")
    judge = ("--llm-gate-judge", f"openai-compatible:llama3@http://u:{CANARY}@{host}/v1")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.path / "step-summary.md"))
    logs = []
    for args in (
        ("--llm-gate-update",),
        ("--junitxml", "junit.xml"),
        ("--llm-gate-shard", "1/2"),
        ("--llm-gate-shard", "2/2"),
        ("--llm-gate-batch",),
    ):
        result = project.runpytest(*GATE, *judge, *args)
        logs.append(result.stdout.str() + result.stderr.str())
        assert result.ret in (0, 1), logs[-1]
    assert fake_provider.request_count > 0  # the judge was reached through the credentialed URL
    reports = project.path / "reports"
    shards = sorted(str(p) for p in reports.glob("llm-gate.shard-*.json"))
    assert len(shards) == 2
    merged = CliRunner().invoke(
        main, ["merge", *shards, "-o", str(reports / "merged.json"), "--html", str(reports / "merged.html")]
    )
    logs.append(merged.output)
    assert merged.exit_code in (0, 1), merged.output

    assert _files_with(project.path, CANARY) == []
    for log in logs:
        assert CANARY not in log
    results = json.loads((reports / "llm-gate.json").read_text(encoding="utf-8"))
    assert results["judge_provider"] == "openai-compatible:llama3"
    assert results["settings"]["judge"] == f"openai-compatible:llama3@http://{host}/v1"
    html = (reports / "llm-gate.html").read_text(encoding="utf-8")
    assert "<dt>Judge</dt><dd>openai-compatible:llama3</dd>" in html
    assert "judge openai-compatible:llama3" in (reports / "llm-gate.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("openai-compatible:m@http://u:p4ss@10.0.0.1:8000/v1", "openai-compatible:m@http://10.0.0.1:8000/v1"),
        ("see https://token@example.com/x and http://a:b@c/d", "see https://example.com/x and http://c/d"),
        ("openai-compatible:m@http://127.0.0.1:8000/v1", "openai-compatible:m@http://127.0.0.1:8000/v1"),
        ("mail me at a@b.c", "mail me at a@b.c"),
    ],
)
def test_user_info_is_dropped_from_every_url(text: str, shown: str) -> None:
    from pytest_llmgate._redact import without_credentials

    assert without_credentials(text) == shown


def test_reports_of_an_older_results_file_name_the_judge_provider_model() -> None:
    from test_report_data import make_results

    from pytest_llmgate.report.html import render_html_string
    from pytest_llmgate.report.markdown import render_markdown
    from pytest_llmgate.report.terminal import render

    results = make_results(4)
    results.judge_provider = f"openai-compatible:llama3@http://u:{CANARY}@127.0.0.1:9/v1 + anthropic:claude-x"
    html = render_html_string(results)
    assert "<dt>Judge</dt><dd>openai-compatible:llama3 + anthropic:claude-x</dd>" in html
    assert "judge openai-compatible:llama3 + anthropic:claude-x" in render_markdown(results)
    assert "judge: openai-compatible:llama3 + anthropic:claude-x" in render(results, width=200, color=False)
    for text in (html, render_markdown(results), render(results, width=200, color=False)):
        assert CANARY not in text and "127.0.0.1:9" not in text


def test_a_budget_usage_error_does_not_echo_the_url_credentials(project: pytest.Pytester) -> None:
    judge = f"openai-compatible:llama3@http://u:{CANARY}@127.0.0.1:9/v1"
    result = project.runpytest(*GATE, "--llm-gate-judge", judge, "--llm-gate-budget-usd", "1")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "needs the judge's price, and openai-compatible:llama3@http://127.0.0.1:9/v1 has none" in out
    assert CANARY not in out
