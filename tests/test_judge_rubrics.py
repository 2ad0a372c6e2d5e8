"""Rubric files: loading, defaults, content hash, and file/field validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.judge.rubrics import Rubric, RubricError, check_rubrics, load_rubrics

CORRECTNESS = """\
name: correctness
version: 2
kind: pointwise
scale: {min: 1, max: 5}
criteria: |
  Is the answer consistent with the reference?
both_orders: true
examples:
  - candidate: Refunds take five days.
    reference: Refunds are processed within five business days.
    answer: 5
    reason: Same fact.
"""

HELPFULNESS = """\
name: helpfulness
version: "1"
kind: pairwise
criteria: Which response helps the customer more?
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    write(tmp_path / "rubrics", "bad.yaml", text)
    with pytest.raises(RubricError) as info:
        load_rubrics(tmp_path / "rubrics")
    return str(info.value)


def test_loads_rubrics_with_defaults(tmp_path: Path) -> None:
    write(tmp_path / "rubrics", "correctness.yaml", CORRECTNESS)
    write(tmp_path / "rubrics", "helpfulness.yml", HELPFULNESS)
    write(tmp_path / "rubrics", "notes.txt", "not a rubric")
    rubrics = load_rubrics(tmp_path / "rubrics")
    assert sorted(rubrics) == ["correctness", "helpfulness"]
    correctness = rubrics["correctness"]
    assert correctness.version == "2"
    assert (correctness.scale_min, correctness.scale_max) == (1, 5)
    assert correctness.both_orders is True
    assert correctness.examples[0].answer == 5
    assert correctness.source == "rubrics/correctness.yaml"
    helpfulness = rubrics["helpfulness"]
    assert helpfulness.kind == "pairwise"
    assert helpfulness.both_orders is True  # pairwise default
    assert helpfulness.metric == "judge:helpfulness"


def test_missing_directory_is_empty(tmp_path: Path) -> None:
    assert load_rubrics(tmp_path / "nowhere") == {}


def test_both_orders_default_when_built_directly() -> None:
    assert Rubric(name="p", version="1", kind="pairwise", criteria="c").both_orders is True
    assert Rubric(name="q", version="1", kind="pointwise", criteria="c").both_orders is False


def test_content_hash_tracks_content_not_source(tmp_path: Path) -> None:
    base = Rubric(name="r", version="1", kind="pointwise", criteria="Be correct.")
    same = Rubric(name="r", version="1", kind="pointwise", criteria="Be correct.", source="elsewhere.yaml")
    changed = Rubric(name="r", version="1", kind="pointwise", criteria="Be very correct.")
    assert base.content_hash.startswith("sha256:") and len(base.content_hash) == 7 + 64
    assert base.content_hash == same.content_hash
    assert base.content_hash != changed.content_hash


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nversion: 1\nkind: pointwise\nscale: {min: 3, max: 2}\ncriteria: c\n",
            "rubrics/bad.yaml:4: field 'scale.max': must be greater than scale.min (got min=3, max=2).",
        ),
        ("name: x\nversion: 1\nkind: pointwise\n", "rubrics/bad.yaml: field 'criteria': Field required."),
        ("name: x\nversion: 1\nkind: rating\ncriteria: c\n", "rubrics/bad.yaml:3: field 'kind': Input should be"),
        (
            "name: x\nversion: 1\nkind: pointwise\ncriteria: c\nscal: {}\n",
            "rubrics/bad.yaml:5: field 'scal': unknown key; did you mean 'scale'?",
        ),
        ("name: x\nversion: 1\nkind: pointwise\ncriteria: '   '\n", "field 'criteria': must not be blank."),
        ("name: 'a b'\nversion: 1\nkind: pointwise\ncriteria: c\n", "rubrics/bad.yaml:1: field 'name': String"),
        (
            "name: x\nversion: 1\nkind: pairwise\nscale: {min: 1, max: 5}\ncriteria: c\n",
            "field 'scale': only pointwise rubrics have a scale (kind is 'pairwise').",
        ),
        (
            "name: x\nversion: 1\nkind: pointwise\ncriteria: c\nexamples:\n  - candidate: a\n    answer: 9\n",
            "field 'examples.0.answer': must be an integer from 1 to 5 (got 9).",
        ),
        (
            "name: x\nversion: 1\nkind: pairwise\ncriteria: c\nexamples:\n  - candidate: a\n    answer: A\n",
            "field 'examples.0.other': pairwise examples need 'other' (response B).",
        ),
        ("- just\n- a list\n", "rubrics/bad.yaml: a rubric file must hold a mapping (got list)."),
        ("name: x\nkind: [unclosed\n", "rubrics/bad.yaml: invalid YAML at line 3"),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_duplicate_names_name_both_files(tmp_path: Path) -> None:
    write(tmp_path / "rubrics", "a.yaml", HELPFULNESS)
    write(tmp_path / "rubrics", "b.yaml", HELPFULNESS)
    with pytest.raises(RubricError) as info:
        load_rubrics(tmp_path / "rubrics")
    assert str(info.value) == (
        "rubrics/b.yaml: field 'name': rubric 'helpfulness' is already defined in rubrics/a.yaml; rename one."
    )


