"""Bad inputs stop a gated session before any test runs, with exit 4 and file:line:field:
rubrics, human labels, `llm_gate_min_agreement` names, golden-marker values, baselines
written by a newer plugin, and settings in the user's terms."""

from __future__ import annotations

import json

import pytest
from gate_project import make_project

GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
BASELINE = "baselines/test_qa/test_qa.json"
RUBRIC = """name: correctness
version: "1"
kind: pointwise
scale: {min: 1, max: 5}
criteria: Same facts as the reference.
"""


def _label(line: int, value: object, rubric: str = "correctness") -> str:
    return json.dumps(
        {
            "id": f"label-{line}",
            "suite": "test_qa.py::test_qa",
            "case_id": f"q-{line}",
            "rubric": rubric,
            "label": value,
            "labeler": "ann",
            "output_hash": "sha256:" + "0" * 64,
        }
    )


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    make_project(pytester, 12)
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(RUBRIC, encoding="utf-8")
    return pytester


def _stopped_before_tests(result: pytest.RunResult, project: pytest.Pytester) -> str:
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "passed" not in out and "Traceback" not in out
    assert not (project.path / "reports").exists() and not (project.path / "baselines").exists()
    return out


def test_a_typo_in_a_rubric_names_the_key_and_the_closest_one(project: pytest.Pytester) -> None:
    (project.path / "rubrics/other.yaml").write_text(
        "name: other\nversion: 1\nkind: pass_fail\ncritera: Is it polite?\n", encoding="utf-8"
    )
    out = _stopped_before_tests(project.runpytest(*GATE), project)
    assert "ERROR: rubrics/other.yaml:4: field 'critera': unknown key; did you mean 'criteria'?" in out
    assert "Field required" not in out


def test_every_bad_rubric_is_reported_even_unused_ones(project: pytest.Pytester) -> None:
    (project.path / "rubrics/a.yaml").write_text("name: a\nversion: 1\nkind: rating\ncriteria: c\n", encoding="utf-8")
    (project.path / "rubrics/b.yaml").write_text("name: b\nversion: 1\nkind: pointwise\n", encoding="utf-8")
    out = _stopped_before_tests(project.runpytest(*GATE), project)
    assert "ERROR: rubrics/a.yaml:3: field 'kind'" in out
    assert "ERROR: rubrics/b.yaml: field 'criteria': Field required." in out


@pytest.mark.parametrize(
    ("value", "shown"),
    [(9, "9"), ("pass", "'pass'")],
)
def test_a_label_off_the_scale_stops_at_session_start(project: pytest.Pytester, value: object, shown: str) -> None:
    labels = project.path / "datasets/labels"
    labels.mkdir(parents=True)
    (labels / "correctness.jsonl").write_text(_label(1, 3) + "\n" + _label(2, value) + "\n", encoding="utf-8")
    out = _stopped_before_tests(project.runpytest(*GATE), project)
    assert (
        f"ERROR: datasets/labels/correctness.jsonl:2: field 'label': {shown} is not on the scale of rubric "
        f"'correctness' (1, 2, 3, 4, 5); fix the label." in out
    )


def test_a_label_of_an_unknown_rubric_stops_at_session_start(project: pytest.Pytester) -> None:
    labels = project.path / "datasets/labels"
    labels.mkdir(parents=True)
    (labels / "tone.jsonl").write_text(_label(1, "pass", rubric="tone") + "\n", encoding="utf-8")
    out = _stopped_before_tests(project.runpytest(*GATE), project)
    assert "datasets/labels/tone.jsonl:1: field 'rubric': unknown rubric 'tone' (known: correctness)" in out


