"""The state of one gated process, one module per job.

`state` declares what a process records; over it, each job in its own module: `suites`
(registration, metrics, baselines), `cases` (records, spill, the xdist worker report),
`outputs` (the SUT feed, repeats), `judging` (rubrics, engines, juries, collect), and `finish`
(assemble the results, `gate.verdict.evaluate`, the writers). Each job may use the ones listed
before it; the plugin (`plugin.GatePlugin`) drives the session through `GateSession`.
"""

from __future__ import annotations

from pytest_llmgate.session.finish import FinishJob
from pytest_llmgate.session.outputs import failure_text

__all__ = ["GateSession", "failure_text"]


class GateSession(FinishJob):
    """One process of a gated session (controller or xdist worker): every job over one state."""
