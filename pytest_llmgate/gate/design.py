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
    "announce",
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
                f"gated slice '{self.tag}' ({where}) cannot FAIL at any drop on its own: its smallest reachable "
                f"p-value is {self.smallest_p:.4g}, above alpha / {self.family} = {level:.4g} (Holm's first step over "
                f"this suite's primary metrics and gated slices)"
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
    """Declared clusters of two or more cases every one of which newly fails, sorted (a cluster
    of one case is a newly failing case, listed as such)."""
    members: dict[str, list[str]] = {}
    for case_id, cluster in cluster_of.items():
        if cluster is not None:
            members.setdefault(cluster, []).append(case_id)
    failing = set(newly_failing)
    return sorted(c for c, ids in members.items() if len(ids) > 1 and all(i in failing for i in ids))


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


def announce(config: Any, run: Any, suite: str, cases: Sequence[Any]) -> None:
    """At collection, for one suite: add its session-start notes to `run.notes` (shown again
    with the verdict, and by `llmgate validate`) and print them now (not on xdist workers)."""
    result = run.suites.get(suite)
    if result is None:
        return
    fields = [{"tags": list(getattr(c, "tags", []) or []), "cluster": getattr(c, "cluster", None)} for c in cases]
    declared = result.primary if result.primary is not None else list(run.settings.primary)
    alpha = float(getattr(run.settings, "alpha", 0.05))
    notes = session_start_notes(suite, fields, result.slices, primaries=max(1, len(declared)), alpha=alpha)
    fresh = [note for note in notes if note not in run.notes]
    run.notes += fresh
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and fresh and not hasattr(config, "workerinput"):
        for note in fresh:
            reporter.write_line(f"LLM gate: {note}")


def metric_cannot_have_moved(
    before: Sequence[float],
    after: Sequence[float],
    baseline_cases: Mapping[str, Any],
    cases: Mapping[str, Any],
    ids: Sequence[str],
    memo: dict[str, bool] | None = None,
) -> bool:
    """Equal values on every paired case and outputs byte-equal to the baseline's (one run per case).

    `memo` (case id -> outputs byte-equal) is shared by a suite's metrics, so each output is
    hashed once per run rather than once per metric."""
    if list(before) != list(after) or any(cases[cid].repeats for cid in ids):
        return False
    if memo is None:
        memo = {}
    for cid in ids:
        same = memo.get(cid)
        if same is None:
            pair = (baseline_cases[cid].output, cases[cid].output, cases[cid].output_digest)
            same = memo[cid] = outputs_identical([pair])
        if not same:
            return False
    return bool(ids)


# --------------------------------------------------------------------------- in the verdict


def reach_words(units_: int, cases: int) -> str:
    """'7 cases' or '6 clusters (7 cases)': the units a test has, in the user's terms."""
    return f"{units_} case(s)" if units_ == cases else f"{units_} clusters ({cases} cases)"


def settle_words(v: Any, *, short: bool = False) -> str:
    """What would settle an INCONCLUSIVE metric: the cases, or the repeats, with which an
    unchanged app PASSes 80 % of the time; never a remedy that cannot work."""
    if v.tolerance <= 0:
        return "a tolerance of 0 can never be shown: set a tolerance above 0"
    if v.cases_to_pass is None:
        return "no number of cases shows this tolerance at this noise: raise the tolerance"
    if v.cases_to_pass <= v.n_paired:
        # The set is large enough for an unchanged app: what keeps it open is the change itself.
        return (
            f"these {v.n_paired} cases would PASS an unchanged app (about {v.cases_to_pass} needed): the change seen "
            "is what keeps the drop from being ruled out; look at the cases that moved"
        )
    cases = (
        f"PASS needs about {v.cases_to_pass} paired cases"
        if short
        else f"an unchanged app PASSes 80 % of the time with about {v.cases_to_pass} paired cases"
    )
    if v.repeats_to_pass is not None:
        cases += f", or repeat={v.repeats_to_pass} on these {v.n_paired} if the changes are run-to-run noise"
    return cases


def fill_settle(verdict: Any, cmp: Any) -> None:
    """Set `cases_to_pass` and `repeats_to_pass` of an INCONCLUSIVE metric from its comparison."""
    from pytest_llmgate.gate import plan

    kind, spread, step, size = plan.noise_of(cmp)
    common = {"tolerance": verdict.tolerance, "alpha": verdict.alpha, "step": step, "cluster_size": size}
    if verdict.tolerance <= 0:
        return
    verdict.cases_to_pass = plan.cases_to_certify(kind, spread, **common)
    verdict.repeats_to_pass = plan.repeats_to_certify(cmp.n, kind, spread, **common)


def _tagged(result: Any) -> dict[str, set[str]]:
    tagged: dict[str, set[str]] = {}
    for cid, case in result.cases.items():
        for tag in case.case.get("tags") or []:
            tagged.setdefault(str(tag), set()).add(cid)
    return tagged


def fill_rules(suite_verdict: Any, result: Any) -> None:
    """Per slice: its `max_newly_failing` rule and newly failing cases; per suite: collapsed clusters."""
    newly = [c.case_id for c in suite_verdict.cases if c.kind == "newly_failing"]
    tagged = _tagged(result)
    for piece in suite_verdict.slices:
        spec = result.slices.get(piece.tag)
        piece.max_newly_failing = None if spec is None else spec.max_newly_failing
        piece.newly_failing = sorted(set(newly) & tagged.get(piece.tag, set()))
    cluster_of = {cid: _cluster(case.case) for cid, case in result.cases.items()}
    suite_verdict.collapsed_clusters = collapsed_clusters(cluster_of, newly)


def rule_reasons(suite_verdict: Any) -> list[Reason]:
    """The gated slices' `max_newly_failing` rules that this run breaks (each FAILs the gate)."""
    found: list[Reason] = []
    for piece in suite_verdict.slices:
        found += slice_rule_reasons(suite_verdict.suite, piece.tag, piece.max_newly_failing, piece.newly_failing)
    return found


def collapsed_reason(suite_verdict: Any) -> Reason | None:
    """A note naming the clusters that collapsed (every case newly failing), None when none did.

    A note, not a failure: the mean test counts each collapsed cluster as one unit; the absolute
    rules (a gated slice's `max_newly_failing`, `--llm-gate-strict`) are what catch it."""
    from pytest_llmgate.gate.reasons import make_reason

    names = suite_verdict.collapsed_clusters
    if not names:
        return None
    units_ = next((m.clusters for m in suite_verdict.metrics if m.clusters), None)
    of = f" of {units_} units" if units_ else ""
    return make_reason(
        "note",
        f"{len(names)} cluster(s) collapsed, every case newly failing: {', '.join(names)}; "
        f"the mean test counts each as one{of}.",
        remedy="Gate their tag with max_newly_failing, or run --llm-gate-strict.",
        suite=suite_verdict.suite,
    )


def name_collapsed(suite_verdict: Any) -> None:
    """Name the collapsed clusters in the suite's first metric's reason (the verdict tables)."""
    names = suite_verdict.collapsed_clusters
    first = next((m for m in suite_verdict.metrics if m.n_paired), None)
    if names and first is not None:
        first.reason += f"; cluster(s) collapsed (every case newly failing): {', '.join(names)}"
