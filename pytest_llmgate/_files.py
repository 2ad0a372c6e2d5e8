"""Deterministic JSON and atomic writes: the two ways this package puts files on disk."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def dumps(data: Any, *, compact: bool = False) -> str:
    """Deterministic JSON: sorted keys, UTF-8 text, trailing newline; indent 2 unless `compact`.

    Committed files (baselines) are indented so their diffs read well; large artifacts (the
    results file) are compact, which json's C encoder writes several times faster.
    """
    indent = None if compact else 2
    separators = (",", ":") if compact else None
    return (
        json.dumps(data, sort_keys=True, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str, *, errors: str = "strict") -> Path:
    """Write `text` as UTF-8 so that readers see the old file or the new one, never half of one.

    The temp file lives in the target's folder so `os.replace` is a rename on one filesystem.
    `errors="replace"` suits reports, where a lone surrogate in a model output must not lose the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8", errors=errors)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; a baseline or report is an ordinary file (0666 less the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
