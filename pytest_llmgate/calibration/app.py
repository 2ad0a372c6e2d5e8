"""`llmgate label`: a small blind-labeling web app on 127.0.0.1.

One page (static/index.html, app.js, app.css; no CDN, no network) shows a case's input,
reference and output, or for pairwise rubrics both outputs in a random order that the
server maps back to candidate/baseline when saving. The judge's verdict is never sent to
the page before the labeler's own label for that item is saved.

Every label is appended to the labels file (fsync per label) as it is given; undo appends
a tombstone. Cases already labeled in the file are not shown again, so stopping and
restarting resumes where the labeler stopped.

Defences, since a local web server is reachable from any page the labeler's browser opens:
- bound to 127.0.0.1 only; a request whose Host is not `127.0.0.1:<port>` or
  `localhost:<port>` is refused (403): this defeats DNS rebinding;
- every API call carries a per-session random token (embedded in the page, sent in the
  `X-LLMGate-Token` header; a custom header also forces a CORS preflight that is never
  granted);
- a POST must come with an `Origin` of this server: cross-origin writes are refused;
- outputs are untrusted: the page sets them with textContent only, and a strict
  Content-Security-Policy forbids inline scripts.
"""

from __future__ import annotations

import hmac
import html
import json
import random
import secrets
import threading
import webbrowser
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_llmgate.gate.records import JudgeVerdict, RunResults

from .labels import Label, append_label, append_undo, load_labels
from .sampling import SampleItem, rubric_verdicts, sample_for_labeling
from .scales import RubricInfo

HOST = "127.0.0.1"
TOKEN_HEADER = "X-LLMGate-Token"
MAX_BODY = 64 * 1024
STATIC_FILES = {"/static/app.js": "text/javascript", "/static/app.css": "text/css"}
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


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@dataclass
class _Item:
    index: int
    sample: SampleItem
    verdict: JudgeVerdict
    input: str
    reference: str
    outputs: list[str]
    candidate_first: bool
    """Pairwise: whether the candidate is shown first (left)."""


