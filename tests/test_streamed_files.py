"""The results file and the HTML report are written in pieces, one case at a time, and come
out byte-identical to the one-string form; a case record points at its case rather than copying it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from gate_project import make_project
from test_report_data import make_results

from pytest_llmgate._files import Streamed, atomic_write_chunks, dumps, iter_dumps
from pytest_llmgate.datasets import Case, case_to_record
from pytest_llmgate.gate.records import BaselineCase, CaseFields, CaseResult, RunResults, results_json_chunks
from pytest_llmgate.report import html as report_html
from pytest_llmgate.report.case_data import CaseData
from pytest_llmgate.report.html import build_case_data, embed_case_data, render_html, render_html_string


def test_iter_dumps_of_streamed_objects_is_dumps_of_the_whole() -> None:
    inner = {"b": [1, 2.5, None], "a": "é <x>", "c": {"z": True, "y": {}}}
    whole = {"top": inner, "list": [inner], "streamed": {"k2": inner, "k1": {"q": 1}}, "n": 3}
    calls: list[str] = []

    def value(key: str) -> object:
        calls.append(key)
        return whole["streamed"][key]  # type: ignore[index]

    data = {**whole, "streamed": Streamed(["k2", "k1"], value)}
    assert "".join(iter_dumps(data)) + "\n" == dumps(whole, compact=True)
    assert calls == ["k1", "k2"]  # made when written, in sorted order


def test_iter_dumps_refuses_nan_like_dumps() -> None:
    with pytest.raises(ValueError):
        "".join(iter_dumps({"x": Streamed(["a"], lambda key: math.nan)}))


def test_results_chunks_are_the_one_string_results_file() -> None:
    results = make_results(40)
    whole = dumps(results.model_dump(mode="json"), compact=True)
    assert "".join(results_json_chunks(results)) == whole
    assert RunResults.model_validate_json(whole).model_dump(mode="json") == results.model_dump(mode="json")


def test_failing_chunk_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old\n", encoding="utf-8")

    def chunks() -> object:
        yield "new, half"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write_chunks(target, chunks())  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.parametrize("limit", [None, 0, 10**9])
def test_case_data_in_pieces_is_the_embedded_block(limit: int | None) -> None:
    results = make_results(60)
    expected = embed_case_data(build_case_data(results), compress_above=limit)
    pieces, encoding = report_html._embedded_case_data(
        report_html._case_data_chunks(CaseData(results)), compress_above=limit
    )
    assert ("".join(pieces), encoding) == (str(expected[0]), expected[1])


def test_report_file_is_the_one_string_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = make_results(30)
    for limit in (report_html.COMPRESS_ABOVE, 0):  # plain block, then compressed
        monkeypatch.setattr(report_html, "COMPRESS_ABOVE", limit)
        path = render_html(results, tmp_path / "r.html")
        assert path.read_text(encoding="utf-8") == render_html_string(results)


@pytest.mark.parametrize("conversation", [False, True], ids=["text input", "conversation input"])
def test_case_record_points_at_the_case_and_dumps_its_fields(conversation: bool) -> None:
    raw = {"id": "c-1", "input": "q", "reference": "r", "tags": ["t"], "cluster": "k", "metadata": {"a": None}}
    if conversation:
        raw["input"] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    case = Case.model_validate(raw)
    record = CaseResult(case_id="c-1", nodeid="t.py::test[c-1]", case=CaseFields(case))
    assert isinstance(record.case, CaseFields)
    assert record.case._case is case  # a reference, not a copy of the fields
    assert record.case.get("tags") == ["t"] and record.case["cluster"] == "k"
    for key in (
        "id",
        "input",
        "reference",
        "tags",
        "cluster",
        "metadata",
        "relevant_ids",
        "expected_tool_calls",
        "nope",
    ):
        assert record.case.get(key, "absent") == case_to_record(case).get(key, "absent"), key
    assert dict(record.case.items()) == case_to_record(case) == record.case
    dumped = record.model_dump(mode="json")
    assert dumped["case"] == case_to_record(case)
    assert CaseResult.model_validate_json(record.model_dump_json()).case == case_to_record(case)


def test_baseline_case_is_a_slotted_record() -> None:
    case = BaselineCase(passed=False, metrics={"m": 0.5}, output={"a": 1})
    assert not hasattr(case, "__dict__")
    with pytest.raises(ValueError):
        BaselineCase(passed=True, metrics={}, output=None, extra=1)  # type: ignore[call-arg]


def test_gated_session_files_are_what_one_string_writers_give(pytester: pytest.Pytester) -> None:
    make_project(pytester, n=30)
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llm-gate-update").ret == 0
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--junitxml=junit.xml"
    )
    assert result.ret == 0, result.stdout.str()
    text = (pytester.path / "reports" / "llm-gate.json").read_text(encoding="utf-8")
    results = RunResults.model_validate_json(text)
    assert dumps(results.model_dump(mode="json"), compact=True) == text
    suite = next(iter(results.suites.values()))
    loaded = {"id": "q-3", "input": "question 3", "reference": "answer 3", "relevant_ids": ["doc-3"]}
    assert suite.cases["q-3"].case == case_to_record(Case.model_validate(loaded))  # the case's fields, not a reference
    html = (pytester.path / "reports" / "llm-gate.html").read_text(encoding="utf-8")
    assert html == render_html_string(results)
    assert json.loads(text)["suites"]  # the file is whole JSON
