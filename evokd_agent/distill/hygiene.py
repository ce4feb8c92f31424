"""Output hygiene: what a teacher's sample must satisfy before the student may train on it.

Labels must be in the label set; every NER entity must occur in its sentence as whole words (the
framework, not the teacher, computes offsets and BIO tags); texts equal to a dev/test text are
refused (leak guard), as are duplicates and near-duplicates of accepted training texts. Every
refusal is a `Rejection` with a machine-readable reason, counted by `Hygiene.counter`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from evokd_agent.distill.dedup import LeakGuard, NearDuplicateIndex, normalize_text
from evokd_agent.distill.rejections import (
    DUPLICATE,
    EMPTY_TEXT,
    ENTITY_NOT_IN_SENTENCE,
    ENTITY_TYPE_NOT_IN_SET,
    LABEL_NOT_IN_SET,
    OVERLAPPING_ENTITIES,
    REASONS,
    TOO_LONG,
    Rejection,
    RejectionCounter,
)
from evokd_agent.teacher.tokens import TokenCounter

__all__ = [
    "REASONS",
    "AlignedSentence",
    "EntitySpan",
    "Hygiene",
    "LeakGuard",
    "NearDuplicateIndex",
    "Rejection",
    "RejectionCounter",
    "align_entities",
    "check_label",
    "check_text",
    "normalize_label",
    "tokenize",
]

# URLs, @mentions and #hashtags stay whole (tweets); clitics such as 's split off as in PTB.
_TOKEN_RE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\w+(?:[-&]\w+)*|'\w+|[^\w\s]")
_LABEL_STRIP = " \t\r\n\"'`.,;:!?()[]{}<>*"


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words of `text` with their character offsets: (word, start, end)."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def check_text(text: str) -> Rejection | None:
    """`empty_text` when `text` has no letters or digits."""
    if not normalize_text(text):
        return Rejection(EMPTY_TEXT, "no letters or digits")
    return None


def normalize_label(raw: str, labels: Sequence[str]) -> str | None:
    """The label of `labels` that `raw` names, ignoring case, quotes and punctuation; or None."""
    if raw in labels:
        return raw
    key = raw.strip(_LABEL_STRIP).casefold()
    found = [label for label in labels if label.strip(_LABEL_STRIP).casefold() == key]
    return found[0] if len(found) == 1 else None


def check_label(label: str, labels: Sequence[str]) -> Rejection | None:
    """`label_not_in_set` unless `label` is exactly one of `labels`."""
    if label in labels:
        return None
    return Rejection(LABEL_NOT_IN_SET, f"{label!r} is not one of {', '.join(labels)}")


# `Hygiene` has methods of the same names; these keep the functions reachable inside it.
_check_text = check_text
_check_label = check_label


@dataclass(frozen=True)
class EntitySpan:
    """One entity located in a sentence."""

    start: int
    """Index of its first token."""
    end: int
    """Index after its last token."""
    type: str
    """Entity type, from the task's types."""
    surface: str
    """Its words as they appear in the sentence."""
    char_start: int | None = None
    """Character offset of its first character in the original text (None for token input)."""
    char_end: int | None = None
    """Character offset after its last character (None for token input)."""


@dataclass(frozen=True)
class AlignedSentence:
    """A sentence with framework-built BIO tags."""

    tokens: tuple[str, ...]
    """Words of the sentence."""
    tags: tuple[str, ...]
    """BIO tags, one per word."""
    spans: tuple[EntitySpan, ...]
    """Every tagged entity occurrence, in sentence order."""


def align_entities(
    sentence: str | Sequence[str],
    entities: Iterable[tuple[str, str]],
    types: Sequence[str],
) -> AlignedSentence | Rejection:
    """Tokens and BIO tags for `sentence`, or why its (surface, type) entities are refused.

    Each surface must occur as whole words (case-sensitive match first, else case-insensitive);
    every occurrence is tagged. Unknown types, and entities covering the same words, refuse the
    sentence. An empty entity list gives an all-O sentence.
    """
    if isinstance(sentence, str):
        found = tokenize(sentence)
        words = [w for w, _, _ in found]
        offsets: list[tuple[int, int]] | None = [(s, e) for _, s, e in found]
    else:
        words = [w for w in sentence if w.strip()]
        offsets = None
    if not words:
        return Rejection(EMPTY_TEXT, "the sentence has no words")
    spans: list[EntitySpan] = []
    seen: set[tuple[str, str]] = set()
    for surface, raw_type in entities:
        kind = normalize_label(raw_type, types)
        if kind is None:
            return Rejection(
                ENTITY_TYPE_NOT_IN_SET, f"{raw_type!r} (for {surface!r}) is not one of the types"
            )
        key = (" ".join(surface.split()).casefold(), kind)
        if key in seen:
            continue
        seen.add(key)
        parts, starts = _locate(words, surface)
        if not parts:  # no words at all
            return Rejection(ENTITY_NOT_IN_SENTENCE, f"empty {kind} entity")
        if not starts:
            return Rejection(
                ENTITY_NOT_IN_SENTENCE, f"{kind} {surface!r} does not occur in the sentence"
            )
        for start in starts:
            end = start + len(parts)
            char = (offsets[start][0], offsets[end - 1][1]) if offsets else (None, None)
            text = sentence[char[0] : char[1]] if isinstance(sentence, str) else None
            spans.append(EntitySpan(start, end, kind, text or " ".join(words[start:end]), *char))
    spans.sort(key=lambda s: (s.start, s.end))
    for a, b in itertools.pairwise(spans):
        if b.start < a.end:
            return Rejection(
                OVERLAPPING_ENTITIES,
                f"{a.type} {a.surface!r} and {b.type} {b.surface!r} cover the same words",
            )
    tags = ["O"] * len(words)
    for span in spans:
        tags[span.start] = f"B-{span.type}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.type}"
    return AlignedSentence(tuple(words), tuple(tags), tuple(spans))


