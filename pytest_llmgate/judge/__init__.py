"""Layer 2, the LLM judge: rubrics, prompts, providers, the concurrent cached engine."""

from pytest_llmgate.judge.engine import JudgeEngine, JudgeRequest, UnknownRubricError
from pytest_llmgate.judge.offline import OFFLINE_NAME
from pytest_llmgate.judge.providers import JudgeConfigError, parse_spec
from pytest_llmgate.judge.rubrics import Rubric, RubricError, load_rubrics

__all__ = [
    "OFFLINE_NAME",
    "JudgeConfigError",
    "JudgeEngine",
    "JudgeRequest",
    "Rubric",
    "RubricError",
    "UnknownRubricError",
    "load_rubrics",
    "parse_spec",
]
