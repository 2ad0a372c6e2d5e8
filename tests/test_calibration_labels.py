"""Labels files: append-only, fsync per line, undo tombstones, last label wins, file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmgate.calibration.labels import (
    Label,
    LabelFileError,
    append_label,
    append_undo,
    labels_path,
    load_labels,
    read_entries,
)


def _label(case_id: str, value: object, **extra: object) -> Label:
    return Label(
        suite="s", case_id=case_id, rubric="helpful", label=value, labeler="ann", output_hash="h-" + case_id, **extra
    )


def test_append_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "labels" / "helpful.jsonl"
    first, second = _label("c1", 4), _label("c2", "pass")
    append_label(path, first)
    append_label(path, second)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == first.model_dump()
    assert list(json.loads(lines[0])) == sorted(json.loads(lines[0]))  # sorted keys
    assert load_labels(path) == [first, second]
    assert first.created_at.endswith("Z")


def test_last_label_for_the_same_output_wins_and_other_outputs_stay(tmp_path: Path) -> None:
    path = tmp_path / "helpful.jsonl"
    append_label(path, _label("c1", 2))
    append_label(path, _label("c1", 5))
    other_output = Label(suite="s", case_id="c1", rubric="helpful", label=1, labeler="ann", output_hash="other")
    append_label(path, other_output)
    labels = load_labels(path)
    assert sorted((lab.output_hash, lab.label) for lab in labels) == [("h-c1", 5), ("other", 1)]


def test_undo_appends_a_tombstone_and_restores_the_previous_label(tmp_path: Path) -> None:
    path = tmp_path / "helpful.jsonl"
    old, new = _label("c1", 2), _label("c1", 5)
    append_label(path, old)
    append_label(path, new)
    before = path.read_text(encoding="utf-8")
    append_undo(path, new.id, "ann")
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)  # append-only: nothing rewritten
    assert json.loads(after.splitlines()[-1])["undo"] == new.id
    assert load_labels(path) == [old]
    append_undo(path, old.id)
    assert load_labels(path) == []
    assert len(read_entries(path)) == 4


def test_pairwise_and_pass_fail_values_and_bools_rejected() -> None:
    assert _label("c", "A").label == "A"
    with pytest.raises(ValueError):
        _label("c", True)
    with pytest.raises(ValueError):
        _label("c", "win")
    with pytest.raises(ValueError):
        _label("c", 2.5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"bad\.jsonl:2: invalid JSON"),
        ("[1, 2]", r"bad\.jsonl:2: a label must be a JSON object"),
        (
            '{"suite": "s", "case_id": "c", "rubric": "r", "label": 3, "labeler": "a"}',
            r"bad\.jsonl:2: field 'output_hash'",
        ),
        (
            '{"suite": "s", "case_id": "c", "rubric": "r", "label": "maybe", "labeler": "a", "output_hash": "h"}',
            r"bad\.jsonl:2: field 'label",
        ),
        ('{"undo": "nope"}', r"bad\.jsonl:2: undo of unknown label id 'nope'"),
    ],
)
def test_load_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    append_label(path, _label("c1", 3))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    with pytest.raises(LabelFileError, match=message):
        load_labels(path)


def test_duplicate_id_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    label = _label("c1", 3)
    append_label(path, label)
    append_label(path, label)
    with pytest.raises(LabelFileError, match=r"dup\.jsonl:2: duplicate label id"):
        load_labels(path)


def test_a_line_cut_short_is_reported_and_the_next_label_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    append_label(path, _label("c1", 3))
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"suite": "s", "case')  # a crash mid-write
    with pytest.raises(LabelFileError, match=r"cut\.jsonl:2: invalid JSON \(cut short"):
        load_labels(path)
    append_label(path, _label("c2", 4))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["case_id"] == "c2"


def test_missing_file(tmp_path: Path) -> None:
    assert load_labels(tmp_path / "none.jsonl", missing_ok=True) == []
    with pytest.raises(FileNotFoundError, match="llmgate label"):
        load_labels(tmp_path / "none.jsonl")
    assert labels_path("helpful") == Path("datasets/labels/helpful.jsonl")
