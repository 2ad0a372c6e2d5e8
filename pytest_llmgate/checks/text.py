"""Checks on text: regexes, substrings, banned phrases and length."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pytest_llmgate.checks._format import _fail, _plural, _preview, _quote_list, _require_text

__all__ = ["contains", "length", "matches", "no_banned_phrases", "not_contains", "not_matches"]

#: Characters of context shown on each side of a hit (banned phrase, regex match).
CONTEXT_CHARS = 30


def _context(text: str, start: int, end: int) -> str:
    """Quote the hit `text[start:end]` with a little text on each side."""
    left = max(0, start - CONTEXT_CHARS)
    right = min(len(text), end + CONTEXT_CHARS)
    snippet = text[left:right]
    if left > 0:
        snippet = "..." + snippet
    if right < len(text):
        snippet = snippet + "..."
    return repr(snippet)


def _pattern_repr(pattern: str | re.Pattern[str]) -> str:
    """Show a regex as it is written in source: r'\\bORD-\\d+' rather than doubled backslashes."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if "'" in source or "\n" in source or source.endswith("\\"):
        return repr(source)
    return f"r'{source}'"


def _flags_note(flags: int) -> str:
    return f" (flags: {re.RegexFlag(flags)!s})" if flags else ""


def _require_needles(needles: tuple[Any, ...], function: str) -> None:
    if not needles:
        msg = f"{function}() needs at least one string to look for, e.g. {function}(text, 'refund')."
        raise TypeError(msg)
    for needle in needles:
        if not isinstance(needle, str) or not needle:
            msg = f"{function}() needles must be non-empty strings (got {needle!r})."
            raise TypeError(msg)


def matches(text: str, pattern: str | re.Pattern[str], *, flags: int = 0) -> re.Match[str]:
    """Require `pattern` to match somewhere in `text` (`re.search`); return the match."""
    __tracebackhide__ = True
    _require_text(text)
    match = re.search(pattern, text, flags)
    if match is None:
        _fail(f"expected text to match regex {_pattern_repr(pattern)}{_flags_note(flags)}\ntext: {_preview(text)}")
    return match


def not_matches(text: str, pattern: str | re.Pattern[str], *, flags: int = 0) -> None:
    """Require `pattern` to match nowhere in `text` (`re.search`)."""
    __tracebackhide__ = True
    _require_text(text)
    match = re.search(pattern, text, flags)
    if match is not None:
        _fail(
            f"expected text not to match regex {_pattern_repr(pattern)}{_flags_note(flags)},"
            f" matched {match.group()!r} at char {match.start()}:"
            f" {_context(text, match.start(), match.end())}"
        )


def _phrase_regex(phrase: str, case_sensitive: bool) -> re.Pattern[str]:
    """Match `phrase` as whole words, with any run of whitespace between its words."""
    words = phrase.split()
    body = r"\s+".join(re.escape(word) for word in words)
    if re.match(r"\w", words[0]):
        body = r"(?<!\w)" + body
    if re.match(r"\w", words[-1][-1]):
        body = body + r"(?!\w)"
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE)


def no_banned_phrases(text: str, phrases: Iterable[str], *, case_sensitive: bool = False) -> None:
    """Require none of `phrases` to occur in `text` as whole words; the failure lists every hit.

    "ass" does not hit "class"; "as an AI" hits "As an\\nAI" (whitespace runs are equal).
    """
    __tracebackhide__ = True
    _require_text(text)
    if isinstance(phrases, str):
        msg = f"'phrases' must be a list of phrases, not one string (got {phrases!r}); wrap it: [{phrases!r}]."
        raise TypeError(msg)
    phrases = list(phrases)
    for phrase in phrases:
        if not isinstance(phrase, str) or not phrase.strip():
            msg = f"banned phrases must be non-empty strings (got {phrase!r})."
            raise TypeError(msg)
    hits = sorted(
        (match.start(), match.end(), phrase)
        for phrase in phrases
        for match in _phrase_regex(phrase, case_sensitive).finditer(text)
    )
    if hits:
        lines = [f"  {phrase!r} at char {start}: {_context(text, start, end)}" for start, end, phrase in hits]
        mode = "case-sensitive" if case_sensitive else "case-insensitive"
        _fail(f"expected no banned phrases ({mode}), found {_plural(len(hits), 'hit')}:\n" + "\n".join(lines))


def _find(text: str, needle: str, case_sensitive: bool) -> re.Match[str] | None:
    return re.search(re.escape(needle), text, 0 if case_sensitive else re.IGNORECASE)


def contains(text: str, *needles: str, case_sensitive: bool = False) -> None:
    """Require every needle to occur in `text` as a substring; the failure names the missing ones."""
    __tracebackhide__ = True
    _require_text(text)
    _require_needles(needles, "contains")
    missing = [needle for needle in needles if _find(text, needle, case_sensitive) is None]
    if missing:
        mode = "case-sensitive" if case_sensitive else "case-insensitive"
        _fail(
            f"expected text to contain {_quote_list(needles)} ({mode}), missing {_quote_list(missing)}\n"
            f"text: {_preview(text)}"
        )


def not_contains(text: str, *needles: str, case_sensitive: bool = False) -> None:
    """Require no needle to occur in `text` as a substring; the failure shows where each one is."""
    __tracebackhide__ = True
    _require_text(text)
    _require_needles(needles, "not_contains")
    found = [(needle, _find(text, needle, case_sensitive)) for needle in needles]
    lines = [
        f"  {needle!r} at char {match.start()}: {_context(text, match.start(), match.end())}"
        for needle, match in found
        if match is not None
    ]
    if lines:
        mode = "case-sensitive" if case_sensitive else "case-insensitive"
        _fail(f"expected text not to contain {_quote_list(needles)} ({mode}), found:\n" + "\n".join(lines))


def length(
    text: str,
    *,
    min_chars: int | None = None,
    max_chars: int | None = None,
    min_words: int | None = None,
    max_words: int | None = None,
) -> None:
    """Require the length of `text` within bounds; words are whitespace-separated tokens."""
    __tracebackhide__ = True
    bounds = {
        "min_chars": min_chars,
        "max_chars": max_chars,
        "min_words": min_words,
        "max_words": max_words,
    }
    for name, bound in bounds.items():
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
            msg = f"{name!r} must be a non-negative integer (got {bound!r})."
            raise ValueError(msg)
    if all(bound is None for bound in bounds.values()):
        msg = "length() needs at least one bound: min_chars, max_chars, min_words or max_words."
        raise TypeError(msg)
    for unit in ("chars", "words"):
        low, high = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
        if low is not None and high is not None and low > high:
            msg = f"'min_{unit}' ({low}) must not exceed 'max_{unit}' ({high})."
            raise ValueError(msg)
    _require_text(text)
    counts = {"chars": len(text), "words": len(text.split())}
    singular = {"chars": "char", "words": "word"}
    problems = []
    for unit, count in counts.items():
        low, high = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
        if low is not None and count < low:
            problems.append(f"expected at least {_plural(low, singular[unit])} (min_{unit}), got {count}")
        if high is not None and count > high:
            problems.append(f"expected at most {_plural(high, singular[unit])} (max_{unit}), got {count}")
    if problems:
        _fail("\n".join(problems) + f"\ntext: {_preview(text)}")
