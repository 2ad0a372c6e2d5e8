"""The offline judge: token-overlap F1 mapped onto the rubric, deterministic, no key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.judge.engine import JudgeEngine, JudgeRequest, UnknownRubricError
from pytest_llmgate.judge.offline import OFFLINE_NAME, overlap_f1, scale_score
from pytest_llmgate.judge.rubrics import Rubric

RUBRICS = {
    "correct": Rubric(name="correct", version="1", kind="pointwise", criteria="c", both_orders=True),
    "ten": Rubric(name="ten", version="1", kind="pointwise", criteria="c", scale_min=0, scale_max=10),
    "ok": Rubric(name="ok", version="1", kind="pass_fail", criteria="c", pass_threshold=0.6),
    "better": Rubric(name="better", version="1", kind="pairwise", criteria="c"),
}


def request(rubric: str, candidate: str, reference: str | None = None, other: str | None = None) -> JudgeRequest:
    return JudgeRequest(
        rubric=rubric,
        suite="s",
        case_id="c1",
        metric=f"judge:{rubric}",
        input="q",
        candidate=candidate,
        reference=reference,
        other=other,
    )


def judge_all(requests: list[JudgeRequest], tmp_path: Path | None = None):
    with JudgeEngine(provider="offline", rubrics=RUBRICS, cache_dir=tmp_path) as engine:
        futures = [engine.submit(r) for r in requests]
        engine.wait(progress=False)
        return [f.result() for f in futures], engine


def test_overlap_f1_values() -> None:
    # 3 common tokens; precision 3/3, recall 3/4 -> F1 = 6/7.
    assert overlap_f1("The cat sat", "the cat sat down") == pytest.approx(6 / 7)
    assert overlap_f1("a a b", "a b b") == pytest.approx(2 / 3)  # multiset overlap
    assert overlap_f1("", "") == 1.0
    assert overlap_f1("x", "") == 0.0
    assert overlap_f1("Hello, world!", "hello world") == 1.0
    assert scale_score(6 / 7, 1, 5) == 4  # 1 + 3.43 -> 4
    assert scale_score(0.5, 1, 4) == 3  # 1 + 1.5 rounds half up
    assert scale_score(1.0, 0, 10) == 10


def test_offline_verdict_values(tmp_path: Path) -> None:
    verdicts, engine = judge_all(
        [
            request("correct", "The cat sat", "the cat sat down"),
            request("ten", "the cat", "the cat sat down"),
            request("ok", "the", "the cat sat down"),
            request("ok", "the cat", "the cat sat down"),
            request("better", "the cat sat", "the cat sat down", other="a dog ran"),
            request("better", "a dog ran", "the cat sat down", other="the cat sat"),
            request("better", "the cat sat", "the cat sat down", other="the cat sat"),
        ],
        tmp_path,
    )
    correct, ten, fail, passed, win, loss, tie = verdicts
    assert engine.provider_name == OFFLINE_NAME == "offline:overlap-v1"
    assert all(v.provider == OFFLINE_NAME and v.error is None for v in verdicts)
    assert (correct.value, correct.label, correct.consistent) == (0.75, "4/5", True)
    assert [c.order for c in correct.calls] == ["forward", "swapped"]
    assert (ten.value, ten.label) == (0.7, "7/10")  # F1 = 2/3 -> 6.67 -> 7
    assert (fail.value, fail.label) == (0.0, "fail")  # F1 = 0.4 < 0.6
    assert (passed.value, passed.label) == (1.0, "pass")  # F1 = 2/3 >= 0.6
    assert (win.value, win.label, win.consistent, win.first_position_preferred) == (1.0, "win", True, 1)
    assert (loss.value, loss.label) == (0.0, "loss")
    assert (tie.value, tie.label, tie.consistent) == (0.5, "tie", True)
    assert win.against == "baseline" and correct.against == "reference"
    # The offline judge never touches the cache or the disk.
    assert list(tmp_path.iterdir()) == []
    stats = engine.stats()
    assert stats["better"].verdicts == 3 and stats["better"].swapped_pairs == 3
    assert stats["better"].consistent_pairs == 3
    # win: A then B; loss: B then A; tie: tie, tie -> 2 of 6 answers preferred position A.
    assert stats["better"].first_position_rate == pytest.approx(2 / 6)
    assert stats["better"].input_tokens == 0


def test_offline_needs_a_reference() -> None:
    (verdict,), engine = judge_all([request("correct", "anything")])
    assert verdict.value is None
    assert verdict.error == (
        "the offline judge needs a reference (rubric 'correct'); give the case a reference or configure an LLM judge."
    )
    assert engine.stats()["correct"].errors == 1
    (pair,), _ = judge_all([request("better", "x", other="y")])
    assert pair.value is None and "needs a reference" in pair.error
    (nothing,), _ = judge_all([request("better", "x")])
    assert (
        nothing.error
        == "pairwise rubric 'better' needs something to compare with (against='reference' but it is missing)"
    )


def test_unknown_rubric_raises_at_submit() -> None:
    with (
        JudgeEngine(provider="offline", rubrics=RUBRICS, cache_dir=None) as engine,
        pytest.raises(UnknownRubricError) as info,
    ):
        engine.submit(request("nope", "x", "y"))
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "unknown rubric 'nope' (known: better, correct, ok, ten); add rubrics/nope.yaml."


def test_provider_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmgate.judge.providers import JudgeConfigError, parse_spec

    assert parse_spec(None) == ("offline", "overlap-v1", None)
    assert parse_spec("anthropic:claude-sonnet-4-5") == ("anthropic", "claude-sonnet-4-5", None)
    assert parse_spec("openai-compatible:llama3:8b@http://127.0.0.1:11434/v1") == (
        "openai-compatible",
        "llama3:8b",
        "http://127.0.0.1:11434/v1",
    )
    with pytest.raises(JudgeConfigError, match="judge must be 'offline'"):
        parse_spec("gemini:pro")
    with pytest.raises(JudgeConfigError, match="needs '<model>@<http"):
        parse_spec("openai-compatible:llama3")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(JudgeConfigError, match="set OPENAI_API_KEY or use the offline judge"):
        JudgeEngine(provider="openai:gpt-4.1-mini", rubrics=RUBRICS, cache_dir=None)
