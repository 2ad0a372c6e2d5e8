"""A fake GitHub REST API on 127.0.0.1 for the PR comment: list an issue's comments (paged
with Link headers, like GitHub), create one, edit one. It checks the bearer token and
records every request."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TOKEN = "ghs_FAKE-TOKEN-0123456789abcdef"


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str
    body: dict[str, Any] | None


@dataclass
class FakeGitHub:
    """State of the fake API: comments per issue number, and the requests seen."""

    per_page_cap: int = 100
    """Largest page GitHub serves (tests lower it to force pagination)."""
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_writes: int | None = None
    """When set, POST and PATCH answer this HTTP status."""
    next_id: int = 1000
    redirect_to: str | None = None
    """When set, every request is answered 302 with `Location: <redirect_to><same path>`; paths
    under `/moved/` are served as without that prefix (the target of a same-origin redirect)."""
    echo_token: bool = False
    """When True, a 401 echoes the Authorization header in its message (as some proxies do)."""
    raw: tuple[int, str, bytes] | None = None
    """When set, every request is answered (status, content type, body) as is."""
    trickle: float | None = None
    """When set, answers are sent one byte every `trickle` seconds."""
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, number: int, body: str, user: str = "someone") -> dict[str, Any]:
        with self._lock:
            self.next_id += 1
            comment = {
                "id": self.next_id,
                "body": body,
                "user": {"login": user},
                "html_url": f"https://github.com/o/r/pull/{number}#issuecomment-{self.next_id}",
            }
            self.comments.setdefault(number, []).append(comment)
            return comment

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PATCH")]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self._send_raw(status, "application/json", data, headers)

    def _send_raw(self, status: int, kind: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.state.trickle is None:
            self.wfile.write(data)
            return
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
            time.sleep(self.state.trickle)

    def _handle(self, method: str) -> None:
        state = self.state
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length)) if length else None
        state.requests.append(Request(method, split.path, query, self.headers.get("Authorization", ""), body))
        moved = split.path.startswith("/moved/")  # where a same-origin redirect points
        if moved:
            split = split._replace(path=split.path.removeprefix("/moved"))
        if state.redirect_to is not None and not moved:
            self._send_raw(302, "text/plain", b"moved", {"Location": state.redirect_to + self.path})
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            echoed = f": {self.headers.get('Authorization')}" if state.echo_token else ""
            self._send(401, {"message": f"Bad credentials{echoed}"})
            return
        if state.raw is not None:
            self._send_raw(state.raw[0], state.raw[1], state.raw[2])
            return
        parts = split.path.strip("/").split("/")
        if parts[:3] != ["repos", "o", "r"]:  # the one repository this API knows
            self._send(404, {"message": "Not Found"})
            return
        # repos/{owner}/{repo}/issues/{number}/comments  or  repos/{owner}/{repo}/issues/comments/{id}
        if len(parts) == 6 and parts[3] == "issues" and parts[5] == "comments" and parts[4].isdigit():
            number = int(parts[4])
            if method == "GET":
                per_page = min(int(query.get("per_page", "30")), state.per_page_cap)
                page = int(query.get("page", "1"))
                items = state.comments.get(number, [])
                chunk = items[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(items):
                    nxt = f"{state.url}{split.path}?per_page={per_page}&page={page + 1}"
                    last = f"{state.url}{split.path}?per_page={per_page}&page={-(-len(items) // per_page)}"
                    headers["Link"] = f'<{nxt}>; rel="next", <{last}>; rel="last"'
                self._send(200, chunk, headers)
                return
            if method == "POST":
                if state.fail_writes:
                    self._send(state.fail_writes, {"message": "Resource not accessible by integration"})
                    return
                self._send(201, state.add(number, (body or {})["body"], user="github-actions[bot]"))
                return
        if len(parts) == 6 and parts[3:5] == ["issues", "comments"] and parts[5].isdigit() and method == "PATCH":
            if state.fail_writes:
                self._send(state.fail_writes, {"message": "Resource not accessible by integration"})
                return
            for comments in state.comments.values():
                for comment in comments:
                    if comment["id"] == int(parts[5]):
                        comment["body"] = (body or {})["body"]
                        self._send(200, comment)
                        return
        self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802 - stdlib name
        self._handle("PATCH")


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    yield from serve_fake_github()


def serve_fake_github() -> Iterator[FakeGitHub]:
    """Run a fake API until the generator is closed (a second one is another origin)."""
    state = FakeGitHub()

    class Handler(_Handler):
        pass

    Handler.state = state
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    state.url = f"http://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
