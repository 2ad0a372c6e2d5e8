"""The built-in rubric pack: every rubric loads, its rendered prompts match the committed
snapshots (so a prompt change shows in review), `llmgate rubrics copy` makes an editable
copy, and the fingerprint follows the content whichever way a rubric is named.

Regenerate the snapshots after an intended prompt change with
`LLMGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_rubric_pack.py` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from rag_project import judge_args, write_project

from pytest_llmgate.cli import main
from pytest_llmgate.judge import claims
from pytest_llmgate.judge.prompts import PromptData, RenderedPrompt, render
from pytest_llmgate.judge.rubrics import PACK_DIR, load_pack, load_rubrics

SNAPSHOTS = Path(__file__).parent / "snapshots"
EXPECTED = {
    "answer-relevancy",
    "appropriate-refusal",
    "context-relevance",
    "correctness",
    "faithfulness",
    "faithfulness-claims",
    "pairwise-preference",
}
SAMPLE = PromptData(
    input="How long do refunds take?",
    candidate="Refunds reach your card within 5 business days.",
    reference="Refunds are issued to the original payment method within 5 business days.",
    context=(
        "Refunds are issued to the original payment method within 5 business days.",
        "Gift cards cannot be refunded.",
    ),
)
PAIR = PromptData(
    input=SAMPLE.input,
    reference=SAMPLE.reference,
    response_a=SAMPLE.candidate,
    response_b="Refunds take a while.",
)


def _text(prompts: list[RenderedPrompt]) -> str:
    parts = []
    for prompt in prompts:
        schema = prompt.schema or "kind"
        parts.append(f"=== {prompt.order} / schema {schema} / system ===\n{prompt.system}\n")
        parts.append(f"=== {prompt.order} / schema {schema} / user ===\n{prompt.user}")
    return "\n".join(parts)


def rendered(name: str) -> str:
    rubric = load_pack()[f"llmgate:{name}"]
    if rubric.mode == "claims":
        prompts = [
            claims.render_extraction(rubric, SAMPLE),
            claims.render_verification(rubric, SAMPLE, ["Refunds reach the card.", "It takes 5 business days."]),
        ]
    elif rubric.kind == "pairwise":
        prompts = [render(rubric, PAIR, "forward")]
    else:
        # What a gated run shows: the context only to rubrics that need it, the reference only
        # to rubrics that show it.
        data = dataclasses.replace(
            SAMPLE,
            context=SAMPLE.context if "context" in rubric.needs else None,
            reference=SAMPLE.reference if rubric.show_reference else None,
        )
        prompts = [
            render(rubric, data, order) for order in (("forward", "swapped") if rubric.both_orders else ("forward",))
        ]
    return _text(prompts)


def test_the_pack_holds_every_rubric_with_a_version_and_a_doc_line() -> None:
    pack = load_pack()
    assert {name.removeprefix("llmgate:") for name in pack} == EXPECTED
    for rubric in pack.values():
        assert rubric.version and rubric.doc and len(rubric.doc) < 120, rubric.name
    assert pack["llmgate:faithfulness"].needs == ["context"]
    assert pack["llmgate:faithfulness-claims"].mode == "claims"
    assert pack["llmgate:correctness"].needs == ["reference"]
    assert not pack["llmgate:faithfulness"].show_reference and pack["llmgate:correctness"].show_reference


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rendered_prompt_matches_its_snapshot(name: str) -> None:
    text = rendered(name)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("LLMGATE_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path}; run with LLMGATE_UPDATE_SNAPSHOTS=1 and commit it"
    assert text == path.read_text(encoding="utf-8"), (
        f"the rendered prompt of llmgate:{name} changed; if intended, bump its version, "
        "regenerate with LLMGATE_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_copy_makes_an_editable_rubric_with_the_same_fingerprint(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["rubrics", "copy", "llmgate:faithfulness", "--to", str(tmp_path / "rubrics")])
    assert result.exit_code == 0, result.output
    copied = tmp_path / "rubrics/faithfulness.yaml"
    assert copied.read_text(encoding="utf-8") == (PACK_DIR / "faithfulness.yaml").read_text(encoding="utf-8")
    local = load_rubrics(tmp_path / "rubrics")["faithfulness"]
    assert local.content_hash == load_pack()["llmgate:faithfulness"].content_hash
    again = runner.invoke(main, ["rubrics", "copy", "faithfulness", "--to", str(tmp_path / "rubrics")])
    assert again.exit_code == 1 and "already exists; pass --force" in again.output
    unknown = runner.invoke(main, ["rubrics", "copy", "faithfulnes"])
    assert unknown.exit_code == 1 and "no built-in rubric 'faithfulnes' (built-in: answer-relevancy" in unknown.output
    listing = runner.invoke(main, ["rubrics", "list"])
    assert "llmgate:faithfulness-claims  v1  pointwise  Claim-level faithfulness" in listing.output


BODY = """

RUBRIC = os.environ.get("RUBRIC", "llmgate:faithfulness")


@pytest.mark.golden("datasets/rag.jsonl")
def test_rag(case, llm_gate):
    llm_gate.output({"answer": answer_for(case)})
    llm_gate.judge(RUBRIC, context=chunks_for(case))
"""


def test_the_fingerprint_follows_the_content_whether_built_in_or_copied(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, BODY)
    args = judge_args("offline")
    assert pytester.runpytest(*args, "--llm-gate-update").ret == 0
    baseline = json.loads((pytester.path / "baselines/test_rag/test_rag.json").read_text(encoding="utf-8"))
    assert baseline["fingerprints"]["rubric:faithfulness"] == load_pack()["llmgate:faithfulness"].content_hash

    assert (
        CliRunner().invoke(main, ["rubrics", "copy", "faithfulness", "--to", str(pytester.path / "rubrics")]).exit_code
        == 0
    )
    monkeypatch.setenv("RUBRIC", "faithfulness")
    same = pytester.runpytest(*args)
    assert same.ret == 0, same.stdout.str()  # the unchanged copy is the same rubric

    path = pytester.path / "rubrics/faithfulness.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("exactly", "closely"), encoding="utf-8")
    edited = pytester.runpytest(*args)
    assert edited.ret == pytest.ExitCode.TESTS_FAILED
    edited.stdout.fnmatch_lines(["*rubric:faithfulness*"])
    edited.stdout.fnmatch_lines(["*--llm-gate-rejudge-baseline*"])
