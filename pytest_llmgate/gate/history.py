"""The baselines' history, read from git: every committed version of every baseline file.

No server and no second file: the baseline files as committed at each commit that changed them
are the accepted values. `git log` names the commits (oldest first), one `git cat-file --batch`
reads every version. A shallow clone sees part of the history and says so.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate.gate.drift import find_drift, measure
from pytest_llmgate.gate.records import HistoryPoint, MetricHistory, RunHistory

DEFAULT_TOLERANCE = 0.03
UNCOMMITTED = "uncommitted"
FETCH_MORE = (
    "fetch the full history with `git fetch --unshallow`; in GitHub Actions, check out with "
    "`actions/checkout` and `fetch-depth: 0`"
)
#: Metric name prefixes that are primary by default (as in gate/verdict.primary_metrics).
_DEFAULT_PRIMARY_PREFIXES = ("judge:", "deepeval:")


class HistoryError(Exception):
    """The history cannot be read (not a git repository, an unknown revision, git missing)."""


class NotAGitRepository(HistoryError):
    """The folder is not inside a git work tree."""


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, timeout=120, check=False)
    except FileNotFoundError:
        msg = "git is not installed (or not on PATH); the history of the baselines is read from git."
        raise HistoryError(msg) from None
    except subprocess.TimeoutExpired:
        msg = f"`git {' '.join(args[:2])}` took more than 120 s in {root}."
        raise HistoryError(msg) from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        msg = f"`git {' '.join(args)}` failed in {root}: {error[-1] if error else 'exit ' + str(done.returncode)}"
        raise HistoryError(msg)
    return done.stdout


def repository_root(path: Path) -> Path:
    """The root of the git work tree holding `path`; NotAGitRepository when there is none."""
    try:
        out = _git(path, "rev-parse", "--show-toplevel")
    except HistoryError as exc:
        if "not a git repository" in str(exc).lower() or "not found" in str(exc).lower():
            msg = (
                f"{path} is not inside a git repository: the history of the baselines is read from git. "
                f"Run it in a clone of the repository."
            )
            raise NotAGitRepository(msg) from None
        raise
    return Path(out.decode().strip())


@dataclass
class _Commit:
    sha: str
    date: str
    author: str
    subject: str
    paths: list[str] = field(default_factory=list)


def _log(root: Path, pathspecs: list[str]) -> list[_Commit]:
    if not _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}").strip():
        return []
    raw = _git(
        root,
        "log",
        "--reverse",
        "--no-renames",
        "--format=%x1e%H%x1f%aI%x1f%an <%ae>%x1f%s",
        "--name-only",
        "--",
        *pathspecs,
    ).decode("utf-8", "replace")
    commits = []
    for chunk in raw.split("\x1e"):
        if not chunk.strip():
            continue
        head, _, names = chunk.partition("\n")
        sha, date, author, subject = (head.split("\x1f") + ["", "", "", ""])[:4]
        paths = [n for n in names.splitlines() if n.endswith(".json")]
        commits.append(_Commit(sha, date, author, subject, paths))
    return commits


def _blobs(root: Path, specs: list[str]) -> list[bytes | None]:
    """The contents of `rev:path` specs in one `git cat-file --batch` (None where missing)."""
    if not specs:
        return []
    out = _git(root, "cat-file", "--batch", stdin=("\n".join(specs) + "\n").encode())
    blobs: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            blobs.append(None)
            continue
        size = int(header[2])
        blobs.append(out[pos : pos + size])
        pos += size + 1
    return blobs


def _default_primary(metrics: Mapping[str, Any]) -> list[str]:
    names = ["checks_passed"] if "checks_passed" in metrics else []
    names += sorted(
        name
        for name, spec in metrics.items()
        if name != "checks_passed"
        and (name.startswith(_DEFAULT_PRIMARY_PREFIXES) or (isinstance(spec, dict) and spec.get("tolerance")))
    )
    return names


@dataclass
class _Version:
    suite: str
    values: dict[str, tuple[float, int]]
    primary: list[str]
    higher: dict[str, bool]
    tolerance: dict[str, float]


def _read_version(blob: bytes) -> _Version | None:
    try:
        raw = json.loads(blob)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("suite"), str):
        return None
    metrics: dict[str, Any] = raw["metrics"] if isinstance(raw.get("metrics"), dict) else {}
    values: dict[str, tuple[float, int]] = {}
    for name, agg in (raw.get("aggregates") or {}).items():
        if isinstance(agg, dict) and isinstance(agg.get("mean"), int | float):
            values[name] = (float(agg["mean"]), int(agg.get("n") or 0))
    settings = raw.get("gate_settings") if isinstance(raw.get("gate_settings"), dict) else None
    primary = list(settings["primary"]) if settings and isinstance(settings.get("primary"), list) else None
    tolerance: dict[str, float] = {}
    for name, spec in metrics.items():
        if isinstance(spec, dict) and isinstance(spec.get("tolerance"), int | float):
            tolerance[name] = float(spec["tolerance"])
    for name, rule in ((settings or {}).get("metrics") or {}).items():
        if isinstance(rule, dict) and isinstance(rule.get("tolerance"), int | float):
            tolerance[name] = float(rule["tolerance"])
    return _Version(
        suite=raw["suite"],
        values=values,
        primary=primary if primary is not None else _default_primary(metrics),
        higher={n: bool(s.get("higher_is_better", True)) for n, s in metrics.items() if isinstance(s, dict)},
        tolerance=tolerance,
    )


def read_history(
    path: Path,
    baseline_dir: Path,
    *,
    since: str | None = None,
    tolerances: Mapping[tuple[str, str], float] | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE,
    suites: set[str] | None = None,
    primaries: Mapping[str, list[str]] | None = None,
    files: list[Path] | None = None,
) -> RunHistory:
    """Every accepted value of every metric of every baseline under `baseline_dir`, oldest first.

    `since`: the commit cumulative change (and drift) is measured from; default each series' first
    value. `tolerances` (suite, metric) override the baselines' own; `suites` and `primaries`
    restrict the series to those suites and (per suite) metrics, as a gated run does.
    A baseline file that differs from HEAD's is the last point, `uncommitted`.
    """
    root = repository_root(path)
    folder_abs = baseline_dir if baseline_dir.is_absolute() else (path / baseline_dir)
    try:
        folder = folder_abs.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        msg = f"the baseline folder {folder_abs} is outside the git repository at {root}."
        raise HistoryError(msg) from None
    shallow = _git(root, "rev-parse", "--is-shallow-repository").decode().strip() == "true"
    # A gated run reads only its suites' files (`files`); `llmgate history` the whole folder.
    pathspecs = [folder] if files is None else _relative(root, files) or [folder]
    commits = _log(root, pathspecs)
    history = RunHistory(root=str(root), commits=len(commits), shallow=shallow, since=since)
    specs = [f"{c.sha}:{p}" for c in commits for p in c.paths]
    blobs = iter(_blobs(root, specs))
    # (suite, metric) -> series; and the latest version of each file, for primaries and tolerances.
    series: dict[tuple[str, str], MetricHistory] = {}
    latest: dict[str, _Version] = {}
    file_suite: dict[str, str] = {}

    def add(version: _Version, rel: str, sha: str, date: str, author: str, subject: str) -> None:
        if suites is not None and version.suite not in suites:
            return
        latest[version.suite] = version
        file_suite[rel] = version.suite
        for metric, (value, n) in version.values.items():
            key = (version.suite, metric)
            line = series.get(key)
            if line is None:
                line = series[key] = MetricHistory(suite=version.suite, metric=metric, path=rel, tolerance=0.0)
            previous = line.points[-1].value if line.points else None
            change = None if previous is None else round(value - previous, 6)
            line.points.append(
                HistoryPoint(commit=sha, date=date, author=author, subject=subject, value=value, n=n, change=change)
            )

    for commit in commits:
        for rel in commit.paths:
            blob = next(blobs)
            if blob is None:
                continue  # deleted at this commit: its series ends
            version = _read_version(blob)
            if version is None:
                history.notes.append(f"{rel} at {commit.sha[:7]} is not a readable baseline; skipped.")
                continue
            add(version, rel, commit.sha, commit.date, commit.author, commit.subject)
    _add_uncommitted(root, folder if files is None else None, pathspecs, commits, add)
    reference_set = _reachable(root, since, folder) if since else None
    for (suite, metric), line in sorted(series.items()):
        version = latest[suite]
        line.primary = metric in (primaries.get(suite, version.primary) if primaries else version.primary)
        line.higher_is_better = version.higher.get(metric, True)
        override = (tolerances or {}).get((suite, metric))
        line.tolerance = override if override is not None else version.tolerance.get(metric, default_tolerance)
        start = 0
        if reference_set is not None:
            at = [i for i, p in enumerate(line.points) if p.commit in reference_set]
            start = at[-1] if at else 0
        measure(line, start)
        if primaries is not None and not line.primary:
            continue
        history.metrics.append(line)
        finding = find_drift(line) if line.primary else None
        if finding is not None:
            history.drift.append(finding)
    if shallow:
        first = commits[0].date[:10] if commits else "the clone's only commit"
        history.notes.insert(
            0,
            f"shallow clone: the history seen starts at {first} ({len(commits)} commit"
            f"{'' if len(commits) == 1 else 's'} changed baselines); {FETCH_MORE}.",
        )
    return history


def _relative(root: Path, files: list[Path]) -> list[str]:
    top = root.resolve()
    rels = []
    for file in files:
        try:
            rels.append(file.resolve().relative_to(top).as_posix())
        except ValueError:
            continue
    return sorted(set(rels))


def _add_uncommitted(root: Path, folder: str | None, pathspecs: list[str], commits: list[_Commit], add: Any) -> None:
    """Baseline files that differ from HEAD's (an update not yet committed) as the last points."""
    if folder is None:
        on_disk = [root / rel for rel in pathspecs if (root / rel).is_file()]
    else:
        on_disk = sorted(p for p in (root / folder).rglob("*.json") if p.is_file()) if (root / folder).is_dir() else []
    if not on_disk:
        return
    rels = [p.relative_to(root).as_posix() for p in on_disk]
    head = _blobs(root, [f"HEAD:{rel}" for rel in rels]) if commits else [None] * len(rels)
    for file, rel, committed in zip(on_disk, rels, head, strict=True):
        text = file.read_bytes()
        if committed == text:
            continue
        version = _read_version(text)
        if version is not None:
            add(version, rel, UNCOMMITTED, "", "", "not committed yet")


def _reachable(root: Path, since: str, folder: str) -> set[str]:
    """Commits that changed the baseline folder and are reachable from `since` (its accepted state)."""
    try:
        sha = _git(root, "rev-parse", "--verify", "-q", f"{since}^{{commit}}").decode().strip()
    except HistoryError:
        sha = ""
    if not sha:
        msg = f"--since {since!r}: no such commit in {root} (a shallow clone may not have it; {FETCH_MORE})."
        raise HistoryError(msg)
    return set(_git(root, "rev-list", sha, "--", folder).decode().split())


def merge_base(root: Path, ref: str) -> str | None:
    """The merge base of HEAD and `ref` (tried as `origin/<ref>`, then as given); None when unknown."""
    for candidate in (f"origin/{ref}", ref):
        try:
            return _git(root, "merge-base", "HEAD", candidate).decode().strip() or None
        except HistoryError:
            continue
    return None


def file_at(root: Path, rev: str, path: Path) -> bytes | None:
    """The committed content of `path` (absolute or relative to `root`) at `rev`; None when absent."""
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix() if path.is_absolute() else path.as_posix()
    except ValueError:
        return None
    return _blobs(root, [f"{rev}:{rel}"])[0]
