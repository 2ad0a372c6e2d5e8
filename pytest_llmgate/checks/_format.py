"""What every check shares: the failure it raises and the helpers that quote output in messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

#: Longest stretch of model output quoted in a failure message.
PREVIEW_CHARS = 200


class CheckFailed(AssertionError):
    """A programmatic check found the output wrong; pytest reports it as a failed assert."""

    # Tracebacks and reprs name it by its documented path.
    __module__ = "pytest_llmgate.checks"


def _fail(msg: str) -> NoReturn:
    __tracebackhide__ = True
    # `from None`: a parse error caught on the way is in the message; its traceback is noise.
    raise CheckFailed(msg) from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """Quote `text`, cut to `limit` characters with a marker saying how long it was."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... [truncated, {len(text)} chars total]"


def _short(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """Repr of any value, cut like `_preview`."""
    if isinstance(value, str):
        return _preview(value, limit)
    shown = repr(value)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}... [truncated, {len(shown)} chars total]"


def _quote_list(items: Iterable[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _require_text(text: Any) -> str:
    __tracebackhide__ = True
    if not isinstance(text, str):
        _fail(f"expected text (str) to check, got {type(text).__name__}: {_short(text)}")
    return text
