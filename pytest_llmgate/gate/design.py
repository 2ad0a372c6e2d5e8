"""What a golden set can show, and the absolute rules for what its mean test cannot.

The paired tests (stats.py) decide about the mean; this module holds what sits around them:
- `outputs_identical`: a run whose outputs are byte-equal to the baseline's cannot have moved
  its metrics, so it PASSes at any size (anything else goes through the test);
- `units`: how many independent units (clusters, else cases) each test has;
- `slice_reach`: whether a gated slice can FAIL at all with its units and its suite's Holm
  family, and the smallest drop it could catch (named at session start and by `llmgate validate`);
- `collapsed_clusters`: clusters whose every case newly fails (a topic that broke), which
  the mean test sees as a few of many units;
- `slice_rule_reasons`: a gated slice's absolute `max_newly_failing` rule.

No numpy or scipy here: session start runs it on every gated session.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmgate.gate.reasons import Reason

__all__ = [
    "SliceReach",
    "output_digest",
    "collapsed_clusters",
    "outputs_identical",
    "session_start_notes",
    "slice_reach",
    "slice_rule_reasons",
    "units",
]


def output_digest(value: Any) -> str:
    """SHA-256 of an output's canonical JSON (sorted keys): equal digests, byte-equal outputs."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def outputs_identical(pairs: Iterable[tuple[Any, Any, str | None]]) -> bool:
    """True when every (baseline output, current output, current digest) is byte-equal and known.

    The current output may be spilled to disk (None, with its digest kept). An unknown output
    is not evidence of sameness: the metric then goes through the test like any other.
    """
    seen = False
    for before, after, digest in pairs:
        now = output_digest(after) if after is not None else digest
        if before is None or now is None or output_digest(before) != now:
            return False
        seen = True
    return seen


def units(clusters: Sequence[str | None]) -> int:
    """Independent units of a test: declared clusters, each case without one counting alone."""
    named = {c for c in clusters if c is not None}
    return len(named) + sum(1 for c in clusters if c is None)


def min_units(level: float) -> int:
    """Fewest units whose exact test can reach p < level (all of them worse: p = 0.5 ** units)."""
    return math.floor(math.log2(1.0 / level)) + 1


@dataclass(frozen=True)
class SliceReach:
    """Whether a gated slice can FAIL on its mean, and the smallest drop it could catch."""

    tag: str
    cases: int
    units: int
    family: int
    """The suite's Holm family: primary metrics x (1 + gated slices)."""
    alpha: float
    can_fail: bool
    smallest_p: float
    """The smallest p-value its exact test can reach: every unit worse, 0.5 ** units."""
    smallest_drop: float | None
    """The smallest drop of a pass rate it could FAIL: the fewest units that must all fail,
    as a share of the slice's cases (the smallest clusters first); None when none can."""

    def text(self) -> str:
        level = self.alpha / self.family
        where = f"{self.cases} case(s)" + (f" in {self.units} cluster(s)" if self.units != self.cases else "")
        if not self.can_fail:
            return (
                f"gated slice '{self.tag}' ({where}) cannot FAIL at any drop: its smallest reachable p-value is "
                f"{self.smallest_p:.4g}, above alpha / {self.family} = {level:.4g} (Holm over this suite's primary "
                f"metrics and gated slices)"
            )
        assert self.smallest_drop is not None
        return (
            f"gated slice '{self.tag}' ({where}) can FAIL only on a drop of at least {self.smallest_drop:.3f} "
            f"(at least {min_units(level)} unit(s) all failing at alpha / {self.family} = {level:.4g})"
        )


