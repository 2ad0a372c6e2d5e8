"""The GitHub Action: its action.yml schema, the PR comment body (markdown from a results
file, cut safely under GitHub's limit), and update-or-create against a fake GitHub API on
127.0.0.1 (paged listing, create, edit; the token sent, never printed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fake_github import TOKEN, FakeGitHub, serve_fake_github
from fake_github import fake_github as fake_github  # the fixture
from test_report_data import make_results

from pytest_llmgate.cli import main
from pytest_llmgate.github import (
    GITHUB_MAX_CHARS,
    MARKER,
    GitHub,
    GitHubError,
    _units,
    body_for_results,
    comment_body,
    pull_request_number,
    upsert_comment,
)
from pytest_llmgate.report.markdown import render_markdown

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


# -- action.yml ----------------------------------------------------------------------------


def _action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def _expressions(node: object, key: str = "") -> list[str]:
    """Every expression in the file: inside `${{ }}`, and whole `if:` conditions."""
    if isinstance(node, str):
        found = EXPRESSION.findall(node)
        return found if found or key != "if" else [node]
    if isinstance(node, dict):
        return [s for k, value in node.items() for s in _expressions(value, k)]
    if isinstance(node, list):
        return [s for value in node for s in _expressions(value)]
    return []


SHELLS = ("bash", "pwsh", "python", "sh", "cmd", "powershell")


def action_problems(action: dict) -> list[str]:
    """What is wrong with an action file, by GitHub's metadata syntax for composite actions."""
    problems = [f"missing top-level key {key!r}" for key in ("name", "description", "runs") if key not in action]
    runs = action.get("runs") or {}
    if runs.get("using") != "composite":
        problems.append(f"runs.using must be 'composite' (got {runs.get('using')!r})")
    steps = runs.get("steps") or []
    if not steps:
        problems.append("runs.steps is empty")
    inputs = action.get("inputs") or {}
    for name, spec in inputs.items():
        if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
            problems.append(f"input {name!r} is not a lower-case id")
        if not (spec or {}).get("description"):
            problems.append(f"input {name!r} has no description")
    for name, spec in (action.get("outputs") or {}).items():
        if not (spec or {}).get("description") or not (spec or {}).get("value"):
            problems.append(f"output {name!r} needs a description and a value")
    step_ids = set()
    for i, step in enumerate(steps):
        where = f"step {i + 1} ({step.get('name', 'unnamed')})"
        if ("run" in step) == ("uses" in step):
            problems.append(f"{where} needs exactly one of 'run' and 'uses'")
        if "run" in step and step.get("shell") not in SHELLS:
            problems.append(f"{where} runs a script without a shell")
        if "run" in step and "${{" in step["run"]:
            problems.append(f"{where} interpolates an expression into its script (pass it through env)")
        if "uses" in step and not re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]):
            problems.append(f"{where} uses an action not pinned to a major version: {step['uses']!r}")
        if "id" in step:
            step_ids.add(step["id"])
    used = set()
    for expression in _expressions(action):
        for name in re.findall(r"\binputs\.([A-Za-z0-9_-]+)", expression):
            used.add(name)
            if name not in inputs:
                problems.append(f"{expression.strip()!r} names an unknown input {name!r}")
        for step_id in re.findall(r"\bsteps\.([A-Za-z0-9_-]+)\.", expression):
            if step_id not in step_ids:
                problems.append(f"{expression.strip()!r} names an unknown step {step_id!r}")
    problems += [f"input {name!r} is never used" for name in sorted(set(inputs) - used)]
    return problems


def test_the_action_file_is_valid() -> None:
    assert action_problems(_action()) == []


