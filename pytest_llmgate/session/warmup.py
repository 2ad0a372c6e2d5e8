"""Warm-up while waiting: the end of a gated session's imports, done while the tests wait.

The end of a session imports the gate's numpy and `scipy.special`, the report's Jinja2 and
compiled template, and the terminal summary's rich: about 0.4 s, the same for 20 cases as for
100,000. A gated suite with `sut=` mostly waits on its SUT; when the main thread is about to
block on a case's output, it runs these steps instead, one at a time, until the output is
there. (Not in the final wait for the judge: Ctrl-C there must find the engines' own handling.) A session that never waits never runs them here (the end of
the session imports as before), so a CPU-bound run pays nothing extra; all of it runs on the
main thread, so no module is ever imported by two threads at once. A step that fails is left
for the end of the session to meet, and report, as it would without the warm-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def _template() -> None:
    from pytest_llmgate.report.html import warm_template

    warm_template()


def _importer(name: str) -> Callable[[], object]:
    return lambda: importlib.import_module(name)


#: What the end of a gated session loads, in the order it needs it.
STEPS: tuple[Callable[[], object], ...] = (
    _importer("numpy"),
    _importer("scipy.special"),
    _importer("pytest_llmgate.gate.stats"),
    _importer("pytest_llmgate.gate.noninferiority"),
    _importer("pytest_llmgate.report.html"),
    _template,
    _importer("pytest_llmgate.report.markdown"),
    _importer("pytest_llmgate.report.terminal"),
    _importer("rich.console"),
    _importer("rich.table"),
)


class Warmup:
    """The steps not run yet; `while_waiting` runs them until a wait is over."""

    def __init__(self, steps: tuple[Callable[[], object], ...] = STEPS) -> None:
        self._steps = list(steps)

    def disable(self) -> None:
        """An xdist worker never ends a session with a gate: nothing to load ahead."""
        self._steps.clear()

    def while_waiting(self, done: Callable[[], bool]) -> None:
        """Run steps until `done()` (checked before each step) or none is left."""
        while self._steps and not done():
            step = self._steps.pop(0)
            try:
                step()
            except Exception:  # noqa: BLE001, S112 - the end of the session imports again and reports it
                continue
