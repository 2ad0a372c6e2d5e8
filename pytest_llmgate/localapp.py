"""A small web app on 127.0.0.1 for people to work in: the HTTP side of `llmgate label` and `llmgate review`.

The server knows nothing about labels or cases: it serves one page and its static files from
a package folder and hands JSON API calls to a session object (`AppSession`). What it adds is
the defences a local web server needs, since any page the user's browser opens can reach it:
- bound to 127.0.0.1 only; a request whose Host is not `127.0.0.1:<port>` or
  `localhost:<port>` is refused (403): this defeats DNS rebinding;
- every API call carries a per-session random token (embedded in the page, sent in the
  `X-LLMGate-Token` header; a custom header also forces a CORS preflight that is never
  granted);
- a POST must come with an `Origin` of this server: cross-origin writes are refused;
- a strict Content-Security-Policy forbids inline scripts; pages set untrusted text with
  textContent only.
"""

from __future__ import annotations

import hmac
import html
import json
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, ClassVar, Protocol

HOST = "127.0.0.1"
TOKEN_HEADER = "X-LLMGate-Token"
MAX_BODY = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


class AppSession(Protocol):
    """What the server asks of a session: its token, its page, and its API."""

    token: str
    static_package: ClassVar[str]
    """Package holding a `static/` folder with the page (`page`) and its `.js` / `.css` files."""
    page: ClassVar[str]
    """File name of the HTML page in `static/`; `__LLMGATE_TOKEN__` in it is replaced by the token."""

    def get(self, path: str) -> Any:
        """Answer `GET /api/...` with JSON data; raise `LookupError` for an unknown path."""

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """Answer `POST /api/...`; raise `ValueError` for a bad request, `LookupError` for an unknown path."""


def _static(package: str, name: str) -> bytes:
    return resources.files(package).joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: LocalAppServer
    server_version = "llmgate"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the terminal belongs to the user."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, sort_keys=True).encode("utf-8"), "application/json; charset=utf-8")

    def _refuse(self, why: str) -> None:
        self._json(HTTPStatus.FORBIDDEN, {"error": why})

    def _allowed_hosts(self) -> set[str]:
        port = self.server.server_address[1]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _host_ok(self) -> bool:
        return (self.headers.get("Host") or "").lower() in self._allowed_hosts()

    def _token_ok(self) -> bool:
        given = self.headers.get(TOKEN_HEADER) or ""
        return hmac.compare_digest(given.encode(), self.server.session.token.encode())

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if not self._host_ok():
            self._refuse("Host must be 127.0.0.1 or localhost with this server's port.")
            return
        session = self.server.session
        path = self.path.split("?", 1)[0]
        name = path.rsplit("/", 1)[1]
        suffix = name[name.rfind(".") :] if "." in name else ""
        if path in ("/", "/index.html"):
            page = _static(session.static_package, session.page).decode("utf-8")
            page = page.replace("__LLMGATE_TOKEN__", html.escape(session.token, quote=True))
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")
        elif path == f"/static/{name}" and suffix in _CONTENT_TYPES and self._has_static(name):
            body = _static(session.static_package, name)
            self._send(HTTPStatus.OK, body, _CONTENT_TYPES[suffix] + "; charset=utf-8")
        elif path.startswith("/api/"):
            if not self._token_ok():
                self._refuse("missing or wrong session token; reload the page.")
                return
            try:
                self._json(HTTPStatus.OK, session.get(path))
            except LookupError:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def _has_static(self, name: str) -> bool:
        return resources.files(self.server.session.static_package).joinpath("static", name).is_file()

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if not self._host_ok():
            self._refuse("Host must be 127.0.0.1 or localhost with this server's port.")
            return
        origin = (self.headers.get("Origin") or "").lower()
        if origin not in {f"http://{host}" for host in self._allowed_hosts()}:
            self._refuse("cross-origin write refused: Origin must be this server.")
            return
        if not self._token_ok():
            self._refuse("missing or wrong session token; reload the page.")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"body must be 0 to {MAX_BODY} bytes."})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object.")
            result = self.server.session.post(self.path, body)
        except LookupError:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})
            return
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, result)


class LocalAppServer(ThreadingHTTPServer):
    """The loopback server of one session."""

    daemon_threads = True

    def __init__(self, session: AppSession, port: int) -> None:
        self.session = session
        super().__init__((HOST, port), _Handler)


def make_server(session: AppSession, port: int = 0) -> LocalAppServer:
    """A server for `session` bound to 127.0.0.1:`port` (0 picks a free port); not started."""
    return LocalAppServer(session, port)


def server_url(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"


def serve(
    session: AppSession,
    describe: Callable[[str], str],
    port: int = 0,
    *,
    open_browser: bool = True,
    announce: Callable[[str], Any] = print,
) -> None:
    """Run the app until interrupted (Ctrl-C); `describe(url)` is the line announced at start."""
    server = make_server(session, port)
    url = server_url(server)
    announce(describe(url))
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