def _broken(change: str) -> dict:
    action = _action()
    steps = action["runs"]["steps"]
    if change == "not composite":
        action["runs"]["using"] = "node20"
    elif change == "no description":
        del action["description"]
    elif change == "run without shell":
        del next(s for s in steps if "run" in s)["shell"]
    elif change == "unknown input":
        steps[-1]["env"]["EXIT_CODE"] = "${{ inputs.exit_code }}"
    elif change == "unknown step":
        steps[-1]["if"] = "steps.pytest.outputs.exit-code != '0'"
    elif change == "unused input":
        action["inputs"]["extra"] = {"description": "never used", "default": "x"}
    elif change == "interpolated script":
        steps[1]["run"] = "python -m pip install ${{ inputs.install }}"
    elif change == "unpinned action":
        steps[0]["uses"] = "actions/setup-python@main"
    return action


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("not composite", "runs.using must be 'composite' (got 'node20')"),
        ("no description", "missing top-level key 'description'"),
        ("run without shell", "runs a script without a shell"),
        ("unknown input", "names an unknown input 'exit_code'"),
        ("unknown step", "names an unknown step 'pytest'"),
        ("unused input", "input 'extra' is never used"),
        ("interpolated script", "interpolates an expression into its script"),
        ("unpinned action", "not pinned to a major version: 'actions/setup-python@main'"),
    ],
)
def test_the_checks_catch_a_broken_action_file(change: str, problem: str) -> None:
    problems = action_problems(_broken(change))
    assert any(problem in p for p in problems), problems


