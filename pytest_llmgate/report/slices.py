"""Which slice rows a report shows first: the slices the user chose to gate, then the worst of
the rest, and the others folded, so a set with ninety tags does not bury the one that gates."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_llmgate.gate.records import MetricVerdict, SliceVerdict

#: Rank of a metric status among the rows that are "worst": lower is worse.
_SEVERITY = {"fail": 0, "below_floor": 1, "inconclusive": 2, "no_data": 3}

SliceRow = tuple[SliceVerdict, MetricVerdict]


@dataclass(frozen=True)
class SliceRows:
    """A suite's slice rows in reading order."""

    gated: list[SliceRow]
    """Rows of gated slices (the marker's `slices=`), in declaration order: always shown."""
    worst: list[SliceRow]
    """Rows of other slices that are not shown non-inferior, worst first, up to the limit."""
    folded: list[SliceRow]
    """Every other row (passing, new, improved, or beyond the limit), worst first."""

    @property
    def shown(self) -> list[SliceRow]:
        return self.gated + self.worst


def _badness(row: SliceRow) -> tuple[int, float, str, str]:
    piece, metric = row
    rank = _SEVERITY.get(metric.status, len(_SEVERITY))
    drop = 0.0
    if metric.diff is not None:  # how far the difference goes the wrong way
        drop = -metric.diff if metric.higher_is_better else metric.diff
    return rank, -drop, piece.tag, metric.metric


def order_slices(slices: list[SliceVerdict], limit: int) -> SliceRows:
    """Gated rows first, then up to `limit` minus their number of the worst other rows
    (FAIL, below floor, INCONCLUSIVE, no data; the larger drop first); the rest folded."""
    gated = [(piece, metric) for piece in slices if piece.gated for metric in piece.metrics]
    others = sorted(((piece, metric) for piece in slices if not piece.gated for metric in piece.metrics), key=_badness)
    bad = [row for row in others if row[1].status in _SEVERITY]
    room = max(0, limit - len(gated))
    folded = bad[room:] + [row for row in others if row[1].status not in _SEVERITY]
    return SliceRows(gated=gated, worst=bad[:room], folded=folded)


def slices_heading(slices: list[SliceVerdict], rows: SliceRows) -> str:
    """The line above the terminal's slice table: what is shown and how much is folded."""
    tags = f"{len(slices)} tag{'s' if len(slices) != 1 else ''}"
    if not rows.shown:  # nothing gated, nothing below non-inferior: no table follows
        return f"  slices ({tags}): every row passes or is new; {len(rows.folded)} row(s) folded (see the report)."
    gated = sum(1 for piece in slices if piece.gated)
    shown = f"gated slices first ({gated}), then the worst" if gated else "the worst first"
    folded = f"; {len(rows.folded)} more row(s) folded, passing or less bad (see the report)" if rows.folded else ""
    return (
        f"  slices ({tags}; primary metrics over the cases carrying "
        f"the tag; only those marked (gated) gate; {shown}{folded}):"
    )