def _locate(words: Sequence[str], surface: str) -> tuple[list[str], list[int]]:
    """The surface's words and where they occur; tries our tokenization, then plain spaces."""
    variants = [[w for w, _, _ in tokenize(surface)], surface.split()]
    for parts in variants:
        starts = _occurrences(words, parts) if parts else []
        if starts:
            return parts, starts
    return variants[0] or variants[1], []


def _occurrences(words: Sequence[str], parts: Sequence[str]) -> list[int]:
    """Non-overlapping starts of `parts` in `words`, exact case if any, else ignoring case."""
    if not parts:
        return []
    for fold in (False, True):
        hay = [w.casefold() for w in words] if fold else list(words)
        needle = [p.casefold() for p in parts] if fold else list(parts)
        starts: list[int] = []
        i = 0
        while i + len(needle) <= len(hay):
            if hay[i : i + len(needle)] == needle:
                starts.append(i)
                i += len(needle)
            else:
                i += 1
        if starts:
            return starts
    return []


def _exact_repeat(index: NearDuplicateIndex, text: str) -> Rejection | None:
    match = index.find(text)
    if match is None or not match.exact:
        return None
    return Rejection(DUPLICATE, f"same text as {match.text[:60]!r}")


class Hygiene:
    """All filters of one run, with the leak guard, the dedup index and the rejection counts.

    A sample that passes is added to the dedup index at once, so duplicates within one batch
    are caught too.
    """

    def __init__(
        self,
        labels: Sequence[str],
        eval_texts: Iterable[str] = (),
        *,
        near_threshold: float = 0.85,
        eval_near_threshold: float | None = None,
        ngram: int = 5,
        max_text_tokens: int | None = None,
    ) -> None:
        """`max_text_tokens`: longest text the teacher may write (cl100k tokens), so that no
        reply inflates the prompts it later appears in (labelling, analysis); None: no limit."""
        self.labels = list(labels)
        self.max_text_tokens = max_text_tokens
        self._counter = TokenCounter() if max_text_tokens is not None else None
        self.leak_guard = LeakGuard(eval_texts, eval_near_threshold)
        self.index = NearDuplicateIndex(near_threshold, ngram)
        self.counter = RejectionCounter()
        self.last_rejection: Rejection | None = None

    def add_training(self, texts: Iterable[str]) -> None:
        """Index texts already trained on (seeds, earlier rounds): new ones must not repeat them."""
        self.index.add_all(texts)

    # Step-by-step interface for methods that check a text before labelling it and accept it
    # after: each returns a reason string (None when fine), counts it, and keeps the details in
    # `last_rejection`.
    def check_text(
        self,
        text: str,
        extra: Iterable[str] = (),
        *,
        near_duplicates: bool = True,
        written: bool = False,
    ) -> str | None:
        """Why `text` may not be used (empty, leaks eval, repeats training or `extra` texts,
        or, `written` by the teacher, longer than `max_text_tokens`; the user's own texts,
        such as an LLKD pool, have no length limit).

        `near_duplicates=False` refuses only exact repeats (after normalising) of training and
        `extra` texts: for rule-based edits (EDA), which are near-duplicates of a seed by design.
        The leak guard applies either way.
        """
        rejection = (
            _check_text(text)
            or (self._too_long(text) if written else None)
            or self.leak_guard.check(text)
        )
        if rejection is None:
            pending = NearDuplicateIndex(self.index.threshold, self.index.n)
            pending.add_all(extra)
            for index in (self.index, pending):
                rejection = rejection or (
                    index.check(text) if near_duplicates else _exact_repeat(index, text)
                )
        return self._reason(rejection)

    def _too_long(self, text: str) -> Rejection | None:
        if self._counter is None or self.max_text_tokens is None:
            return None
        tokens = self._counter.count_text(text)
        if tokens <= self.max_text_tokens:
            return None
        return Rejection(TOO_LONG, f"{tokens} tokens, more than {self.max_text_tokens}")

    def check_label(self, label: str) -> str | None:
        """`label_not_in_set` unless `label` is one of the labels."""
        return self._reason(_check_label(label, self.labels))

    def align(
        self, sentence: str | Sequence[str], entities: Iterable[tuple[str, str]]
    ) -> str | tuple[list[str], list[str]]:
        """(tokens, BIO tags) of a sentence with its entities, or the rejection reason."""
        result = align_entities(sentence, entities, self.labels)
        if isinstance(result, Rejection):
            return self._reason(result) or result.reason
        return list(result.tokens), list(result.tags)

    def accept(self, text: str) -> None:
        """Record `text` as training data: later texts must not repeat it."""
        self.index.add(text)

    def _reason(self, rejection: Rejection | None) -> str | None:
        self.last_rejection = rejection
        if rejection is None:
            return None
        self.counter.add(rejection)
        return rejection.reason
