"""Mutation testing of the eval suite (`llmgate mutate`): does the gate notice planted regressions?

`mutation_operator` registers a user operator (a function `output -> output`) from a `conftest.py`.
"""

from pytest_llmgate.mutate.operators import Operator, Shape, Target, mutation_operator

__all__ = ["Operator", "Shape", "Target", "mutation_operator"]
