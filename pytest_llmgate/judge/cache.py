"""On-disk judge cache: SQLite in WAL mode, shared safely by concurrent processes.

Keys are sha256 hashes of everything that determines an answer (provider, model, rendered
prompt, schema, parameters, rubric version); values are the parsed answer and its token
usage. Only successful answers are stored. A cache that cannot be read or written costs
calls, never the run: failures become one warning and the cache turns itself off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

#: Bumped when the key recipe or the stored value changes; old rows are then never hit.
CACHE_FORMAT = 1
CACHE_FILE = "judge-cache.sqlite"


class JudgeCacheWarning(UserWarning):
    """The judge cache could not be used; the run goes on without it."""


def cache_key(
    *,
    provider: str,
    model: str,
    system: str,
    user: str,
    schema: dict[str, Any],
    parameters: dict[str, Any],
    rubric_version: str,
) -> str:
    """sha256 over the canonical JSON of everything that determines a judge's answer."""
    payload = {
        "format": CACHE_FORMAT,
        "provider": provider,
        "model": model,
        "system": system,
        "user": user,
        "schema": schema,
        "parameters": parameters,
        "rubric_version": rubric_version,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ensure_gitignore(directory: Path) -> None:
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        tmp = directory / f".gitignore.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("*\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, gitignore)


class JudgeCache:
    """A key -> (answer, usage) store in `<directory>/judge-cache.sqlite`."""

    def __init__(self, directory: Path, *, busy_timeout: float = 30.0) -> None:
        self.directory = Path(directory)
        self.path = self.directory / CACHE_FILE
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._busy_timeout = busy_timeout
        self.disabled_reason: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _ensure_gitignore(self.directory)
            self._conn = self._connect()
        except (OSError, sqlite3.Error) as exc:
            self._disable(f"cannot open {self.path}: {exc}")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS judge_cache ("
            " key TEXT PRIMARY KEY, answer TEXT NOT NULL, input_tokens INTEGER NOT NULL,"
            " output_tokens INTEGER NOT NULL, created REAL NOT NULL)"
        )
        return conn

    def _disable(self, reason: str) -> None:
        self.disabled_reason = reason
        warnings.warn(f"judge cache disabled: {reason}. Judge calls are not cached.", JudgeCacheWarning, stacklevel=3)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def get(self, key: str) -> tuple[dict[str, Any], int, int] | None:
        """The stored (answer, input_tokens, output_tokens), or None on a miss."""
        with self._lock:
            if self._conn is None:
                return None
            try:
                row = self._conn.execute(
                    "SELECT answer, input_tokens, output_tokens FROM judge_cache WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.Error as exc:
                self._disable(f"cannot read {self.path}: {exc}")
                return None
        if row is None:
            return None
        try:
            answer = json.loads(row[0])
        except ValueError:
            return None
        return answer, int(row[1]), int(row[2])

    def put(self, key: str, answer: dict[str, Any], input_tokens: int, output_tokens: int) -> None:
        """Store a successful answer; a failure is a warning, not an error."""
        text = json.dumps(answer, sort_keys=True, ensure_ascii=False)
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO judge_cache (key, answer, input_tokens, output_tokens, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, text, input_tokens, output_tokens, time.time()),
                )
            except sqlite3.Error as exc:
                self._disable(f"cannot write {self.path}: {exc}")

    def __len__(self) -> int:
        with self._lock:
            if self._conn is None:
                return 0
            return int(self._conn.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
