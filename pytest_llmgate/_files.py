"""Deterministic JSON and atomic writes: the two ways this package puts files on disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
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
    if text.isascii():
        return text
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
    if text.isascii():
        return text
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

    A lone surrogate is written as its escape (`UNENCODABLE`): exact in JSON, visible in text.
    """
    return atomic_write_chunks(path, [text], errors=errors)


#: The end of every temp file name this package makes beside a file it replaces.
TEMP_SUFFIX = ".llmgate.tmp"


def atomic_write_chunks(path: Path, chunks: Iterable[str], *, errors: str = UNENCODABLE) -> Path:
    """`atomic_write_text` of the concatenated `chunks`, encoded and written one at a time.

    The new text is written to a file in the target's folder (so `os.replace` is a rename on one
    filesystem) that a kill cannot leave behind in a committed folder: on Linux an unnamed file
    (`O_TMPFILE`), given a name only for the instant of the rename; elsewhere a named
    `.<name>.*.llmgate.tmp` locked while it is written, which the next write to that folder (and a
    gated session's start) removes once its writer is gone (`sweep_temp_files`). A chunk that
    raises leaves the old file in place and no temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path.parent, name=path.name)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "w+b") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8", errors=errors))
            handle.flush()
            os.fsync(handle.fileno())
            if tmp is None:
                tmp = _name_unnamed(handle, path)
            os.replace(tmp, path)
        return path
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def _open_temp(path: Path) -> tuple[int, str | None]:
    """A new file for `path`'s next text: (fd, None) for an unnamed one, else (fd, its name)."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag and os.path.isdir("/proc/self/fd"):
        try:
            fd = os.open(path.parent, flag | os.O_RDWR, 0o666)  # the umask applies, as for any file
        except OSError:
            pass  # a filesystem without O_TMPFILE (NFS, some overlays): a named file instead
        else:
            lock_for_writing(fd)  # held through the instant it has a name
            return fd, None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    # mkstemp creates 0600; a baseline or report is an ordinary file (0666 less the umask).
    os.chmod(tmp, 0o666 & ~_umask())
    lock_for_writing(fd)
    return fd, tmp


def _name_unnamed(handle: Any, path: Path) -> str:
    """Give an unnamed (O_TMPFILE) file a temp name beside `path`, for the rename."""
    tmp = str(path.parent / f".{path.name}.{os.getpid()}-{id(handle):x}{TEMP_SUFFIX}")
    try:
        os.link(f"/proc/self/fd/{handle.fileno()}", tmp, follow_symlinks=True)
        return tmp
    except OSError:
        # No linkat through /proc here: copy the written bytes into a named, locked file.
        fd, named = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        os.chmod(named, 0o666 & ~_umask())
        lock_for_writing(fd)
        with os.fdopen(fd, "wb") as copy:
            handle.seek(0)
            while block := handle.read(1 << 20):
                copy.write(block)
            copy.flush()
            os.fsync(copy.fileno())
        return named


def lock_for_writing(fd: int) -> None:
    """Mark a named temp file as being written: `sweep_temp_files` leaves it alone until its writer ends."""
    try:
        import fcntl
    except ImportError:  # Windows: the sweep falls back on the file's age
        return
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


#: Without file locks (Windows), a temp file this old is taken to be a killed writer's.
STALE_SECONDS = 3600.0


def sweep_temp_files(folder: Path, *, name: str = "*", recursive: bool = False) -> list[Path]:
    """Remove the temp files a killed writer left in `folder` (those of `name`, or all); returns them.

    A temp file whose writer is alive holds a lock and is left alone. Never raises.
    """
    pattern = f".{name}.*{TEMP_SUFFIX}"
    removed: list[Path] = []
    try:
        candidates = list(Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern))
    except OSError:
        return removed
    for candidate in candidates:
        with contextlib.suppress(OSError):
            if abandoned(candidate):
                candidate.unlink()
                removed.append(candidate)
    return removed


def abandoned(path: Path) -> bool:
    """True when no live writer holds `path` (`lock_for_writing`); without locks, when it is old."""
    try:
        import fcntl
    except ImportError:
        return time.time() - path.stat().st_mtime > STALE_SECONDS
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its writer holds the lock
    finally:
        os.close(fd)
    return True
