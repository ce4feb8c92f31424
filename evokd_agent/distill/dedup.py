"""Duplicate detection: exact matches after normalising, near matches by n-gram Jaccard.

Near-duplicate search uses prefix filtering, so it stays fast for thousands of texts: shingles
are put in one fixed global order, and two sets whose Jaccard similarity reaches t must share a
shingle within the first |A| - ceil(t|A|) + 1 of each. Only those prefixes are indexed; the few
candidates they yield are verified with the exact Jaccard.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from evokd_agent.distill.rejections import (
    DUPLICATE,
    DUPLICATE_OF_EVAL,
    NEAR_DUPLICATE,
    NEAR_DUPLICATE_OF_EVAL,
    Rejection,
)

_NON_ALNUM = re.compile(r"[\W_]+")
_EPSILON = 1e-9


def normalize_text(text: str) -> str:
    """Exact-match key: NFKC, case-folded, letters and digits only.

    Tokenized corpora ("it 's") and teacher prose ("it's") then compare equal.
    """
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def shingles(text: str, n: int = 5) -> frozenset[str]:
    """Character n-grams of the text with punctuation removed and spaces collapsed."""
    flat = _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if not flat:
        return frozenset()
    if len(flat) <= n:
        return frozenset({flat})
    return frozenset(flat[i : i + n] for i in range(len(flat) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|A ∩ B| / |A ∪ B| (0 for two empty sets)."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _order(shingle: str) -> tuple[int, str]:
    # crc32 rather than hash(): the same order in every process, and it spreads common n-grams.
    return zlib.crc32(shingle.encode("utf-8")), shingle


@dataclass(frozen=True)
class Match:
    """The indexed text a query matched and how similar they are (1.0: equal when normalised)."""

    text: str
    similarity: float
    exact: bool


class NearDuplicateIndex:
    """Texts indexed for exact and near-duplicate lookup (char n-gram Jaccard >= threshold)."""

    def __init__(self, threshold: float = 0.85, n: int = 5) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.threshold = threshold
        self.n = n
        self._texts: list[str] = []
        self._sets: list[frozenset[str]] = []
        self._exact: dict[str, int] = {}
        self._postings: defaultdict[str, list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._texts)

    def _prefix(self, items: frozenset[str]) -> list[str]:
        size = len(items)
        length = size - math.ceil(self.threshold * size - _EPSILON) + 1
        return sorted(items, key=_order)[: max(1, min(size, length))]

    def add(self, text: str) -> None:
        """Index `text` (texts without letters or digits are ignored)."""
        key = normalize_text(text)
        if not key:
            return
        doc = len(self._texts)
        self._texts.append(text)
        items = shingles(text, self.n)
        self._sets.append(items)
        self._exact.setdefault(key, doc)
        for shingle in self._prefix(items):
            self._postings[shingle].append(doc)

    def add_all(self, texts: Iterable[str]) -> None:
        """Index every text."""
        for text in texts:
            self.add(text)

    def find(self, text: str) -> Match | None:
        """The most similar indexed text at or above the threshold, or None."""
        key = normalize_text(text)
        if not key:
            return None
        if key in self._exact:
            return Match(self._texts[self._exact[key]], 1.0, exact=True)
        items = shingles(text, self.n)
        size = len(items)
        low, high = self.threshold * size - _EPSILON, size / self.threshold + _EPSILON
        seen: set[int] = set()
        best: Match | None = None
        for shingle in self._prefix(items):
            for doc in self._postings.get(shingle, ()):
                if doc in seen:
                    continue
                seen.add(doc)
                other = self._sets[doc]
                if not low <= len(other) <= high:
                    continue
                sim = jaccard(items, other)
                if sim >= self.threshold - _EPSILON and (best is None or sim > best.similarity):
                    best = Match(self._texts[doc], sim, exact=False)
        return best

    def check(self, text: str) -> Rejection | None:
        """A `duplicate` / `near_duplicate` rejection when `text` matches an indexed text."""
        match = self.find(text)
        if match is None:
            return None
        if match.exact:
            return Rejection(DUPLICATE, f"same text as {_quote(match.text)}")
        return Rejection(NEAR_DUPLICATE, f"{match.similarity:.2f} similar to {_quote(match.text)}")


class LeakGuard:
    """Refuses texts equal to a dev or test text (and, optionally, nearly equal to one)."""

    def __init__(self, eval_texts: Iterable[str], near_threshold: float | None = None) -> None:
        texts = list(eval_texts)
        self._exact = {normalize_text(t): t for t in texts if normalize_text(t)}
        self._near: NearDuplicateIndex | None = None
        if near_threshold is not None:
            self._near = NearDuplicateIndex(near_threshold)
            self._near.add_all(texts)

    def __len__(self) -> int:
        return len(self._exact)

    def check(self, text: str) -> Rejection | None:
        """`duplicate_of_eval` / `near_duplicate_of_eval` when `text` leaks an evaluation text."""
        same = self._exact.get(normalize_text(text))
        if same is not None:
            return Rejection(DUPLICATE_OF_EVAL, f"equals the eval text {_quote(same)}")
        match = self._near.find(text) if self._near is not None else None
        if match is None:
            return None
        return Rejection(
            NEAR_DUPLICATE_OF_EVAL,
            f"{match.similarity:.2f} similar to the eval text {_quote(match.text)}",
        )


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
