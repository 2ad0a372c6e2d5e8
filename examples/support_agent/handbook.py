"""The shop's support handbook: short chunks with stable ids, parsed from `handbook.md`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HANDBOOK_PATH = Path(__file__).with_name("handbook.md")

_HEADING = re.compile(r"^## (?P<id>[a-z]+-\d{2}) \| (?P<title>.+)$")


@dataclass(frozen=True)
class Chunk:
    """One handbook passage: what the retriever ranks and the answer quotes."""

    id: str
    """Stable id, e.g. `refunds-01`; golden cases list these as relevant."""
    title: str
    text: str

    def sentences(self) -> list[str]:
        """The chunk's sentences, in order (the answer quotes whole sentences)."""
        parts = re.split(r"(?<=[.!?])\s+", self.text.strip())
        return [part for part in parts if part]


def parse_handbook(text: str, source: str = "handbook") -> list[Chunk]:
    """Parse `## <id> | <title>` sections into chunks; text before the first one is ignored."""
    chunks: list[Chunk] = []
    current: tuple[str, str] | None = None
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            match = _HEADING.match(line)
            if match is None:
                msg = f"{source}:{number}: heading must read '## <id> | <title>' (got {line!r})."
                raise ValueError(msg)
            if current is not None:
                chunks.append(Chunk(current[0], current[1], " ".join(body).strip()))
            current = (match["id"], match["title"].strip())
            body = []
        elif current is not None and line.strip():
            body.append(line.strip())
    if current is not None:
        chunks.append(Chunk(current[0], current[1], " ".join(body).strip()))
    ids = [chunk.id for chunk in chunks]
    duplicates = sorted({chunk_id for chunk_id in ids if ids.count(chunk_id) > 1})
    if duplicates:
        msg = f"{source}: chunk ids must be unique (duplicated: {', '.join(duplicates)})."
        raise ValueError(msg)
    empty = [chunk.id for chunk in chunks if not chunk.text]
    if empty:
        msg = f"{source}: every chunk needs text (empty: {', '.join(empty)})."
        raise ValueError(msg)
    return chunks


@cache
def load_handbook(path: Path = HANDBOOK_PATH) -> tuple[Chunk, ...]:
    """The handbook's chunks in file order (cached: the file is read once per process)."""
    return tuple(parse_handbook(path.read_text(encoding="utf-8"), source=str(path)))
