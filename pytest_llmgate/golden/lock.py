"""One writer at a time per golden set: the lock every golden-set writer holds while it reads and writes.

`llmgate review`, `import` and `promote` read the file, change it and replace it. Two of them
at once (two reviewers, a review while an import runs) would each write their own version and
the later one would drop the other's change; so each takes this lock, re-reads the file under
it, and only then writes. A writer that cannot get the lock in time gives up and says so: it
never reports a change it did not make.

The lock file lives in the system's temp folder, named by a hash of the golden set's real
path, not beside the golden set: `git add datasets/` must not pick it up, and every process on
the machine that writes the same file (through any relative path or symlink) meets the same
lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_TIMEOUT", "GoldenSetBusy", "golden_lock", "lock_path"]

#: Seconds a writer waits for another writer of the same golden set before giving up.
LOCK_TIMEOUT = 30.0


class GoldenSetBusy(Exception):
    """Another process held the golden set's lock for longer than the timeout; nothing was written."""


def lock_path(path: Path) -> Path:
    """The lock file of the golden set at `path` (one per real path, in the temp folder)."""
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "llmgate-locks" / f"golden-{digest}.lock"


def _shared_folder(folder: Path) -> None:
    """The lock folder, open to every user like the temp folder itself (sticky, world-writable)."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o1777)


@contextmanager
def golden_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the golden set's writer lock; `GoldenSetBusy` when another writer keeps it past `timeout`."""
    from filelock import FileLock, Timeout

    target = lock_path(path)
    _shared_folder(target.parent)
    # thread_local=False: the review server answers each request on its own thread, and the
    # lock must exclude those threads from each other as it does other processes.
    lock = FileLock(str(target), timeout=timeout, mode=0o666, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        msg = (
            f"{path}: another llmgate review, import or promote has been writing it for {timeout:.0f} s; "
            "nothing was written, try again when it is done."
        )
        raise GoldenSetBusy(msg) from None
    try:
        yield
    finally:
        lock.release()
