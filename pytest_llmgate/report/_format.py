"""Number and text formatting shared by the HTML report's case data, charts and page."""

from __future__ import annotations

import json
import math
from typing import Any

#: Differences smaller than this are treated as "no change" (float noise).
EPS = 1e-9


def as_text(value: Any) -> str:
    """A value as display text: strings as they are, anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell; an em dash for a missing value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, int):
            return str(value)
        return f"{value:.{digits}f}"
    return str(value)


def fmt_signed(value: float | None, digits: int = 3) -> str:
    """A difference with its sign (a true minus sign), or an em dash."""
    if value is None:
        return "—"
    if abs(value) < EPS:
        return f"{0:.{digits}f}"
    return f"{value:+.{digits}f}".replace("-", "−")


def fmt_p(value: float | None) -> str:
    """A p-value: three significant digits, `<0.001` below that."""
    if value is None:
        return "—"
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


def finite(value: Any) -> float | None:
    """A finite number as a float; None for anything else (bools, strings, NaN, infinities)."""
    if type(value) is float:  # the common case, first: a metric value
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
