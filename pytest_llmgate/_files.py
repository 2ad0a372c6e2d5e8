"""Deterministic JSON and atomic writes: the two ways this package puts files on disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

#: How text becomes bytes everywhere this package hashes or writes it. UTF-8 cannot encode a lone
#: surrogate (an emoji escape a model's `max_tokens` cut in half, `"\\ud83d"`), so such a code
#: point is written as its six-character escape, the same in a hash, a cache key, a judge prompt,
#: a report and (as that text, `printable_json`) a JSON file, which every JSON reader can load.
UNENCODABLE = "backslashreplace"
_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """`text` as UTF-8, a lone surrogate written as its escape (`UNENCODABLE`), never an error."""
    return text.encode("utf-8", errors=UNENCODABLE)


def printable(text: str) -> str:
    """`text` with every code point UTF-8 cannot encode written as its escape: what a terminal,
    an SDK's request body or a judge prompt can carry (the same text `utf8` writes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return utf8(text).decode("utf-8")
    return text


def printable_json(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with each lone surrogate, which only
    a string can hold, written as an escaped backslash: the string reads back as `printable` of
    itself. (A JSON escape `\\ud83d` would keep the code point, but strict readers such as
    pydantic's refuse a lone one.)"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(lambda match: f"\\\\u{ord(match[0]):04x}", text)
    return text


def dumps(data: Any, *, compact: bool = False) -> str:
    """Deterministic JSON: sorted keys, UTF-8 text, trailing newline; indent 2 unless `compact`.

    Committed files (baselines) are indented so their diffs read well; large artifacts (the
    results file) are compact, which json's C encoder writes several times faster.
    """
    indent = None if compact else 2
    separators = (",", ":") if compact else None
    text = json.dumps(data, sort_keys=True, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False)
    return printable_json(text) + "\n"


class Streamed:
    """A JSON object `iter_dumps` writes member by member, each value made only when it is written.

    A large results file is a few small objects around many cases; streaming them keeps one
    case's dict in memory at a time instead of the whole tree (and its text) at once.
    """

    def __init__(self, keys: Iterable[str], value: Callable[[str], Any]):
        self.keys = sorted(keys)
        """The object's keys (written sorted, as `dumps` would)."""
        self.value = value
        """Makes the value of one key when it is written (a plain JSON value, or another `Streamed`)."""


def iter_dumps(data: Any) -> Iterator[str]:
    """The text of `dumps(data, compact=True)` in pieces; `Streamed` values are made as they are written."""
    if isinstance(data, Streamed):
        yield "{"
        for index, key in enumerate(data.keys):
            yield ("," if index else "") + _compact(key) + ":"
            yield from iter_dumps(data.value(key))
        yield "}"
    elif isinstance(data, dict) and any(isinstance(value, Streamed) for value in data.values()):
        yield "{"
        for index, key in enumerate(sorted(data)):
            yield ("," if index else "") + _compact(key) + ":"
            yield from iter_dumps(data[key])
        yield "}"
    else:
        yield _compact(data)


def _compact(data: Any) -> str:
    return printable_json(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str, *, errors: str = UNENCODABLE) -> Path:
    """Write `text` as UTF-8 so that readers see the old file or the new one, never half of one.

    The temp file lives in the target's folder so `os.replace` is a rename on one filesystem.
    A lone surrogate is written as its escape (`UNENCODABLE`): exact in JSON, visible in text.
    """
    return atomic_write_chunks(path, [text], errors=errors)


def atomic_write_chunks(path: Path, chunks: Iterable[str], *, errors: str = UNENCODABLE) -> Path:
    """`atomic_write_text` of the concatenated `chunks`, encoded and written one at a time.

    A chunk that raises leaves the old file in place (the temp file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; a baseline or report is an ordinary file (0666 less the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8", errors=errors))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
