"""Finished cases' outputs and details stream to a spill file during the run; the files written at
the end read them back, so they are what they were when every record stayed whole in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_project import write_dataset

from pytest_llmgate._files import dumps
from pytest_llmgate.gate.records import CaseResult, RepeatResult, RunResults, SuiteResult
from pytest_llmgate.gate.spill import CaseSpill
from pytest_llmgate.report.html import render_html_string

#: Each case notes how many finished cases the spill file holds when its body runs. The file has
#: no name once made (a kill leaves nothing): it is found through the process's open files.
TEST_FILE = """
import json, os

import pytest


def spill_files():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(os.path.join("/proc/self/fd", fd))
        except OSError:
            continue
        if "llm-gate-cases-" in target and target.startswith(os.path.realpath(os.environ["TMPDIR"])):
            found.append(os.path.join("/proc/self/fd", fd))
    return found


@pytest.mark.golden("datasets/qa.jsonl")
def test_qa(case, llm_gate):
    number = int(case.id.split("-")[1])
    llm_gate.output({"answer": case.reference, "n": number, "text": "caf\\u00e9 <b>"})
    llm_gate.retrieval([case.relevant_ids[0], "noise"], k=(1, 5))
    spilled = spill_files()
    lines = open(spilled[0], encoding="ascii").read().splitlines() if spilled else []
    with open("seen.txt", "a", encoding="utf-8") as f:
        f.write(json.dumps([number, len(spilled), len(lines)]) + "\\n")
    assert number != 3, "case 3 fails its check"
"""


def make_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, n: int = 12) -> None:
    # The spill file is a scratch file in $TMPDIR: one of the test's own, to watch it.
    (pytester.path / "scratch").mkdir()
    monkeypatch.setenv("TMPDIR", str(pytester.path / "scratch"))
    pytester.makeini("[pytest]\nllm_gate_primary = checks_passed recall@5\n")
    write_dataset(pytester, n)
    pytester.makepyfile(test_qa=TEST_FILE)


def gated(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", *args)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the nameless spill file through /proc")
def test_spill_file_grows_during_the_run_and_is_removed_at_the_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(pytester, monkeypatch)
    result = gated(pytester, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    seen = [json.loads(line) for line in (pytester.path / "seen.txt").read_text(encoding="utf-8").splitlines()]
    # While case n runs, the n cases before it are in the spill file, one line each.
    assert seen == [[n, 1 if n else 0, n] for n in range(12)]
    assert not list((pytester.path / "scratch").iterdir())  # removed at the end
    # The baseline written at the end has every output, read back from the spill.
    baseline = json.loads((pytester.path / "baselines" / "test_qa" / "test_qa.json").read_text(encoding="utf-8"))
    assert baseline["cases"]["q-5"]["output"] == {"answer": "answer 5", "n": 5, "text": "café <b>"}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_files_from_spilled_records_are_whole(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    make_project(pytester, monkeypatch)
    assert gated(pytester, "--llm-gate-update").ret == 0
    result = gated(pytester, *workers, "--llm-gate-save-outputs=outputs.jsonl")
    assert result.ret == 0, result.stdout.str()
    text = (pytester.path / "reports" / "llm-gate.json").read_text(encoding="utf-8")
    results = RunResults.model_validate_json(text)
    # The one-string writer of the whole records gives the same bytes, report included.
    assert dumps(results.model_dump(mode="json"), compact=True) == text
    assert (pytester.path / "reports" / "llm-gate.html").read_text(encoding="utf-8") == render_html_string(results)
    cases = results.suites["test_qa.py::test_qa"].cases
    assert len(cases) == 12
    for n in range(12):
        case = cases[f"q-{n}"]
        assert case.output == {"answer": f"answer {n}", "n": n, "text": "café <b>"}
        assert case.details["retrieval"]["retrieved"] == [f"doc-{n}", "noise"]
        assert case.passed == (n != 3)
    assert cases["q-3"].failure is not None and "case 3 fails its check" in cases["q-3"].failure
    saved = [json.loads(line) for line in (pytester.path / "outputs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["output"]["n"] for row in saved] == sorted(range(12), key=lambda n: f"q-{n}")
    assert not list((pytester.path / "scratch").iterdir())


def test_spill_moves_fields_out_and_reads_them_back(tmp_path: Path) -> None:
    spill = CaseSpill(tmp_path)
    record = CaseResult(
        case_id="c-1",
        nodeid="t.py::test[c-1]",
        output={"answer": "lone \ud800 surrogate", "x": [1, 2.5]},
        details={"retrieval": {"ranks": {"d": 1}}},
        metrics={"m": 0.25},
        repeats=[RepeatResult(output="first", details={"k": 1}), RepeatResult(output="second")],
    )
    whole = record.model_copy(deep=True)
    spill.put("t.py::test", record)
    # In memory only what the gate needs stays: the values, not the outputs.
    assert record.output is None and record.details == {} and [r.output for r in record.repeats] == [None, None]
    assert record.metrics == {"m": 0.25}
    assert spill.restore("t.py::test", record) == whole
    suite = SuiteResult(suite="t.py::test", dataset="d.jsonl", cases={"c-1": record})
    assert spill.whole({"t.py::test": suite})["t.py::test"].cases["c-1"] == whole
    other = CaseResult(case_id="c-2", nodeid="t.py::test[c-2]", output="never spilled")
    assert spill.restore("t.py::test", other) is other
    assert spill.path is not None and spill.path.parent == tmp_path
    spill.close()
    assert not list(tmp_path.iterdir())


def test_unwritable_spill_keeps_records_whole(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    spill = CaseSpill(blocker)  # not a folder
    record = CaseResult(case_id="c", nodeid="t.py::test[c]", output="kept")
    spill.put("t.py::test", record)
    assert record.output == "kept" and spill.failed is not None and str(blocker) in spill.failed
    assert spill.restore("t.py::test", record) is record
