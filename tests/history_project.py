"""A small user project in a temporary git repository, for baselines-as-code tests: its marker's
settings and its `quality` score come from `conf.json`, so each commit can change either."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

TEST_FILE = """
import json
import pathlib

import pytest

CONF = json.loads(pathlib.Path(__file__).with_name("conf.json").read_text())


@pytest.mark.golden("datasets/qa.jsonl", **CONF["marker"])
def test_qa(case, llm_gate):
    llm_gate.output({"answer": case.reference})
    llm_gate.score("quality", CONF["quality"])
    if CONF.get("judge"):
        llm_gate.judge("correctness")
"""

SUITE = "test_qa.py::test_qa"
BASELINE = "baselines/test_qa/test_qa.json"
GATE = ("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress")
#: The settings the first baseline is accepted under.
MARKER: dict[str, Any] = {
    "tolerance": 0.03,
    "alpha": 0.05,
    "primary": ["checks_passed", "quality"],
    "metrics": {"quality": {"min_score": 0.5}},
    "slices": ["refund"],
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write_conf(root: Path, quality: float = 0.9, *, judge: bool = False, **marker: Any) -> None:
    settings = {**MARKER, **marker}
    settings = {k: v for k, v in settings.items() if v is not None}
    (root / "conf.json").write_text(json.dumps({"marker": settings, "quality": quality, "judge": judge}), "utf-8")


def write_dataset(root: Path, n: int = 20) -> None:
    lines = [
        json.dumps(
            {
                "id": f"q-{i}",
                "input": f"question {i}",
                "reference": f"answer {i}",
                "tags": ["refund"] if i % 2 else ["billing"],
            }
        )
        for i in range(n)
    ]
    (root / "datasets").mkdir(exist_ok=True)
    (root / "datasets" / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_project(pytester: pytest.Pytester, *, repo: bool = True) -> Path:
    root = pytester.path
    pytester.makeini("[pytest]\n")
    write_dataset(root)
    write_conf(root)
    pytester.makepyfile(test_qa=TEST_FILE)
    (root / ".gitignore").write_text("reports/\n.llmgate/\n__pycache__/\n", encoding="utf-8")
    if repo:
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.name", "Ada Lovelace")
        git(root, "config", "user.email", "ada@example.com")
        git(root, "config", "commit.gpgsign", "false")
        commit(root, "project")
    return root


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def accept(pytester: pytest.Pytester, quality: float, message: str, **marker: Any) -> str:
    """Set the quality, accept it with --llm-gate-update and commit: one accepted baseline update."""
    write_conf(pytester.path, quality, **marker)
    result = pytester.runpytest(*GATE, "--llm-gate-update")
    assert result.ret == 0, result.stdout.str()
    return commit(pytester.path, message)