@dataclass
class LabelSession:
    """The state of one labeling session: what to show, where to write, the token."""

    results: RunResults
    info: RubricInfo
    labels_path: Path
    labeler: str
    items: list[_Item] = field(default_factory=list)
    already_labeled: int = 0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    history: list[tuple[int, Label]] = field(default_factory=list)
    """Labels saved in this session, in order (undo pops the last)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        results: RunResults,
        info: RubricInfo,
        labels_path: str | Path,
        labeler: str,
        *,
        sample: int | None = None,
        seed: int = 0,
        strata: tuple[str, ...] = (),
        per_stratum: int = 10,
    ) -> LabelSession:
        """Build the queue: the seeded sample minus outputs already labeled in the file."""
        if not labeler.strip():
            msg = "'labeler' must be a non-empty name (got '')."
            raise ValueError(msg)
        path = Path(labels_path)
        existing = load_labels(path, missing_ok=True)
        done = {(lab.suite, lab.case_id, lab.output_hash) for lab in existing if lab.rubric == info.name}
        if not rubric_verdicts(results, info.name):
            msg = f"the results hold no answered verdict of rubric {info.name!r}; run the evals with that rubric first."
            raise ValueError(msg)
        chosen = sample_for_labeling(
            results, info.name, n=sample, seed=seed, strata=strata, per_stratum=per_stratum, exclude=done
        )
        session = cls(results=results, info=info, labels_path=path, labeler=labeler.strip())
        session.already_labeled = len(done)
        verdicts = {(suite, case_id): verdict for suite, case_id, verdict in rubric_verdicts(results, info.name)}
        order = random.Random(f"{seed}:positions")
        for index, item in enumerate(chosen):
            session.items.append(session._build_item(index, item, verdicts[(item.suite, item.case_id)], order))
        return session

    def _build_item(self, index: int, sample: SampleItem, verdict: JudgeVerdict, order: random.Random) -> _Item:
        case = self.results.suites[sample.suite].cases[sample.case_id]
        data = case.case
        reference = _as_text(data.get("reference", data.get("expected")))
        outputs = [_as_text(case.output)]
        candidate_first = True
        if self.info.kind == "pairwise":
            if verdict.against == "baseline":
                baseline = self.results.baselines.get(sample.suite)
                other = baseline.cases.get(sample.case_id) if baseline else None
                other_text = _as_text(other.output) if other else "(baseline output missing)"
            else:
                other_text = reference
                reference = ""  # it is one of the two outputs shown
            candidate_first = order.random() < 0.5
            outputs = [outputs[0], other_text] if candidate_first else [other_text, outputs[0]]
        return _Item(
            index=index,
            sample=sample,
            verdict=verdict,
            input=_as_text(data.get("input", data.get("question"))),
            reference=reference,
            outputs=outputs,
            candidate_first=candidate_first,
        )

    # -- state shown to the page -------------------------------------------------------

    def _saved(self) -> dict[int, Label]:
        saved: dict[int, Label] = {}
        for index, label in self.history:
            saved[index] = label
        return saved

    def _screen_choice(self, item: _Item, label: Label) -> Any:
        if self.info.kind != "pairwise" or label.label == "tie":
            return label.label
        first_is_a = item.candidate_first
        return "first" if (label.label == "A") == first_is_a else "second"

    def _verdict_view(self, item: _Item) -> dict[str, Any]:
        verdict = item.verdict
        view: dict[str, Any] = {
            "label": verdict.label,
            "value": verdict.value,
            "consistent": verdict.consistent,
            "reasons": [call.reason for call in verdict.calls if call.reason],
            "provider": verdict.provider,
        }
        if self.info.kind == "pairwise":
            view["candidate_position"] = "first" if item.candidate_first else "second"
        return view

    def state(self) -> dict[str, Any]:
        """Everything the page needs, without any verdict of an item not labeled in this session."""
        with self.lock:
            saved = self._saved()
            items = []
            for item in self.items:
                label = saved.get(item.index)
                items.append(
                    {
                        "index": item.index,
                        "suite": item.sample.suite,
                        "case_id": item.sample.case_id,
                        "stratum": item.sample.stratum,
                        "input": item.input,
                        "reference": item.reference,
                        "outputs": item.outputs,
                        "saved": None if label is None else self._screen_choice(item, label),
                        "verdict": None if label is None else self._verdict_view(item),
                    }
                )
            return {
                "rubric": {**self.info.to_dict(), "choices": self._choices()},
                "labeler": self.labeler,
                "labels_path": str(self.labels_path),
                "already_labeled": self.already_labeled,
                "items": items,
            }

    def _choices(self) -> list[Any]:
        if self.info.kind == "pairwise":
            return ["first", "second", "tie"]
        return self.info.categories

    # -- writes -----------------------------------------------------------------------

    def save(self, index: Any, choice: Any) -> dict[str, Any]:
        """Append the label for item `index`; return the (now revealed) verdict."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.items):
            msg = f"'index' must be an item number from 0 to {len(self.items) - 1} (got {index!r})."
            raise ValueError(msg)
        if choice not in self._choices() or isinstance(choice, bool):
            msg = f"'choice' must be one of {self._choices()} (got {choice!r})."
            raise ValueError(msg)
        item = self.items[index]
        value = choice
        if self.info.kind == "pairwise" and choice != "tie":
            value = "A" if (choice == "first") == item.candidate_first else "B"
        label = Label(
            suite=item.sample.suite,
            case_id=item.sample.case_id,
            rubric=self.info.name,
            label=value,
            labeler=self.labeler,
            output_hash=item.sample.output_hash,
            stratum=item.sample.stratum,
        )
        with self.lock:
            append_label(self.labels_path, label)
            self.history.append((index, label))
        return {"index": index, "saved": choice, "verdict": self._verdict_view(item)}

    def undo(self) -> dict[str, Any]:
        """Withdraw the last label saved in this session (appends a tombstone)."""
        with self.lock:
            if not self.history:
                msg = "nothing to undo in this session."
                raise ValueError(msg)
            index, label = self.history.pop()
            append_undo(self.labels_path, label.id, self.labeler)
            previous = self._saved().get(index)
        item = self.items[index]
        return {
            "index": index,
            "saved": None if previous is None else self._screen_choice(item, previous),
            "verdict": None if previous is None else self._verdict_view(item),
        }


def _static(name: str) -> bytes:
    return resources.files("pytest_llmgate.calibration").joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _LabelServer
    server_version = "llmgate-label"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the terminal belongs to the labeler."""

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
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            page = _static("index.html").decode("utf-8")
            page = page.replace("__LLMGATE_TOKEN__", html.escape(self.server.session.token, quote=True))
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")
        elif path in STATIC_FILES:
            self._send(HTTPStatus.OK, _static(path.rsplit("/", 1)[1]), STATIC_FILES[path] + "; charset=utf-8")
        elif path == "/api/state":
            if not self._token_ok():
                self._refuse("missing or wrong session token; reload the page.")
                return
            self._json(HTTPStatus.OK, self.server.session.state())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

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
            if self.path == "/api/label":
                result = self.server.session.save(body.get("index"), body.get("choice"))
            elif self.path == "/api/undo":
                result = self.server.session.undo()
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})
                return
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, result)


class _LabelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, session: LabelSession, port: int) -> None:
        self.session = session
        super().__init__((HOST, port), _Handler)


def make_server(session: LabelSession, port: int = 0) -> _LabelServer:
    """A server for `session` bound to 127.0.0.1:`port` (0 picks a free port); not started."""
    return _LabelServer(session, port)


def server_url(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"


def serve(session: LabelSession, port: int = 0, *, open_browser: bool = True, announce: Any = print) -> None:
    """Run the labeling app until interrupted (Ctrl-C)."""
    server = make_server(session, port)
    url = server_url(server)
    announce(
        f"Labeling {len(session.items)} outputs of rubric {session.info.name!r} as {session.labeler!r} "
        f"({session.already_labeled} already labeled) at {url}  - labels go to {session.labels_path}; Ctrl-C to stop."
    )
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