def slice_reach(
    tag: str, clusters: Sequence[str | None], *, alpha: float, family: int, max_newly_failing: int | None = None
) -> SliceReach:
    """Reach of one gated slice whose cases carry `clusters` (None: the case is its own unit)."""
    del max_newly_failing  # the absolute rule does not change what the mean test can reach
    count = units(clusters)
    level = alpha / max(1, family)
    need = min_units(level)
    sizes: dict[str, int] = {}
    for i, c in enumerate(clusters):
        key = f"cluster:{c}" if c is not None else f"case:{i}"
        sizes[key] = sizes.get(key, 0) + 1
    can_fail = count >= need
    smallest = None
    if can_fail and clusters:
        smallest = sum(sorted(sizes.values())[:need]) / len(clusters)
    return SliceReach(
        tag=tag,
        cases=len(clusters),
        units=count,
        family=max(1, family),
        alpha=alpha,
        can_fail=can_fail,
        smallest_p=0.5**count,
        smallest_drop=smallest,
    )


def collapsed_clusters(cluster_of: Mapping[str, str | None], newly_failing: Iterable[str]) -> list[str]:
    """Declared clusters every one of whose cases newly fails, sorted."""
    members: dict[str, list[str]] = {}
    for case_id, cluster in cluster_of.items():
        if cluster is not None:
            members.setdefault(cluster, []).append(case_id)
    failing = set(newly_failing)
    return sorted(c for c, ids in members.items() if ids and all(i in failing for i in ids))


def slice_rule_reasons(
    suite: str, tag: str, limit: int | None, newly_failing: Sequence[str], *, shown: int = 10
) -> list[Reason]:
    """The absolute rule of a gated slice: more than `limit` newly failing cases FAILs it."""
    if limit is None or len(newly_failing) <= limit:
        return []
    ids = sorted(newly_failing)
    listed = ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
    return [
        Reason(
            kind="newly_failing",
            text=f"{len(ids)} newly failing case(s) with tag '{tag}' (max_newly_failing {limit}): {listed}",
            remedy="Fix the cases, or if the new behaviour is intended, re-run with --llm-gate-update to accept it.",
            suite=suite,
            slice=tag,
        )
    ]


def session_start_notes(
    suite: str,
    cases: Sequence[Mapping[str, Any]],
    slices: Mapping[str, Any],
    *,
    primaries: int,
    alpha: float,
) -> list[str]:
    """Lines for the session start: units per test when clusters are declared, and every gated
    slice that cannot FAIL on its mean (with the rule that can catch its breakage)."""
    notes = []
    clusters = [_cluster(c) for c in cases]
    if any(c is not None for c in clusters):
        notes.append(
            f"{suite}: {len(cases)} cases in {units(clusters)} independent units (declared clusters): "
            f"the tests count units, not cases"
        )
    family = max(1, primaries) * (1 + len(slices))
    for tag in sorted(slices):
        spec = slices[tag]
        tagged = [c for c in cases if tag in [str(t) for t in (c.get("tags") or [])]]
        if not tagged:
            continue
        level = getattr(spec, "alpha", None) or alpha
        reach = slice_reach(tag, [_cluster(c) for c in tagged], alpha=level, family=family)
        if reach.can_fail:
            continue
        rule = getattr(spec, "max_newly_failing", None)
        remedy = (
            f"its max_newly_failing {rule} rule gates it"
            if rule is not None
            else f'gate its breakage with slices={{"{tag}": {{"max_newly_failing": 0}}}}'
        )
        notes.append(f"{suite}: {reach.text()}; {remedy}")
    return notes


def _cluster(case: Mapping[str, Any]) -> str | None:
    value = case.get("cluster")
    return None if value is None else str(value)


def metric_cannot_have_moved(
    before: Sequence[float],
    after: Sequence[float],
    baseline_cases: Mapping[str, Any],
    cases: Mapping[str, Any],
    ids: Sequence[str],
) -> bool:
    """Equal values on every paired case and outputs byte-equal to the baseline's (one run per case)."""
    if list(before) != list(after) or any(cases[cid].repeats for cid in ids):
        return False
    return outputs_identical((baseline_cases[cid].output, cases[cid].output, cases[cid].output_digest) for cid in ids)