def test_the_action_uploads_reports_and_comments_even_when_the_gate_fails() -> None:
    steps = _action()["runs"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    comment = next(s for s in steps if "github-comment" in s.get("run", ""))
    gate = next(s for s in steps if s.get("id") == "gate")
    assert "pytest" in gate["run"] and "set +e" in gate["run"]
    assert upload["if"].startswith("always()") and comment["if"].startswith("always()")
    assert steps.index(gate) < steps.index(upload) < steps.index(comment) < len(steps) - 1
    assert "exit" in steps[-1]["run"] and "steps.gate.outputs.exit-code" in steps[-1]["if"]
    assert comment["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"


# -- the comment body ----------------------------------------------------------------------


def _write_results(tmp_path: Path, **kwargs: object) -> Path:
    path = tmp_path / "llm-gate.json"
    path.write_text(make_results(**kwargs).model_dump_json(), encoding="utf-8")
    return path


def test_body_is_the_marker_and_the_results_markdown(tmp_path: Path) -> None:
    results = _write_results(tmp_path)
    body = body_for_results(results, run_url="https://github.com/o/r/actions/runs/7")
    assert body.startswith(MARKER + "\n## ❌ LLM gate: FAIL\n")
    assert render_markdown(make_results()) in body
    assert body.endswith("\n\nReports: [workflow run and artifact](https://github.com/o/r/actions/runs/7)\n")


def test_body_without_a_results_file_says_the_gate_stopped(tmp_path: Path) -> None:
    body = body_for_results(tmp_path / "missing.json", exit_code="4")
    assert body.startswith(MARKER + "\n## LLM gate: no results")
    assert "(pytest exit code 4)" in body


def test_a_short_body_is_not_truncated() -> None:
    markdown = "## LLM gate: PASS\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert comment_body(markdown) == MARKER + "\n" + markdown


@pytest.mark.parametrize("wide", [False, True])
def test_a_long_body_is_cut_on_a_line_under_the_limit(wide: bool) -> None:
    row = "| 🚀 case | 0.5 |" if wide else "| case-id-with-a-long-name | 0.500 | 0.400 |"
    markdown = "## LLM gate: FAIL\n\n| id | v |\n|---|---|\n" + "\n".join(f"{row} {i}" for i in range(20_000))
    body = comment_body(markdown, run_url="https://github.com/o/r/actions/runs/1")
    assert _units(body) <= GITHUB_MAX_CHARS and len(body) <= GITHUB_MAX_CHARS
    kept, note = body.split("\n\n_Summary truncated (")
    assert kept.splitlines()[-1].startswith(row)  # whole rows only
    shown, total = re.match(r"([\d,]+) of ([\d,]+) characters shown", note).groups()  # type: ignore[union-attr]
    assert int(total.replace(",", "")) == len(markdown.rstrip()) + 1
    assert body.endswith("(https://github.com/o/r/actions/runs/1)\n")


def test_a_cut_closes_an_open_code_fence() -> None:
    markdown = "## LLM gate\n\n```\n" + "x" * 70 + "\n" + ("y" * 70 + "\n") * 2000 + "```\n"
    body = comment_body(markdown)
    assert _units(body) <= GITHUB_MAX_CHARS
    assert body.count("```") % 2 == 0


def test_one_enormous_line_is_not_cut_inside_an_escape() -> None:
    body = comment_body("&amp;\\" * 20_000, limit=1_000)
    kept = body.split("\n\n_Summary truncated")[0]
    assert _units(body) <= 1_000
    assert kept.endswith("&amp;") or kept.endswith(MARKER + "\n")


# -- update or create ----------------------------------------------------------------------


def _client(fake: FakeGitHub) -> GitHub:
    return GitHub(TOKEN, "o/r", api_url=fake.url)


def test_first_run_creates_the_comment(fake_github: FakeGitHub) -> None:
    fake_github.add(5, "LGTM")
    action, comment = upsert_comment(_client(fake_github), 5, comment_body("## LLM gate: PASS"))
    assert action == "created"
    assert [c["body"].startswith(MARKER) for c in fake_github.comments[5]] == [False, True]
    assert [r.method for r in fake_github.requests] == ["GET", "POST"]
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake_github.requests)


def test_later_runs_edit_the_same_comment_found_on_a_later_page(fake_github: FakeGitHub) -> None:
    fake_github.per_page_cap = 10  # forces three pages for 25 comments
    for i in range(12):
        fake_github.add(5, f"review comment {i}")
    ours = fake_github.add(5, comment_body("## LLM gate: FAIL"), user="github-actions[bot]")
    for i in range(12):
        fake_github.add(5, f"later comment {i} mentioning {MARKER} in passing")
    client = _client(fake_github)
    for status in ("PASS", "FAIL", "PASS"):
        action, comment = upsert_comment(client, 5, comment_body(f"## LLM gate: {status}"))
        assert action == "updated" and comment.id == ours["id"]
    assert len(fake_github.comments[5]) == 25  # never a second gate comment
    assert ours["body"] == comment_body("## LLM gate: PASS")
    pages = [r.query.get("page", "1") for r in fake_github.requests if r.method == "GET"]
    assert pages == ["1", "2", "3"] * 3
    assert [r.method for r in fake_github.writes()] == ["PATCH"] * 3


def test_api_errors_name_the_request_not_the_token(fake_github: FakeGitHub) -> None:
    with pytest.raises(GitHubError) as info:
        upsert_comment(GitHub("wrong-token", "o/r", api_url=fake_github.url), 5, "x")
    assert str(info.value) == "GitHub API GET /repos/o/r/issues/5/comments failed: HTTP 401 (Bad credentials)."
    assert info.value.status == 401


def test_pagination_outside_the_api_is_not_followed(fake_github: FakeGitHub) -> None:
    fake_github.per_page_cap = 1
    fake_github.add(5, "a")
    fake_github.add(5, "b")
    client = GitHub(TOKEN, "o/r", api_url=fake_github.url.replace("127.0.0.1", "localhost"))
    with pytest.raises(GitHubError, match="pagination pointed outside"):
        client.comments(5)


@pytest.fixture
def other_origin() -> Iterator[FakeGitHub]:
    """A second fake API: another origin, that must never see the token."""
    yield from serve_fake_github()


@pytest.mark.parametrize("origin", ["host", "port"])
def test_a_redirect_to_another_origin_receives_no_token(
    fake_github: FakeGitHub, other_origin: FakeGitHub, origin: str
) -> None:
    target = other_origin.url if origin == "port" else other_origin.url.replace("127.0.0.1", "localhost")
    fake_github.redirect_to = target
    with pytest.raises(GitHubError) as info:
        upsert_comment(_client(fake_github), 5, "x")
    assert "redirected to another origin" in str(info.value) and "HTTP 302" in str(info.value)
    assert [r.authorization for r in other_origin.requests] == []  # never even asked
    assert TOKEN not in str(info.value)


def test_a_redirect_within_the_api_is_followed_with_the_token(fake_github: FakeGitHub) -> None:
    fake_github.add(5, "LGTM")
    fake_github.redirect_to = fake_github.url + "/moved"  # a renamed repository answers 301/302 like this
    assert [c.body for c in _client(fake_github).comments(5)] == ["LGTM"]
    assert [r.path for r in fake_github.requests] == [
        "/repos/o/r/issues/5/comments",
        "/moved/repos/o/r/issues/5/comments",
    ]
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake_github.requests)


