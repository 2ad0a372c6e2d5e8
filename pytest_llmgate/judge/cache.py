"""On-disk judge cache: SQLite in WAL mode, shared safely by concurrent processes.

Keys are sha256 hashes of everything that determines an answer (the judge's identity
`provider:model`, never a server URL; the rendered prompt, schema, parameters, rubric
version); values are the parsed answer and its token usage. Only successful answers are
stored. A cache that cannot be read or written costs calls, never the run: failures become
one warning and the cache turns itself off.

Use is recorded cheaply: hits and misses are counted in memory and written once, at
`close`, with the last-used time of every entry that was hit (one transaction per process),
so `llmgate cache` can show a hit rate and prune entries nobody used for N days.

Writes are cheap too: `put` keeps new answers in memory (where `lookup` finds them at once)
and writes them in one transaction per `FLUSH_ROWS` answers or `FLUSH_SECONDS`, and at `flush`
and `close`. A lookup and a buffered put cost microseconds, so the judge engine calls them on
its event loop instead of hopping to a thread. A process killed without `close` loses at most
the unflushed answers, which later cost calls, never a wrong verdict.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmgate._files import utf8

#: Bumped when the key recipe or the stored value changes; old rows are then never hit.
CACHE_FORMAT = 1
CACHE_FILE = "judge-cache.sqlite"
#: Buffered answers are written once this many are waiting...
FLUSH_ROWS = 64
#: ...or once the oldest has waited this long (seconds).
FLUSH_SECONDS = 1.0

_INSERT = (
    "INSERT OR REPLACE INTO judge_cache (key, answer, input_tokens, output_tokens, created,"
    " last_used, cache_read_tokens, cache_write_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class JudgeCacheWarning(UserWarning):
    """The judge cache could not be used; the run goes on without it."""


@dataclass(frozen=True)
class CacheHit:
    """A stored answer and the usage of the call that produced it."""

    answer: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class CacheSummary:
    """What `llmgate cache` shows."""

    path: Path
    size_bytes: int
    """The database and its write-ahead log, on disk."""
    entries: int
    hits: int
    """Lookups answered from the cache, over its lifetime."""
    misses: int
    """Lookups that had to call the judge, over its lifetime."""
    oldest_use: float | None
    """Unix time of the least recently used entry."""
    newest_use: float | None

    @property
    def hit_rate(self) -> float | None:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None


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
    return hashlib.sha256(utf8(text)).hexdigest()


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
        self.hits = 0
        """Lookups answered by this instance (not yet written until `close`)."""
        self.misses = 0
        self._used: set[str] = set()
        self._pending: dict[str, tuple[str, str, int, int, float, float, int, int]] = {}
        """Answers `put` but not yet written, by key (written by `_write_pending`)."""
        self._pending_since = 0.0
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
        _migrate(conn)
        return conn

    def _disable(self, reason: str) -> None:
        self.disabled_reason = reason
        self._pending.clear()
        warnings.warn(f"judge cache disabled: {reason}. Judge calls are not cached.", JudgeCacheWarning, stacklevel=3)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def lookup(self, key: str) -> CacheHit | None:
        """The stored answer and its usage, or None on a miss (counted either way)."""
        with self._lock:
            if self._conn is None:
                return None
            waiting = self._pending.get(key)
            if waiting is not None:
                self.hits += 1
                self._used.add(key)
                return CacheHit(json.loads(waiting[1]), waiting[2], waiting[3], waiting[6], waiting[7])
            try:
                row = self._conn.execute(
                    "SELECT answer, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens"
                    " FROM judge_cache WHERE key = ?",
                    (key,),
                ).fetchone()
            except sqlite3.Error as exc:
                self._disable(f"cannot read {self.path}: {exc}")
                return None
            try:
                answer = json.loads(row[0]) if row is not None else None
            except ValueError:
                answer = None
            if answer is None:
                self.misses += 1
                return None
            self.hits += 1
            self._used.add(key)
        return CacheHit(answer, int(row[1]), int(row[2]), int(row[3] or 0), int(row[4] or 0))

    def get(self, key: str) -> tuple[dict[str, Any], int, int] | None:
        """The stored (answer, input_tokens, output_tokens), or None on a miss."""
        hit = self.lookup(key)
        return None if hit is None else (hit.answer, hit.input_tokens, hit.output_tokens)

    def put(
        self,
        key: str,
        answer: dict[str, Any],
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        """Store a successful answer (buffered, see the module docstring); a failure to write
        is a warning, not an error."""
        text = json.dumps(answer, sort_keys=True, ensure_ascii=False)
        now = time.time()
        with self._lock:
            if self._conn is None:
                return
            if not self._pending:
                self._pending_since = now
            row = (key, text, input_tokens, output_tokens, now, now, cache_read_tokens, cache_write_tokens)
            self._pending[key] = row
            if len(self._pending) >= FLUSH_ROWS or now - self._pending_since >= FLUSH_SECONDS:
                self._write_pending()

    def flush(self) -> None:
        """Write the buffered answers now (before anything that relies on them being on disk)."""
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        """Write the buffered answers in one transaction (the caller holds the lock)."""
        if self._conn is None or not self._pending:
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(_INSERT, list(self._pending.values()))
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._disable(f"cannot write {self.path}: {exc}")
            return
        except BaseException:  # Ctrl-C mid-write: the answers stay buffered for `close`
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        self._pending.clear()

    def _flush_use(self) -> None:
        """Write this instance's hit and miss counts and last-used times (one transaction)."""
        if self._conn is None or not (self.hits or self.misses):
            return
        now = time.time()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("UPDATE judge_cache SET last_used = ? WHERE key = ?", [(now, k) for k in self._used])
            for name, count in (("hits", self.hits), ("misses", self.misses)):
                self._conn.execute(
                    "INSERT INTO cache_use (name, count) VALUES (?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET count = count + excluded.count",
                    (name, count),
                )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            warnings.warn(f"judge cache: cannot record its use in {self.path}: {exc}", JudgeCacheWarning, stacklevel=3)
        self.hits = self.misses = 0
        self._used.clear()

    def __len__(self) -> int:
        with self._lock:
            self._write_pending()
            if self._conn is None:
                return 0
            return int(self._conn.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0])

    def summary(self) -> CacheSummary:
        """Size, entries and lifetime hit rate of the cache on disk."""
        with self._lock:
            self._write_pending()
            if self._conn is None:
                msg = f"the judge cache is unusable: {self.disabled_reason}"
                raise RuntimeError(msg)
            entries, oldest, newest = self._conn.execute(
                "SELECT COUNT(*), MIN(COALESCE(last_used, created)), MAX(COALESCE(last_used, created)) FROM judge_cache"
            ).fetchone()
            counts = dict(self._conn.execute("SELECT name, count FROM cache_use").fetchall())
        size = sum(p.stat().st_size for p in self.directory.glob(CACHE_FILE + "*") if p.is_file())
        return CacheSummary(
            path=self.path,
            size_bytes=size,
            entries=int(entries),
            hits=int(counts.get("hits", 0)),
            misses=int(counts.get("misses", 0)),
            oldest_use=oldest,
            newest_use=newest,
        )

    def prune(self, older_than_days: float) -> int:
        """Delete entries not used for `older_than_days` days; returns how many; compacts the file."""
        cutoff = time.time() - older_than_days * 86400
        with self._lock:
            self._write_pending()
            if self._conn is None:
                msg = f"the judge cache is unusable: {self.disabled_reason}"
                raise RuntimeError(msg)
            removed = self._conn.execute(
                "DELETE FROM judge_cache WHERE COALESCE(last_used, created) < ?", (cutoff,)
            ).rowcount
            if removed:
                self._conn.execute("VACUUM")
            return int(removed)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._write_pending()
                self._flush_use()
                if self._conn is not None:
                    self._conn.close()
                self._conn = None


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns and table of newer versions to a cache file written by an older one."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(judge_cache)")}
    for name, kind in (("last_used", "REAL"), ("cache_read_tokens", "INTEGER"), ("cache_write_tokens", "INTEGER")):
        if name not in columns:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                conn.execute(f"ALTER TABLE judge_cache ADD COLUMN {name} {kind}")
    conn.execute("CREATE TABLE IF NOT EXISTS cache_use (name TEXT PRIMARY KEY, count INTEGER NOT NULL)")
