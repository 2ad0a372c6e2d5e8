"""One pull-request comment with the gate's markdown summary, created once and edited on
every push (the GitHub Action's last step, `llmgate github-comment`).

The comment is found again by a hidden marker. Only the standard library talks to the
GitHub REST API; the token comes from the environment and never appears in output,
errors or files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

#: Hidden in the rendered comment; how the next run finds the comment to edit.
MARKER = "<!-- pytest-llmgate -->"
#: GitHub rejects an issue comment body above 65,536 characters.
GITHUB_MAX_CHARS = 65_536
TOKEN_ENV = "GITHUB_TOKEN"
_TRUNCATED = (
    "\n\n_Summary truncated ({shown:,} of {total:,} characters shown); the full report is in the run's artifact._\n"
)
_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
#: GitHub token shapes (classic, app, fine-grained) and bearer credentials, masked in shown messages.
_TOKEN_LIKE = re.compile(r"(?i)\b(?:gh[pousr]_[A-Za-z0-9_-]+|github_pat_[A-Za-z0-9_]+)|(?<=bearer )\S+")
#: Seconds one API request may take in all (connecting, headers and body), by default.
DEFAULT_TIMEOUT = 30.0


def _origin(url: str) -> tuple[str, str]:
    split = urllib.parse.urlsplit(url)
    return split.scheme.lower(), split.netloc.lower()


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the API's origin: the token never goes to another host."""

    def __init__(self, origin: tuple[str, str]) -> None:
        self.origin = origin

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if _origin(newurl) != self.origin:
            raise _RedirectRefused(code, urllib.parse.urlsplit(newurl).netloc or newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _RedirectRefused(Exception):
    def __init__(self, code: int, where: str) -> None:
        super().__init__(code, where)
        self.code = code
        self.where = where


class GitHubError(Exception):
    """A GitHub API request failed; the message names the request and the status, never the token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Comment:
    """An issue (pull request) comment as the API returns it."""

    id: int
    """The comment's id, used to edit it."""
    body: str
    """Its markdown."""
    html_url: str = ""
    """Where it shows on github.com."""


def _units(text: str) -> int:
    """Length as GitHub may count it: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def comment_body(markdown: str, *, run_url: str | None = None, limit: int = GITHUB_MAX_CHARS) -> str:
    """The comment: marker, summary and a link to the run, cut safely to fit under `limit`.

    A cut falls on a line boundary (no half table row or half escape), closes a code
    fence left open, and says how much was shown.
    """
    head = MARKER + "\n"
    tail = f"\n\nReports: [workflow run and artifact]({run_url})\n" if run_url else ""
    text = markdown.rstrip() + "\n"
    if _units(head + text + tail) <= limit:
        return head + text + tail
    note_room = _units(_TRUNCATED.format(shown=len(text), total=len(text))) + 8  # 8: a closing fence
    budget = limit - _units(head) - _units(tail) - note_room
    cut = text[:budget]
    while _units(cut) > budget:  # wide characters: shrink until it fits
        cut = cut[: len(cut) - (_units(cut) - budget)]
    newline = cut.rfind("\n")
    # One enormous line: never end on half an escape or entity.
    cut = cut[:newline] if newline > 0 else re.sub(r"(?:\\|&[#a-zA-Z0-9]*)+$", "", cut)
    if cut.count("```") % 2:
        cut += "\n```"
    body = head + cut + _TRUNCATED.format(shown=len(cut), total=len(text)) + tail
    assert _units(body) <= limit
    return body


def body_for_results(results_path: Path, *, run_url: str | None = None, exit_code: str | None = None) -> str:
    """The comment for a results file, or a short note when the run wrote none."""
    if not results_path.is_file():
        code = f" (pytest exit code {exit_code})" if exit_code else ""
        note = (
            f"## LLM gate: no results\n\nThe gate wrote no results file{code}: it stopped before the end, "
            "for example on a usage error. See the job log."
        )
        return comment_body(note, run_url=run_url)
    from pytest_llmgate.report.commands import load_results
    from pytest_llmgate.report.markdown import render_markdown

    results = load_results(results_path)
    return comment_body(render_markdown(results), run_url=run_url)


class GitHub:
    """The few REST calls the comment needs."""

    def __init__(
        self, token: str, repository: str, api_url: str = "https://api.github.com", timeout: float = DEFAULT_TIMEOUT
    ):
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            msg = f"'repository' must look like OWNER/NAME (got {repository!r})."
            raise GitHubError(msg)
        self._token = token
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        """Seconds one request may take in all: a server that trickles its answer is cut off too."""
        self._opener = urllib.request.build_opener(_SameOrigin(_origin(self.api_url)))

    def _request(self, method: str, url: str, payload: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        """One API call, bounded by `timeout` in all; every failure is a one-line `GitHubError`."""
        path = urllib.parse.urlsplit(url).path
        outcome: list[Any] = []

        def call() -> None:
            try:
                outcome.append(self._call(method, url, path, payload))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome.append(exc)

        # urllib's timeout bounds each socket read, not the answer: one byte every few seconds
        # would never end. The call runs on a daemon thread the process does not wait for.
        worker = threading.Thread(target=call, name="llmgate-github", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not outcome:
            msg = f"GitHub API {method} {path} failed: no complete answer within {self.timeout:g} s."
            raise GitHubError(msg)
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        result: tuple[Any, dict[str, str]] = outcome[0]
        return result

    def _call(self, method: str, url: str, path: str, payload: dict[str, Any] | None) -> tuple[Any, dict[str, str]]:
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "pytest-llmgate")
        request.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
                headers = {k.lower(): v for k, v in response.headers.items()}
                status = response.status
        except _RedirectRefused as exc:
            msg = (
                f"GitHub API {method} {path} failed: HTTP {exc.code} redirected to another origin "
                f"({self._clean(exc.where)}); the token is not sent there."
            )
            raise GitHubError(msg, exc.code) from None
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError, OSError):
                detail = str(json.loads(exc.read() or b"{}").get("message", ""))
            msg = f"GitHub API {method} {path} failed: HTTP {exc.code}{f' ({self._clean(detail)})' if detail else ''}."
            raise GitHubError(msg, exc.code) from None
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):  # one read waited the whole budget: the same timeout
                msg = f"GitHub API {method} {path} failed: no complete answer within {self.timeout:g} s."
                raise GitHubError(msg) from None
            msg = f"GitHub API {method} {path} failed: {self._clean(str(reason))}."
            raise GitHubError(msg) from None
        try:
            return (json.loads(body) if body else None), headers
        except ValueError:
            kind = headers.get("content-type", "no content type")
            msg = f"GitHub API {method} {path} failed: HTTP {status} with a body that is not JSON ({kind})."
            raise GitHubError(msg, status) from None

    def _clean(self, text: str) -> str:
        """A server's message as shown: one line, short, and never the token (a server may echo it)."""
        text = " ".join(text.split())
        if self._token:
            text = text.replace(self._token, "***")
        text = _TOKEN_LIKE.sub("***", text)
        return text[:200]

    def _malformed(self, what: str, got: Any) -> GitHubError:
        shown = type(got).__name__ if not isinstance(got, (str, int, float, bool)) else repr(got)[:40]
        return GitHubError(f"GitHub API answered {what} with an unexpected shape (got {self._clean(shown)}).")

    def comments(self, number: int) -> list[Comment]:
        """Every comment of issue or pull request `number`, following the pagination links."""
        url: str | None = f"{self.api_url}/repos/{self.repository}/issues/{number}/comments?per_page=100"
        found: list[Comment] = []
        while url:
            page, headers = self._request("GET", url)
            if not isinstance(page, list):
                raise self._malformed(f"the comment list of #{number}", page)
            found += [self._comment(f"the comment list of #{number}", item) for item in page]
            match = _LINK.search(headers.get("link", ""))
            url = match.group(1) if match else None
            if url and not url.startswith(self.api_url + "/"):
                # The token goes with every request: follow only links to the same API.
                msg = f"GitHub API pagination pointed outside {self.api_url}; refusing to follow it."
                raise GitHubError(msg)
        return found

    def _comment(self, what: str, item: Any) -> Comment:
        """A comment from the API's JSON, or a one-line error saying the answer is not one."""
        if not isinstance(item, dict) or isinstance(item.get("id"), bool) or not isinstance(item.get("id"), int):
            raise self._malformed(what, item)
        body, html_url = item.get("body") or "", item.get("html_url") or ""
        if not isinstance(body, str) or not isinstance(html_url, str):
            raise self._malformed(what, item)
        return Comment(id=item["id"], body=body, html_url=html_url)

    def create(self, number: int, body: str) -> Comment:
        data, _ = self._request(
            "POST", f"{self.api_url}/repos/{self.repository}/issues/{number}/comments", {"body": body}
        )
        return self._comment(f"the new comment on #{number}", data)

    def update(self, comment_id: int, body: str) -> Comment:
        url = f"{self.api_url}/repos/{self.repository}/issues/comments/{comment_id}"
        data, _ = self._request("PATCH", url, {"body": body})
        return self._comment(f"the edit of comment {comment_id}", data)


def upsert_comment(github: GitHub, number: int, body: str) -> tuple[str, Comment]:
    """Edit the pull request's gate comment (the first that starts with the marker), or create it."""
    if not body.startswith(MARKER):
        body = MARKER + "\n" + body
    for comment in github.comments(number):
        if comment.body.startswith(MARKER):
            return "updated", github.update(comment.id, body)
    return "created", github.create(number, body)


def pull_request_number(event_path: str | None) -> int | None:
    """The pull request of the workflow's event (pull_request, pull_request_target), else None."""
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number")
    return int(number) if isinstance(number, int) else None


def run_url_from_env() -> str | None:
    """The workflow run's page, from the variables GitHub Actions sets."""
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


@click.command("github-comment")
@click.argument("results", type=click.Path(path_type=Path), default=Path("reports/llm-gate.json"))
@click.option("--pr", "number", type=int, default=None, help="Pull request number (default: from $GITHUB_EVENT_PATH).")
@click.option("--repo", default=None, help="OWNER/NAME (default: $GITHUB_REPOSITORY).")
@click.option("--api-url", default=None, help="GitHub API URL (default: $GITHUB_API_URL or https://api.github.com).")
@click.option("--exit-code", default=None, help="The gate's pytest exit code, shown when no results were written.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds one API request may take in all (connecting, headers and body).",
)
@click.option("--dry-run", is_flag=True, help="Print the comment body instead of posting it (default: post).")
def github_comment(
    results: Path,
    number: int | None,
    repo: str | None,
    api_url: str | None,
    exit_code: str | None,
    timeout: float,
    dry_run: bool,
) -> None:
    """Post the gate's summary as ONE pull request comment, edited on each push.

    RESULTS is the gate's results file (default: reports/llm-gate.json). The token is read
    from $GITHUB_TOKEN. Outside a pull request nothing is posted.
    """
    body = body_for_results(results, run_url=run_url_from_env(), exit_code=exit_code)
    if dry_run:
        click.echo(body, nl=False)
        return
    number = number if number is not None else pull_request_number(os.environ.get("GITHUB_EVENT_PATH"))
    if number is None:
        click.echo("llmgate github-comment: not a pull request event; no comment posted.")
        return
    repository = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repository:
        raise click.ClickException("no repository: pass --repo OWNER/NAME or set $GITHUB_REPOSITORY.")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise click.ClickException(f"no token: set ${TOKEN_ENV} (the action passes its github-token input).")
    api = api_url or os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    try:
        github = GitHub(token, repository, api, timeout=timeout)
        action, comment = upsert_comment(github, number, body)
    except GitHubError as exc:
        if exc.status == 403:
            # A pull request from a fork gets a read-only token: say so, do not fail the build for a comment.
            click.echo(f"::warning::{exc} The token cannot write comments here (a fork's pull request?).")
            return
        if exc.status == 404:
            msg = (
                f"{exc} No pull request #{number} in {repository} that this token can see: "
                "check --repo / $GITHUB_REPOSITORY and --pr."
            )
            raise click.ClickException(msg) from None
        raise click.ClickException(str(exc)) from None
    click.echo(f"llmgate github-comment: {action} comment {comment.id} on #{number} {comment.html_url}".rstrip())
