"""`llmgate label`: a small blind-labeling web app on 127.0.0.1.

One page (static/index.html, app.js, app.css; no CDN, no network) shows a case's input,
reference and output, or for pairwise rubrics both outputs in a random order that the
server maps back to candidate/baseline when saving. The judge's verdict is never sent to
the page before the labeler's own label for that item is saved.

Every label is appended to the labels file (fsync per label) as it is given; undo appends
a tombstone. Cases already labeled in the file are not shown again, so stopping and
restarting resumes where the labeler stopped.

This module holds the labeling session's state; the HTTP side (loopback only, Host, Origin
and token checks, a strict Content-Security-Policy) is `pytest_llmgate.localapp`, shared with
`llmgate review`. Outputs are untrusted: the page sets them with textContent only.
"""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from pytest_llmgate import localapp
from pytest_llmgate.conversations import transcript
from pytest_llmgate.gate.records import JudgeVerdict, RunResults
from pytest_llmgate.outputs import display_text, output_text

from .labels import Label, append_label, append_undo, load_labels
from .sampling import SampleItem, rubric_verdicts, sample_for_labeling
from .scales import RubricInfo

HOST = localapp.HOST
TOKEN_HEADER = localapp.TOKEN_HEADER


def _answer_and_rest(output: Any) -> tuple[str, str]:
    """(the answer a judge saw, the rest of the output as JSON or ""): a labeler reads the
    answer; retrieved ids, tool calls and other fields are folded below it."""
    answer = output_text(output)
    if isinstance(output, dict) and isinstance(output.get("answer"), str):
        rest = {key: value for key, value in output.items() if key != "answer"}
        return answer, display_text(rest) if rest else ""
    return answer, ""


def _input_text(value: Any) -> str:
    """A case's input for the page: a conversation as its turns, anything else as text or JSON."""
    shown = transcript(value)
    return display_text(value) if shown is None else shown


@dataclass
class _Item:
    index: int
    sample: SampleItem
    verdict: JudgeVerdict
    input: str
    reference: str
    outputs: list[str]
    """The answers shown (what the judge saw of each output)."""
    extras: list[str]
    """Per output: the rest of it (retrieved ids, tool calls...) as JSON, folded on the page; "" when none."""
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
    """Outputs of this run labeled before this session (labels of older outputs not counted)."""
    stale: int = 0
    """Labels in the file of outputs that changed since (stale): shown, not counted as labeled."""
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    history: list[tuple[int, Label]] = field(default_factory=list)
    """Labels saved in this session, in order (undo pops the last)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    static_package: ClassVar[str] = "pytest_llmgate.calibration"
    page: ClassVar[str] = "index.html"

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
        # Labels of older outputs (stale) do not apply to this run: they are not counted as labeled.
        current = {
            (suite, case_id, verdict.output_hash) for suite, case_id, verdict in rubric_verdicts(results, info.name)
        }
        chosen = sample_for_labeling(
            results, info.name, n=sample, seed=seed, strata=strata, per_stratum=per_stratum, exclude=done
        )
        session = cls(results=results, info=info, labels_path=path, labeler=labeler.strip())
        session.already_labeled = len(done & current)
        session.stale = len(done - current)
        verdicts = {(suite, case_id): verdict for suite, case_id, verdict in rubric_verdicts(results, info.name)}
        order = random.Random(f"{seed}:positions")
        for index, item in enumerate(chosen):
            session.items.append(session._build_item(index, item, verdicts[(item.suite, item.case_id)], order))
        return session

    def _build_item(self, index: int, sample: SampleItem, verdict: JudgeVerdict, order: random.Random) -> _Item:
        case = self.results.suites[sample.suite].cases[sample.case_id]
        data = case.case
        reference = display_text(data.get("reference", data.get("expected")))
        answer, rest = _answer_and_rest(case.output)
        outputs, extras = [answer], [rest]
        candidate_first = True
        if self.info.kind == "pairwise":
            if verdict.against == "baseline":
                baseline = self.results.baselines.get(sample.suite)
                other = baseline.cases.get(sample.case_id) if baseline else None
                other_text, other_rest = _answer_and_rest(other.output) if other else ("(baseline output missing)", "")
            else:
                other_text, other_rest = reference, ""
                reference = ""  # it is one of the two outputs shown
            candidate_first = order.random() < 0.5
            outputs = [outputs[0], other_text] if candidate_first else [other_text, outputs[0]]
            extras = [extras[0], other_rest] if candidate_first else [other_rest, extras[0]]
        return _Item(
            index=index,
            sample=sample,
            verdict=verdict,
            input=_input_text(data.get("input", data.get("question"))),
            reference=reference,
            outputs=outputs,
            extras=extras,
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
                        "extras": item.extras,
                        "saved": None if label is None else self._screen_choice(item, label),
                        "verdict": None if label is None else self._verdict_view(item),
                    }
                )
            return {
                "rubric": {
                    **self.info.to_dict(),
                    "choices": self._choices(),
                    "criteria": self.info.criteria,
                    "points": [[point, meaning] for point, meaning in self.info.points],
                },
                "labeler": self.labeler,
                "labels_path": str(self.labels_path),
                "already_labeled": self.already_labeled,
                "stale": self.stale,
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

    def get(self, path: str) -> Any:
        """The JSON API's reads (see `pytest_llmgate.localapp`)."""
        if path == "/api/state":
            return self.state()
        raise LookupError(path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON API's writes: save a label, undo the last one."""
        if path == "/api/label":
            return self.save(body.get("index"), body.get("choice"))
        if path == "/api/undo":
            return self.undo()
        raise LookupError(path)


def make_server(session: LabelSession, port: int = 0) -> localapp.LocalAppServer:
    """A server for `session` bound to 127.0.0.1:`port` (0 picks a free port); not started."""
    return localapp.make_server(session, port)


def server_url(server: ThreadingHTTPServer) -> str:
    return localapp.server_url(server)


def serve(session: LabelSession, port: int = 0, *, open_browser: bool = True, announce: Any = print) -> None:
    """Run the labeling app until interrupted (Ctrl-C)."""

    def describe(url: str) -> str:
        return (
            f"Labeling {len(session.items)} outputs of rubric {session.info.name!r} as {session.labeler!r} "
            f"({session.already_labeled} already labeled"
            + (f"; {session.stale} label(s) of older outputs are stale, not counted" if session.stale else "")
            + f") at {url}  - labels go to {session.labels_path}; "
            "Ctrl-C to stop."
        )

    localapp.serve(session, describe, port, open_browser=open_browser, announce=announce)
