"""The golden-set loader reads lines through jsonlines and keeps its own file:line messages,
including for what jsonlines alone would let pass (a byte order mark or a record separator at
the start of a later line) and for JSON nested past Python's recursion limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.datasets import DatasetError, load_cases


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ('\ufeff{"input": "b"}', "invalid JSON at column 1: Expecting value"),
        ('\x1e{"input": "b"}', "invalid JSON at column 1: Expecting value"),
        ('{"input": "b"', "invalid JSON at column 14: Expecting ',' delimiter"),
        ('{"input": NaN}', "invalid JSON: NaN is not valid JSON; use null or a number."),
        ("null", "expected a JSON object {...}, got null"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON: arrays or objects nested too deeply"),
    ],
)
def test_bad_lines_keep_their_file_line_messages(tmp_path: Path, second_line: str, message: str) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text('{"input": "a"}\n' + second_line + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_cases(path)
    assert str(info.value).startswith(f"{path}:2: {message}"), str(info.value)
    assert info.value.line == 2


def test_lines_after_a_bad_one_are_not_read_out_of_step(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a", "input": "x"}\n{"id": "b", "input": "y"}\n{"id": "a", "input": "z"}\n')
    with pytest.raises(DatasetError, match=r"g\.jsonl:3: field 'id': duplicate id 'a' \(also on line 1\)"):
        load_cases(path)