def test_template_errors_are_field_errors(tmp_path: Path) -> None:
    syntax = load_error(tmp_path, HELPFULNESS + "template: '{% if %}'\n")
    assert syntax.startswith("rubrics/bad.yaml:5: field 'template': Jinja2 syntax error at line 1")
    # A template cannot reach the raw candidate: only finished data blocks are exposed.
    raw = load_error(tmp_path, HELPFULNESS + "template: '{{ candidate }} {{ data_blocks }}'\n")
    assert "field 'template': does not render" in raw and "'candidate' is undefined" in raw
    missing = load_error(tmp_path, HELPFULNESS + "template: 'Judge {{ blocks.response_a }}'\n")
    assert "field 'template': must include every data block" in missing
    assert missing.endswith("(missing 'input').")


def test_custom_template_is_used(tmp_path: Path) -> None:
    write(tmp_path / "rubrics", "t.yaml", HELPFULNESS + "template: 'Custom {{ criteria }}\\n{{ data_blocks }}'\n")
    rubric = load_rubrics(tmp_path / "rubrics")["helpfulness"]
    assert rubric.template is not None and rubric.template.startswith("Custom")


def test_a_typo_names_the_key_and_the_closest_known_one(tmp_path: Path) -> None:
    message = load_error(tmp_path, "name: x\nversion: 1\nkind: pointwise\ncritera: Be right.\n")
    assert message == "rubrics/bad.yaml:4: field 'critera': unknown key; did you mean 'criteria'?"
    nested = load_error(tmp_path, "name: x\nversion: 1\nkind: pointwise\ncriteria: c\nscale: {mni: 1, max: 5}\n")
    assert nested.startswith("rubrics/bad.yaml:5: field 'scale.mni': unknown key; did you mean 'min'?")
    far = load_error(tmp_path, "name: x\nversion: 1\nkind: pointwise\ncriteria: c\nzzz: 1\n")
    assert far.endswith(
        "field 'zzz': unknown key; use one of name, version, kind, scale, criteria, examples, "
        "template, both_orders, pass_threshold, needs, mode, offline, aggregate, doc, show_reference."
    )


def test_check_rubrics_reports_every_bad_file_and_keeps_the_good(tmp_path: Path) -> None:
    write(tmp_path / "rubrics", "a.yaml", "name: a\nversion: 1\nkind: pointwise\n")
    write(tmp_path / "rubrics", "b.yaml", HELPFULNESS)
    write(tmp_path / "rubrics", "c.yml", "name: c\nversion: 1\nkind: rating\ncriteria: c\n")
    rubrics, problems = check_rubrics(tmp_path / "rubrics")
    assert list(rubrics) == ["helpfulness"]
    assert [p.split(":")[0] for p in problems] == ["rubrics/a.yaml", "rubrics/c.yml"]
