"""Paths written into reports: relative to the file that holds them, so they work where it is opened."""

from __future__ import annotations

import os
from pathlib import Path


def relative_link(target: Path, holder: Path) -> str:
    """`target` relative to the folder of `holder` (the file the link is written in), POSIX style."""
    try:
        return Path(os.path.relpath(Path(target).resolve(), Path(holder).resolve().parent)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(target).resolve().as_posix()