def test_min_agreement_for_an_unknown_rubric_says_unknown_rubric(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nllm_gate_min_agreement = corectness=0.4\n")
    out = _stopped_before_tests(project.runpytest(*GATE), project)
    assert "'llm_gate_min_agreement': unknown rubric 'corectness' (rubrics in rubrics: correctness)" in out
    assert "too few labels" not in out


def test_labels_that_match_nothing_are_counted_and_reported(project: pytest.Pytester) -> None:
    source = (project.path / "test_qa.py").read_text()
    project.makepyfile(
        test_qa=source.replace("llm_gate.retrieval(", 'llm_gate.judge("correctness")\n    llm_gate.retrieval(')
    )
    labels = project.path / "datasets/labels"
    labels.mkdir(parents=True)
    stale = _label(1, 4)  # a case that exists, another output
    unmatched = _label(99, 2)  # no such case
    (labels / "correctness.jsonl").write_text(stale + "\n" + unmatched + "\n", encoding="utf-8")
    result = project.runpytest(*GATE)
    result.stdout.fnmatch_lines(["*correctness (pointwise)*0 (+1 stale, 1 unmatched)*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('tolerance="x"', "'tolerance' must be a number (got 'x')."),
        ("alpha=2", "'alpha' must be strictly between 0 and 1 (got 2)."),
        (
            'metrics={"recall@5": {"min_scor": 0.7}}',
            "'metrics['recall@5']' has unknown key 'min_scor'; did you mean 'min_score'?",
        ),
        ('metrics={"mrr": {"tolerance": -1}}', "'metrics['mrr'].tolerance' must be >= 0 (got -1)."),
    ],
)
def test_marker_values_are_checked_at_collection_with_the_tests_location(
    project: pytest.Pytester, marker: str, message: str
) -> None:
    source = (project.path / "test_qa.py").read_text()
    project.makepyfile(test_qa=source.replace('"datasets/qa.jsonl")', f'"datasets/qa.jsonl", {marker})'))
    line = next(i for i, text in enumerate(source.splitlines(), start=1) if text.startswith("@pytest.mark.golden"))
    out = _stopped_before_tests(project.runpytest(*GATE), project)
    assert f"ERROR: test_qa.py:{line}: @pytest.mark.golden {message}" in out


def test_a_baseline_from_a_newer_plugin_is_neither_read_nor_downgraded(project: pytest.Pytester) -> None:
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    path = project.path / BASELINE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(format_version=2, plugin_version="9.0.0", new_field={"x": 1})
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    before = path.read_bytes()
    for args in (GATE, (*GATE, "--llm-gate-update")):
        result = project.runpytest(*args)
        out = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR, out
        assert "written by pytest-llmgate 9.0.0 in baseline format 2" in out
        assert "will not read or downgrade it. Upgrade: pip install -U pytest-llmgate." in out
        assert path.read_bytes() == before


def test_a_baseline_without_a_plugin_version_still_loads(project: pytest.Pytester) -> None:
    assert project.runpytest(*GATE, "--llm-gate-update").ret == 0
    path = project.path / BASELINE
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["plugin_version"]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert project.runpytest(*GATE).ret == 0


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (("--llm-gate-tolerance", "-0.1"), "", "'--llm-gate-tolerance' must be >= 0 (got -0.1)."),
        ((), "llm_gate_tolerance = -1", "'llm_gate_tolerance' must be >= 0 (got '-1')."),
        (("--llm-gate-alpha", "1"), "", "'--llm-gate-alpha' must be strictly between 0 and 1 (got 1.0)."),
        (("--llm-gate-concurrency", "0"), "", "'--llm-gate-concurrency' must be a positive integer (got 0)."),
    ],
)
def test_settings_errors_name_what_the_user_typed(
    project: pytest.Pytester, args: tuple[str, ...], ini: str, message: str
) -> None:
    project.makeini(f"[pytest]\n{ini}\n")
    result = project.runpytest(*GATE, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_plain_pytest_loads_none_of_the_gate_files(project: pytest.Pytester) -> None:
    (project.path / "rubrics/correctness.yaml").write_text("kind: [\n", encoding="utf-8")
    (project.path / "datasets/qa.jsonl").write_text("not json\n", encoding="utf-8")
    labels = project.path / "datasets/labels"
    labels.mkdir(parents=True)
    (labels / "correctness.jsonl").write_text("{broken\n", encoding="utf-8")
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)


def test_a_bad_golden_set_under_xdist_is_a_usage_error(project: pytest.Pytester) -> None:
    (project.path / "datasets/qa.jsonl").write_text('{"id": "a"}\n', encoding="utf-8")
    result = project.runpytest_subprocess(*GATE, "-n", "2")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "LLM gate usage error: datasets/qa.jsonl:1: field 'input': required field is missing." in out
    assert "INTERNALERROR" not in out and "During handling" not in out
    assert not (project.path / "reports").exists()