def test_a_server_message_never_echoes_the_token(fake_github: FakeGitHub) -> None:
    fake_github.echo_token = True
    leaked = "ghp_" + "A" * 36
    with pytest.raises(GitHubError) as info:
        upsert_comment(GitHub(leaked, "o/r", api_url=fake_github.url), 5, "x")
    assert leaked not in str(info.value) and "AAAAAAAA" not in str(info.value)
    assert (
        str(info.value) == "GitHub API GET /repos/o/r/issues/5/comments failed: HTTP 401 (Bad credentials: Bearer ***)."
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ((200, "text/html", b"<html>login</html>"), "failed: HTTP 200 with a body that is not JSON (text/html)."),
        (
            (200, "application/json", b'["a", "b"]'),
            "answered the comment list of #5 with an unexpected shape (got 'a').",
        ),
        (
            (200, "application/json", b'{"id": 1}'),
            "answered the comment list of #5 with an unexpected shape (got dict).",
        ),
        (
            (200, "application/json", b'[{"id": "7"}]'),
            "answered the comment list of #5 with an unexpected shape (got dict).",
        ),
        ((200, "application/json", b"[{"), "with a body that is not JSON (application/json)."),
    ],
)
def test_a_malformed_answer_is_a_one_line_error(
    fake_github: FakeGitHub, tmp_path: Path, raw: tuple[int, str, bytes], message: str
) -> None:
    fake_github.raw = raw
    with pytest.raises(GitHubError) as info:
        upsert_comment(_client(fake_github), 5, "x")
    assert message in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(
        main, ["github-comment", str(_write_results(tmp_path))], env=_env(fake_github, tmp_path, number=5)
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and message in result.output


def test_a_trickling_server_times_out(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.trickle = 5.0  # one byte every 5 s: each read is quick, the answer never ends
    with pytest.raises(GitHubError, match=r"no complete answer within 0\.5 s"):
        GitHub(TOKEN, "o/r", api_url=fake_github.url, timeout=0.5).comments(5)
    result = CliRunner().invoke(
        main,
        ["github-comment", str(_write_results(tmp_path)), "--timeout", "0.5"],
        env=_env(fake_github, tmp_path),
    )
    assert result.exit_code == 1
    assert "GET /repos/o/r/issues/9/comments failed: no complete answer within 0.5 s." in result.output


def test_a_missing_pull_request_is_an_error_naming_it(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = _env(fake_github, tmp_path)
    env["GITHUB_REPOSITORY"] = "o/elsewhere"
    result = CliRunner().invoke(main, ["github-comment", str(_write_results(tmp_path)), "--pr", "12345"], env=env)
    assert fake_github.requests[0].path == "/repos/o/elsewhere/issues/12345/comments"
    assert result.exit_code == 1, result.output
    assert "HTTP 404" in result.output
    assert "No pull request #12345 in o/elsewhere that this token can see" in result.output
    assert "::warning::" not in result.output


def test_pull_request_number_from_the_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}), encoding="utf-8")
    assert pull_request_number(str(event)) == 42
    event.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    assert pull_request_number(str(event)) is None
    assert pull_request_number(None) is None


# -- the command, as the action runs it ------------------------------------------------------


def _env(fake: FakeGitHub, tmp_path: Path, number: int = 9) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number}}), encoding="utf-8")
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_API_URL": fake.url,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "77",
    }


def test_command_creates_then_updates_one_comment(fake_github: FakeGitHub, tmp_path: Path) -> None:
    results = _write_results(tmp_path)
    runner = CliRunner()
    env = _env(fake_github, tmp_path)
    first = runner.invoke(main, ["github-comment", str(results)], env=env)
    assert first.exit_code == 0, first.output
    assert "created comment" in first.output
    _write_results(tmp_path, failing=False)
    second = runner.invoke(main, ["github-comment", str(results)], env=env)
    assert second.exit_code == 0 and "updated comment" in second.output
    (comment,) = fake_github.comments[9]
    assert comment["body"].startswith(MARKER + "\n## ✅ LLM gate: PASS")
    assert "https://github.com/o/r/actions/runs/77" in comment["body"]
    assert TOKEN not in first.output + second.output


def test_command_outside_a_pull_request_posts_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = _env(fake_github, tmp_path)
    Path(env["GITHUB_EVENT_PATH"]).write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(main, ["github-comment", str(_write_results(tmp_path))], env=env)
    assert result.exit_code == 0 and "not a pull request event; no comment posted." in result.output
    assert fake_github.requests == []


