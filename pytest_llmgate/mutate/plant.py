"""Plant mutants: read an outputs file and the unmutated run's results, find each suite's output
shape, and write one mutated outputs file per operator (a seeded share of each suite's cases).

Everything here is a pure function of (outputs, results, operators, rate, seed): two runs with
the same inputs write byte-identical files.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate._files import atomic_write_text
from pytest_llmgate.mutate.operators import Operator, Shape, Target

_TEXT_KEYS = ("answer", "response", "text", "content", "output", "completion", "reply", "message")
_TOOL_KEYS = ("tool_calls", "trajectory", "steps", "calls", "actions", "tools")
_RETRIEVAL_KEYS = ("retrieved_ids", "retrieved", "doc_ids", "document_ids", "context_ids", "sources", "ids")


class MutateError(Exception):
    """Why mutation testing cannot go on (a bad outputs file, a run without results)."""


@dataclass
class OutputRow:
    """One case's outputs, as an outputs file holds them (several lines of one case merged)."""

    id: str
    suite: str | None
    outputs: list[Any]
    """One output per run."""
    many: bool = False
    """Whether the file gave them as "outputs" (a list), kept when written back."""

    def line(self) -> str:
        data: dict[str, Any] = {"id": self.id}
        if self.suite is not None:
            data["suite"] = self.suite
        if self.many or len(self.outputs) != 1:
            data["outputs"] = self.outputs
        else:
            data["output"] = self.outputs[0]
        # the format `--llm-gate-save-outputs` writes: sorted keys, compact, one line per case
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def read_outputs(path: Path) -> list[OutputRow]:
    """The rows of an outputs file, one per (suite, case): lines adding runs to a case are merged."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the outputs file {path}: {exc.strerror or exc}."
        raise MutateError(msg) from exc
    rows: dict[tuple[str | None, str], OutputRow] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            msg = f"{path}:{number}: not valid JSON ({exc}); write one JSON object per line."
            raise MutateError(msg) from exc
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            msg = f"{path}:{number}: field 'id' must be a non-empty string (got {data!r:.40})."
            raise MutateError(msg)
        if "outputs" in data and isinstance(data["outputs"], list):
            outputs, many = list(data["outputs"]), True
        elif "output" in data:
            outputs, many = [data["output"]], False
        else:
            msg = f"{path}:{number}: give 'output' or 'outputs' for case '{data['id']}'."
            raise MutateError(msg)
        suite = data.get("suite") if isinstance(data.get("suite"), str) else None
        key = (suite, data["id"])
        if key in rows:
            rows[key].outputs.extend(outputs)
            rows[key].many = True
        else:
            rows[key] = OutputRow(id=data["id"], suite=suite, outputs=outputs, many=many)
    return list(rows.values())


def write_outputs(path: Path, rows: Iterable[OutputRow]) -> Path:
    """Write rows in the `--llm-gate-outputs` format, one line per case, atomically."""
    return atomic_write_text(path, "".join(row.line() for row in rows))


@dataclass
class SuiteCases:
    """What the unmutated run knows of one suite's cases."""

    suite: str
    case_ids: list[str]
    relevant: dict[str, tuple[str, ...]] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    retrieved: dict[str, list[Any]] = field(default_factory=dict)
    """The ranking each case recorded for its retrieval metrics (`details.retrieval.retrieved`)."""


def suites_of(results: dict[str, Any]) -> dict[str, SuiteCases]:
    """Each suite's cases, relevant ids, contexts and recorded rankings, from a results JSON."""
    found: dict[str, SuiteCases] = {}
    for name, suite in sorted((results.get("suites") or {}).items()):
        cases = suite.get("cases") or {}
        info = SuiteCases(suite=name, case_ids=sorted(cases))
        for case_id, case in cases.items():
            fields = case.get("case") or {}
            info.relevant[case_id] = tuple(str(i) for i in fields.get("relevant_ids") or ())
            parts = [str(fields.get("input") or ""), str(fields.get("reference") or "")]
            for verdict in case.get("judge") or []:
                parts += [str(text) for text in verdict.get("context") or []]
            info.context[case_id] = "\n".join(parts)
            retrieval = (case.get("details") or {}).get("retrieval") or {}
            if isinstance(retrieval.get("retrieved"), list):
                info.retrieved[case_id] = retrieval["retrieved"]
        found[name] = info
    return found


def _mostly(values: Sequence[Any], test: Any) -> bool:
    return bool(values) and sum(1 for v in values if test(v)) * 2 > len(values)


def _is_calls(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(c, dict) and "name" in c for c in value)


