"""A portable judge cache: `llmgate cache` (size, entries, hit rate), `prune --older-than N`, and
the cache surviving a move to another checkout (CI's `actions/cache`) and concurrent readers."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_provider import FakeProvider
from test_judge_engine import cases, run

from pytest_llmgate.cli import main
from pytest_llmgate.judge.cache import CACHE_FILE, JudgeCache

SPEC = "openai:gpt-test"


def cache_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["cache", *args])
    return result.exit_code, result.output


def test_shows_size_entries_and_hit_rate(fake_provider: FakeProvider, tmp_path: Path) -> None:
    directory = tmp_path / ".llmgate"
    run(SPEC, cases(6, "correctness"), cache_dir=directory)  # 6 misses, 6 calls
    code, out = cache_cli("--dir", str(directory))
    assert code == 0, out
    assert f"judge cache: {directory / CACHE_FILE}" in out
    assert "entries:     6" in out and "hit rate:    0.0% (0 hits, 6 misses)" in out
    run(SPEC, cases(6, "correctness"), cache_dir=directory)  # 6 hits
    run(SPEC, cases(8, "correctness"), cache_dir=directory)  # 6 hits, 2 misses
    code, out = cache_cli("--dir", str(directory))
    assert "entries:     8" in out and "hit rate:    60.0% (12 hits, 8 misses)" in out
    shown = re.search(r"size:\s+([0-9.]+) KB", out)
    # The database, plus its write-ahead log while a connection is open.
    assert shown and float(shown.group(1)) * 1024 >= (directory / CACHE_FILE).stat().st_size - 52


def test_a_missing_cache_is_a_clear_error(tmp_path: Path) -> None:
    code, out = cache_cli("--dir", str(tmp_path / "nowhere"))
    assert code == 1
    assert f"no judge cache at {tmp_path / 'nowhere' / CACHE_FILE}" in out
    assert not (tmp_path / "nowhere").exists(), "showing a cache must not create one"


def test_prune_removes_entries_not_used_for_n_days(fake_provider: FakeProvider, tmp_path: Path) -> None:
    directory = tmp_path / ".llmgate"
    run(SPEC, cases(10, "correctness"), cache_dir=directory)
    month_ago = time.time() - 40 * 86400
    with sqlite3.connect(directory / CACHE_FILE) as conn:
        keys = [row[0] for row in conn.execute("SELECT key FROM judge_cache ORDER BY key")]
        conn.executemany("UPDATE judge_cache SET last_used = ? WHERE key = ?", [(month_ago, k) for k in keys[:4]])
    # A hit refreshes an entry's last use: an old entry read again is kept.
    with sqlite3.connect(directory / CACHE_FILE) as conn:
        conn.execute("UPDATE judge_cache SET last_used = ? WHERE key = ?", (month_ago, keys[4]))
    store = JudgeCache(directory)
    assert store.lookup(keys[4]) is not None
    store.close()

    code, out = cache_cli("--dir", str(directory), "prune", "--older-than", "30")
    assert code == 0, out
    assert "removed 4 of 10 entries not used for 30 days; 6 left" in out
    with sqlite3.connect(directory / CACHE_FILE) as conn:
        left = {row[0] for row in conn.execute("SELECT key FROM judge_cache")}
    assert left == set(keys[4:])
    code, out = cache_cli("--dir", str(directory), "prune", "--older-than", "0")
    assert code == 2 and "--older-than" in out


def test_the_cache_survives_a_move_to_another_checkout(fake_provider: FakeProvider, tmp_path: Path) -> None:
    """What `actions/cache` does: save the folder after the job, restore it into a fresh clone."""
    first = tmp_path / "run-1" / ".llmgate"
    run(SPEC, cases(12, "correctness"), cache_dir=first)
    calls = fake_provider.request_count
    # Every process closed its connection: the write-ahead log is checkpointed into the database.
    assert sorted(p.name for p in first.iterdir()) == [".gitignore", CACHE_FILE]
    restored = tmp_path / "fresh-clone" / ".llmgate"
    shutil.copytree(first, restored)
    verdicts, engine = run(SPEC, cases(12, "correctness"), cache_dir=restored)
    assert fake_provider.request_count == calls
    assert all(v.calls[0].cached for v in verdicts)
    assert engine.stats()["correctness"].cache_hits == 12


READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pytest_llmgate.judge.cache import JudgeCache

    store = JudgeCache(Path(sys.argv[1]))
    keys = sys.argv[2].split(",")
    found = 0
    for _ in range(20):
        found += sum(store.lookup(key) is not None for key in keys)
        store.put("written-by-" + sys.argv[3] + str(time.time_ns()), {"reason": "r", "score": 3}, 1, 1)
    store.close()
    print(found)
    """
)


def test_concurrent_readers_share_one_cache(fake_provider: FakeProvider, tmp_path: Path) -> None:
    """Shards on one runner (or xdist workers) read and write the same file at once."""
    directory = tmp_path / ".llmgate"
    run(SPEC, cases(5, "correctness"), cache_dir=directory)
    with sqlite3.connect(directory / CACHE_FILE) as conn:
        keys = [row[0] for row in conn.execute("SELECT key FROM judge_cache")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(directory), ",".join(keys), name],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b", "c")
    ]
    outputs = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert outputs == ["100", "100", "100"]
    summary = JudgeCache(directory).summary()
    assert summary.entries == 5 + 3 * 20
    assert (summary.hits, summary.misses) == (300, 5)


def test_a_cache_from_an_older_version_is_upgraded_in_place(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / CACHE_FILE) as conn:
        conn.execute(
            "CREATE TABLE judge_cache (key TEXT PRIMARY KEY, answer TEXT NOT NULL, input_tokens INTEGER NOT NULL,"
            " output_tokens INTEGER NOT NULL, created REAL NOT NULL)"
        )
        conn.execute("INSERT INTO judge_cache VALUES ('k', '{\"score\": 4}', 10, 2, ?)", (time.time(),))
    store = JudgeCache(tmp_path)
    hit = store.lookup("k")
    assert hit is not None and (hit.answer, hit.input_tokens, hit.cache_read_tokens) == ({"score": 4}, 10, 0)
    store.close()
    assert JudgeCache(tmp_path).summary().hits == 1


@pytest.mark.parametrize("days", ["-1", "x"])
def test_prune_needs_a_positive_number_of_days(tmp_path: Path, days: str) -> None:
    JudgeCache(tmp_path).close()
    code, out = cache_cli("--dir", str(tmp_path), "prune", "--older-than", days)
    assert code == 2 and "--older-than" in out
