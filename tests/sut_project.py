"""A small user project whose SUT is an HTTP call to the fake provider's `/sut` model, written in
every style the plugin supports, chosen by environment variables:

- `SUT_STYLE`: `inbody` (the SUT called in the test body, `llm_gate.output(...)`), `sync`
  (`sut=ask`), `async` (`sut=ask_async`), `fixture` (`sut="sut_client"`, a session fixture);
- `GATE_MODE=worse`: even-numbered cases get a wrong answer (a planted regression);
- `SUT_FLAKY=P`: every third case answers wrongly with probability P (planted nondeterminism);
- `SUT_RAISE=q-4` / `SUT_SLOW=q-2`: that case's SUT raises / sleeps 3 s (`all` for every case);
- `SUT_REPEAT=K`: `repeat=K` on the marker; `SUT_UNIQUE=1`: every call's answer is different.
"""

from __future__ import annotations

import json

import pytest

N_CASES = 30

TEST_FILE = """
import asyncio
import itertools
import json
import os
import time
import urllib.request

import pytest

STYLE = os.environ.get("SUT_STYLE", "inbody")
MODE = os.environ.get("GATE_MODE", "good")
URL = os.environ.get("FAKE_SUT_URL", "http://127.0.0.1:9")
FLAKY = float(os.environ.get("SUT_FLAKY", "0"))
RAISE = os.environ.get("SUT_RAISE", "")
SLOW = os.environ.get("SUT_SLOW", "")
UNIQUE = os.environ.get("SUT_UNIQUE") == "1"
MARK = {"repeat": int(os.environ["SUT_REPEAT"])} if os.environ.get("SUT_REPEAT") else {}
TAKES = itertools.count()


def _request(case):
    number = int(case.id.split("-")[1])
    reference = case.reference
    if MODE == "worse" and number % 2 == 0:
        reference = "I am not sure, please contact support."
    return {"input": case.input, "reference": reference, "flaky": FLAKY if number % 3 == 0 else 0.0}


def _finish(case, answer):
    if RAISE in (case.id, "all"):
        raise RuntimeError("planted SUT failure")
    if UNIQUE:
        answer["answer"] += f" (take {next(TAKES)})"
    return answer


def ask(case):
    if SLOW in (case.id, "all"):
        time.sleep(3)
    body = json.dumps(_request(case)).encode()
    request = urllib.request.Request(URL + "/sut", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return _finish(case, json.loads(response.read()))


async def ask_async(case):
    if SLOW in (case.id, "all"):
        await asyncio.sleep(3)
    host, port = URL.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    data = json.dumps(_request(case)).encode()
    head = f"POST /sut HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Type: application/json\\r\\n"
    head += f"Content-Length: {len(data)}\\r\\nConnection: close\\r\\n\\r\\n"
    writer.write(head.encode() + data)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return _finish(case, json.loads(raw.partition(b"\\r\\n\\r\\n")[2]))


@pytest.fixture(scope="session")
def sut_client():
    return ask


def body(case, result, llm_gate):
    number = int(case.id.split("-")[1])
    llm_gate.judge("correctness")
    llm_gate.score("answer_words", len(result["answer"].split()))
    assert number != 7, "case 7 always fails its check"
    assert "not sure" not in result["answer"], f"case {case.id}: the SUT did not know"


if STYLE == "inbody":

    @pytest.mark.golden("datasets/qa.jsonl", **MARK)
    def test_qa(case, llm_gate):
        result = ask(case)
        llm_gate.output(result)
        body(case, result, llm_gate)

else:
    SUT = {"sync": ask, "async": ask_async, "fixture": "sut_client"}[STYLE]

    @pytest.mark.golden("datasets/qa.jsonl", sut=SUT, **MARK)
    def test_qa(case, output, llm_gate):
        body(case, output, llm_gate)
"""

CORRECTNESS = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: |
  5 when the answer states the same facts as the reference, 1 when it contradicts or misses them.
"""


def make_sut_project(pytester: pytest.Pytester, n: int = N_CASES) -> None:
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps(
            {"id": f"q-{i}", "input": f"What is in crate {i}?", "reference": f"Crate {i} holds {i * 3 + 7} apples."}
        )
        for i in range(n)
    ]
    (pytester.path / "datasets").mkdir(exist_ok=True)
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir(exist_ok=True)
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
