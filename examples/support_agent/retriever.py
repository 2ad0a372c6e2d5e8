"""Retrievers over the handbook: BM25 (the real one) and a naive keyword-overlap ranker.

The keyword-overlap ranker is the planted `retriever` regression: no IDF, no stop words,
no stemming, so frequent words like "my" or "the" count as much as "refund" does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from rank_bm25 import BM25Okapi

from .handbook import Chunk

_WORD = re.compile(r"[a-z0-9]+")

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "once",
        "or",
        "our",
        "please",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "too",
        "up",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "want",
        "need",
        "like",
        "know",
        "tell",
        "wondering",
        "question",
        "help",
        "something",
        "anything",
        "still",
        "really",
        "some",
        "one",
        "ask",
        "im",
        "ive",
        "id",
        "don",
        "didn",
        "doesn",
        "isn",
        "hasn",
        "haven",
        "wasn",
        "won",
        "t",
        "s",
        "m",
        "ve",
        "ll",
        "d",
        "re",
    ]
)

#: Customer words mapped to the handbook's words (a small, hand-kept query expansion).
SYNONYMS: dict[str, str] = {
    "where": "track status",
    "broken": "damaged defective",
    "broke": "damaged defective",
    "cracked": "damaged defective",
    "money": "refund",
    "crypto": "cryptocurrency",
    "bitcoin": "cryptocurrency",
    "customs": "duties",
    "postage": "shipping",
}


def _stem(word: str) -> str:
    """A light suffix stripper: enough to match 'refunds'/'refunded' and 'ship'/'shipping'."""
    if len(word) > 4 and not word.endswith(("ss", "us")):
        if word.endswith("ies"):
            word = word[:-3] + "y"
        elif word.endswith("es") and len(word) > 5:
            word = word[:-2]
        elif word.endswith("s"):
            word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lowercase words without stop words, lightly stemmed: BM25's view of a text."""
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


def expand_query(query: str) -> str:
    """The query plus the handbook's words for the customer's words (see `SYNONYMS`)."""
    extra = [SYNONYMS[word] for word in _WORD.findall(query.lower()) if word in SYNONYMS]
    return " ".join([query, *extra])


def raw_words(text: str) -> list[str]:
    """Lowercase words as typed: the naive ranker's view of a text."""
    return _WORD.findall(text.lower())


class Retriever(Protocol):
    """Ranks handbook chunks for a query."""

    def search(self, query: str, k: int) -> list[str]:
        """Ids of the `k` best chunks, best first."""
        ...


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        msg = f"'k' must be a positive integer (got {k!r})."
        raise ValueError(msg)


class BM25Retriever:
    """Okapi BM25 over each chunk's title and text; ties keep handbook order."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            msg = "BM25Retriever needs at least one chunk (got none)."
            raise ValueError(msg)
        self._ids = [chunk.id for chunk in chunks]
        # The title is repeated once: it is the chunk's best summary of what it is about.
        corpus = [tokenize(f"{chunk.title} {chunk.title} {chunk.text}") for chunk in chunks]
        self._bm25 = BM25Okapi(corpus)

    def search(self, query: str, k: int) -> list[str]:
        _check_k(k)
        scores = self._bm25.get_scores(tokenize(expand_query(query)))
        order = sorted(range(len(self._ids)), key=lambda index: (-scores[index], index))
        return [self._ids[index] for index in order[:k]]


class KeywordOverlapRetriever:
    """Counts the distinct query words a chunk contains; ties keep handbook order.

    Kept as the planted regression: it is what a hurried rewrite of the retriever
    ("we don't need a BM25 dependency") typically looks like.
    """

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            msg = "KeywordOverlapRetriever needs at least one chunk (got none)."
            raise ValueError(msg)
        self._ids = [chunk.id for chunk in chunks]
        self._words = [set(raw_words(f"{chunk.title} {chunk.text}")) for chunk in chunks]

    def search(self, query: str, k: int) -> list[str]:
        _check_k(k)
        query_words = set(raw_words(query))
        scores = [len(query_words & words) for words in self._words]
        order = sorted(range(len(self._ids)), key=lambda index: (-scores[index], index))
        return [self._ids[index] for index in order[:k]]