def detect_shape(outputs: Sequence[Any], retrieved: dict[str, list[Any]] | None = None) -> Shape:
    """Where the outputs of a suite hold their text, tool calls and retrieved ids.

    Text: a string output, or a dict's string field (a conventional name first, else the longest).
    Tool calls: a list of dicts with a "name". Retrieval: the list field equal to the ranking the
    suite scored (so a suite with no retrieval metric gets no retrieval operator). JSON: dicts
    (or strings holding one), whose required fields are those every case has.
    """
    retrieved = retrieved or {}
    if not outputs:
        return Shape()
    objects = [_as_object(o) for o in outputs]
    if all(isinstance(o, dict) for o in objects):
        dicts: list[dict[str, Any]] = [o for o in objects if isinstance(o, dict)]
        required = tuple(sorted(set.intersection(*(set(d) for d in dicts))))
        keys = sorted({k for d in dicts for k in d})
        strings = [k for k in keys if _mostly([d.get(k) for d in dicts], lambda v: isinstance(v, str))]
        named = [k for k in _TEXT_KEYS if k in strings]
        longest = sorted(strings, key=lambda k: -sum(len(str(d.get(k) or "")) for d in dicts))
        text: str | None = [*named, *longest, None][0] if all(isinstance(o, dict) for o in outputs) else None
        calls = [k for k in keys if _mostly([d.get(k) for d in dicts], _is_calls) and any(d.get(k) for d in dicts)]
        tools = [*(k for k in _TOOL_KEYS if k in calls), *calls, None][0]
        scored = [
            k
            for k in keys
            if retrieved
            and any(isinstance(d.get(k), list) and d.get(k) and d.get(k) in retrieved.values() for d in dicts)
        ]
        retrieval = [*(k for k in _RETRIEVAL_KEYS if k in scored), *scored, None][0]
        return Shape(text=text, tools=tools, retrieval=retrieval, json=True, required=required)
    if _mostly(outputs, lambda o: isinstance(o, str)):
        return Shape(text="")
    if _mostly(outputs, _is_calls):
        return Shape(tools="")
    return Shape()


def _as_object(output: Any) -> Any:
    if isinstance(output, str) and output.lstrip().startswith("{"):
        try:
            return json.loads(output)
        except ValueError:
            return output
    return output


@dataclass
class Example:
    """One mutated case, shown in the reports (its outputs are untrusted: escape them)."""

    case_id: str
    before: Any
    after: Any


@dataclass
class Planted:
    """One operator planted in one suite."""

    suite: str
    operator: Operator
    cases: list[str]
    """The mutated cases' ids, sorted."""
    eligible: int
    """Cases the operator changes (it was drawn among them)."""
    example: Example | None = None


def share(rate: float, cases: int) -> int:
    """How many of a suite's cases an operator mutates: `ceil(rate * cases)`, at least one."""
    return max(1, math.ceil(rate * cases - 1e-9))


def _rng(seed: int, *parts: object) -> random.Random:
    # a string seed is hashed with SHA-512 by `random`: stable across processes and Python builds
    return random.Random(":".join([str(seed), *map(str, parts)]))


def plant(
    rows: list[OutputRow],
    suites: dict[str, SuiteCases],
    operator: Operator,
    *,
    rate: float,
    seed: int,
    shapes: dict[str, Shape],
) -> tuple[list[OutputRow], list[Planted]]:
    """The rows with `operator` applied to a seeded share of each suite's cases it applies to."""
    mutated_rows = [OutputRow(r.id, r.suite, list(r.outputs), r.many) for r in rows]
    planted: list[Planted] = []
    for name in sorted(suites):
        info, shape = suites[name], shapes[name]
        if not operator.applies_to(shape):
            continue
        by_id = _rows_of(mutated_rows, name, set(info.case_ids), len(suites))
        ids = [cid for cid in info.case_ids if cid in by_id]
        changed: dict[str, list[Any]] = {}
        for case_id in ids:
            row = by_id[case_id]
            donor = _donor(by_id, ids, case_id, _rng(seed, name, operator.name, case_id, "donor"))
            outputs = []
            for run, output in enumerate(row.outputs):
                target = Target(
                    case_id=case_id,
                    output=output,
                    shape=shape,
                    rng=_rng(seed, name, operator.name, case_id, run),
                    relevant_ids=info.relevant.get(case_id, ()),
                    context=info.context.get(case_id, ""),
                    donor=donor,
                )
                result = operator.apply(target)
                outputs.append(output if result is None else result)
            if outputs != row.outputs:
                changed[case_id] = outputs
        if not changed:
            continue
        eligible = sorted(changed)
        chosen = sorted(_rng(seed, name, operator.name).sample(eligible, min(len(eligible), share(rate, len(ids)))))
        first = chosen[0]
        example = Example(case_id=first, before=by_id[first].outputs[0], after=changed[first][0])
        for case_id in chosen:
            by_id[case_id].outputs = changed[case_id]
        planted.append(Planted(suite=name, operator=operator, cases=chosen, eligible=len(eligible), example=example))
    return mutated_rows, planted


def _rows_of(rows: list[OutputRow], suite: str, ids: set[str], suites: int) -> dict[str, OutputRow]:
    """The rows of `suite`: those naming it, or, without a suite field, those of its ids when one suite holds them."""
    named = {r.id: r for r in rows if r.suite == suite}
    if named:
        return named
    return {r.id: r for r in rows if r.suite is None and r.id in ids and suites >= 1}


def _donor(by_id: dict[str, OutputRow], ids: list[str], case_id: str, rng: random.Random) -> Any:
    own = by_id[case_id].outputs[0] if by_id[case_id].outputs else None
    others = [cid for cid in ids if cid != case_id and by_id[cid].outputs and by_id[cid].outputs[0] != own]
    if not others:
        return None
    return by_id[others[rng.randrange(len(others))]].outputs[0]


def shapes_of(rows: list[OutputRow], suites: dict[str, SuiteCases]) -> dict[str, Shape]:
    """Each suite's output shape, from its outputs (first runs) and its recorded rankings."""
    shapes = {}
    for name, info in suites.items():
        by_id = _rows_of(rows, name, set(info.case_ids), len(suites))
        outputs = [by_id[cid].outputs[0] for cid in info.case_ids if cid in by_id and by_id[cid].outputs]
        shapes[name] = detect_shape(outputs, info.retrieved)
    return shapes