def test_command_with_a_read_only_token_warns_and_does_not_fail(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.fail_writes = 403
    result = CliRunner().invoke(
        main, ["github-comment", str(_write_results(tmp_path))], env=_env(fake_github, tmp_path)
    )
    assert result.exit_code == 0
    assert result.output.startswith("::warning::GitHub API POST /repos/o/r/issues/9/comments failed: HTTP 403")
    assert TOKEN not in result.output


def test_command_without_a_token_is_a_clear_error(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = _env(fake_github, tmp_path)
    env["GITHUB_TOKEN"] = ""
    result = CliRunner().invoke(main, ["github-comment", str(_write_results(tmp_path))], env=env)
    assert result.exit_code == 1
    assert "no token: set $GITHUB_TOKEN" in result.output
    assert fake_github.requests == []


# -- the action's scripts, run as GitHub would run them ------------------------------------


def _evaluate(expression: str, context: dict[str, str]) -> str:
    """The few expressions action.yml uses: inputs.X, steps.ID.outputs.Y, github.token,
    always(), ==, !=, && (anything else fails the test)."""

    def value(match: re.Match[str]) -> str:
        return repr(context.get(match.group(0), ""))

    text = re.sub(r"\b(?:inputs\.[\w-]+|steps\.[\w-]+\.outputs\.[\w-]+|github\.token)", value, expression.strip())
    text = text.replace("always()", "True").replace("&&", " and ")
    assert re.fullmatch(r"[\s\w'\"=!.:/+-]*", text), f"unsupported expression {expression!r}"
    result = eval(text, {"__builtins__": {}}, {})  # noqa: S307 - a test's own, checked expression
    return str(result) if not isinstance(result, bool) else ("true" if result else "")


def _render(text: str, context: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda m: _evaluate(m.group(1), context), text)


def _run_action(project: Path, fake: FakeGitHub, inputs: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run the action's script steps (`uses` steps are GitHub's: skipped) in `project`;
    returns the job's exit status and what the steps printed."""
    import os
    import subprocess
    import sys

    action = _action()
    context = {f"inputs.{k}": str(v.get("default", "")) for k, v in action["inputs"].items()}
    context["github.token"] = TOKEN
    context["inputs.github-token"] = TOKEN
    context.update({f"inputs.{k}": v for k, v in inputs.items()})
    env_base = dict(os.environ, **_env(fake, tmp_path), GITHUB_ACTION_PATH=str(ROOT))
    env_base["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env_base["PATH"]
    printed, failed = "", 0
    for step in action["runs"]["steps"]:
        if "uses" in step or "install" in step.get("name", "").lower():
            continue  # setup-python, upload-artifact, pip install: the test's venv has them
        condition = step.get("if")
        if condition and not _evaluate(condition, context):
            continue
        if failed and not (condition or "").startswith("always()"):
            continue
        output = tmp_path / f"output-{step.get('id', 'x')}"
        output.write_text("", encoding="utf-8")
        env = dict(env_base, GITHUB_OUTPUT=str(output))
        env.update({k: _render(str(v), context) for k, v in step.get("env", {}).items()})
        cwd = project / _render(step.get("working-directory", "."), context)
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True)
        printed += done.stdout + done.stderr
        failed = failed or done.returncode
        for line in output.read_text(encoding="utf-8").splitlines():
            key, _, val = line.partition("=")
            context[f"steps.{step['id']}.outputs.{key}"] = val
    return failed, printed


def test_the_action_gates_comments_once_and_fails_the_job(
    pytester: pytest.Pytester, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    from gate_project import make_project

    make_project(pytester)
    args = "--llm-gate -p no:cacheprovider -p no:xdist"
    status, printed = _run_action(pytester.path, fake_github, {"pytest-args": args}, tmp_path)
    assert status == 1  # no baseline yet: the gate fails, and so does the job, after commenting
    assert "created comment" in printed and "::error::LLM gate: pytest exited with 1" in printed
    (comment,) = fake_github.comments[9]
    assert comment["body"].startswith(MARKER + "\n## ❌ LLM gate: FAIL")

    update = _run_action(pytester.path, fake_github, {"pytest-args": args + " --llm-gate-update"}, tmp_path)
    assert update[0] == 0, update[1]
    status, printed = _run_action(pytester.path, fake_github, {"pytest-args": args}, tmp_path)
    assert status == 0, printed
    assert "updated comment" in printed
    (comment,) = fake_github.comments[9]  # still one comment, now with the passing run's verdict
    assert re.match(re.escape(MARKER) + r"\n## \S+ LLM gate: (PASS|UNDERPOWERED)\n", comment["body"])
    assert TOKEN not in printed
