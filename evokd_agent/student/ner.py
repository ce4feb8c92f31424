"""BIO tags: validation, tag sets, first-subword alignment and mapping predictions back to words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

IGNORE_INDEX = -100
"""Label id that the loss skips: special tokens and every subword after a word's first."""


def bio_problem(tags: Sequence[str]) -> str | None:
    """Why `tags` is not valid BIO (IOB2), or None when it is.

    An I-X tag must follow B-X or I-X: a dangling I- usually means a mis-converted file.
    """
    previous = "O"
    for i, tag in enumerate(tags):
        if tag != "O":
            prefix, _, kind = tag.partition("-")
            if prefix not in ("B", "I") or not kind:
                return f"tag {tag!r} at position {i} is not O, B-TYPE or I-TYPE"
            if prefix == "I" and previous[2:] != kind:
                return f"tag {tag!r} at position {i} follows {previous!r}, not B-{kind} or I-{kind}"
        previous = tag
    return None


def normalize_tag_set(tags: Iterable[str]) -> list[str]:
    """The full tag list for `tags`: "O" first, then B-/I- per entity type, types sorted.

    Items may be BIO tags ("B-person") or bare entity types ("person"). Both B- and I- of every
    type are included, so a model can predict multi-word entities even if the training tags only
    showed single words.
    """
    kinds = sorted({t[2:] if t[:2] in ("B-", "I-") else t for t in tags if t != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]


def align_labels(word_ids: Sequence[int | None], word_label_ids: Sequence[int]) -> list[int]:
    """Label each word's first subword with the word's label id; others get IGNORE_INDEX."""
    labels: list[int] = []
    previous: int | None = None
    for wid in word_ids:
        if wid is None or wid == previous:
            labels.append(IGNORE_INDEX)
        else:
            labels.append(word_label_ids[wid])
        previous = wid
    return labels


def first_subword_positions(word_ids: Sequence[int | None], n_words: int) -> list[int | None]:
    """For each word, the position of its first subword, or None if the tokenizer dropped it.

    A word is dropped when truncation cut it off or when it has no subwords at all (e.g. a lone
    zero-width character).
    """
    positions: list[int | None] = [None] * n_words
    for pos, wid in enumerate(word_ids):
        if wid is not None and wid < n_words and positions[wid] is None:
            positions[wid] = pos
    return positions


def repair_bio(tags: Sequence[str]) -> tuple[str, ...]:
    """Turn a dangling I-X (after O or another type) into B-X so predictions are valid BIO."""
    fixed: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        fixed.append(tag)
        previous = tag
    return tuple(fixed)


def bio_entities(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    """(surface, type) pairs of a BIO-tagged sentence (a stray I- starts an entity)."""
    out: list[tuple[str, str]] = []
    words: list[str] = []
    kind = ""
    for token, tag in [*zip(tokens, tags, strict=True), ("", "O")]:
        if words and not (tag.startswith("I-") and tag[2:] == kind):
            out.append((" ".join(words), kind))
            words = []
        if tag.startswith("B-") or (tag.startswith("I-") and not words):
            words, kind = [token], tag[2:]
        elif tag.startswith("I-"):
            words.append(token)
    return out
