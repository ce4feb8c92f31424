"""EDA without synonyms: random swap, deletion and insertion of in-sentence words.

EDA (Wei & Zou, 2019) has four operations; synonym replacement and synonym insertion need
WordNet, which is not shipped, so only the synonym-free ones are kept, and insertion copies a
word of the same sentence instead of inserting a synonym. Each variant applies ONE operation,
picked uniformly among those that can apply to the sentence, n = max(1, round(alpha * words))
times (EDA's alpha: the share of words changed):

- swap: exchange two random words, n times;
- delete: remove n distinct random words (EDA deletes each word with probability alpha; a fixed
  count keeps the edit size predictable), always keeping at least one word;
- insert: insert a copy of a random word of the sentence at a random position, n times.

For NER only O-tagged words are swapped, deleted or copied, and a copy is never put inside an
entity (right before an I- tag), so every entity survives word for word and the BIO tags stay
valid and aligned. Classification words are whitespace-separated; a variant keeps the label.
All randomness comes from the `random.Random` passed in: same seed, same variants.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from evokd_agent.student.data import NerSample, TextSample

Operation = Literal["swap", "delete", "insert"]
DEFAULT_ALPHA = 0.1


@dataclass(frozen=True)
class Edit:
    """One augmented variant of a sample and how it was made."""

    sample: TextSample | NerSample
    """The variant, with the original's label (NER: tags moved along with their words)."""
    operation: Operation
    """The operation applied."""
    changes: int
    """How many times it was applied (words swapped pairwise, deleted or inserted)."""


def n_changes(n_words: int, alpha: float = DEFAULT_ALPHA) -> int:
    """Edits per variant: alpha of the words, at least one."""
    return max(1, round(alpha * n_words))


def _editable(tags: Sequence[str]) -> list[int]:
    """Positions that may be swapped, deleted or copied: every word outside an entity."""
    return [i for i, tag in enumerate(tags) if tag == "O"]


def applicable(tags: Sequence[str]) -> list[Operation]:
    """The operations that can change a sentence with these tags."""
    free = len(_editable(tags))
    ops: list[Operation] = []
    if free >= 2:
        ops.append("swap")
    if free >= 1 and len(tags) > 1:
        ops.append("delete")
    if free >= 1:
        ops.append("insert")
    return ops


def apply(
    words: Sequence[str], tags: Sequence[str], operation: Operation, n: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """`operation` applied `n` times to (words, tags); raises ValueError if it cannot apply."""
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} words but {len(tags)} tags")
    if operation not in applicable(tags):
        raise ValueError(f"{operation} cannot apply to a sentence of {len(words)} words")
    out_words, out_tags = list(words), list(tags)
    if operation == "swap":
        free = _editable(out_tags)
        for _ in range(n):
            i, j = rng.sample(free, 2)  # both O: the tags need not move
            out_words[i], out_words[j] = out_words[j], out_words[i]
    elif operation == "delete":
        free = _editable(out_tags)
        k = min(n, len(free), len(out_words) - 1)
        drop = set(rng.sample(free, k))
        keep = [i for i in range(len(out_words)) if i not in drop]
        out_words, out_tags = [out_words[i] for i in keep], [out_tags[i] for i in keep]
    else:
        for _ in range(n):
            word = out_words[rng.choice(_editable(out_tags))]
            # Before an I- tag would split an entity; anywhere else (or at the end) is outside.
            slots = [p for p in range(len(out_words) + 1) if not _inside(out_tags, p)]
            at = rng.choice(slots)
            out_words.insert(at, word)
            out_tags.insert(at, "O")
    return out_words, out_tags


def _inside(tags: Sequence[str], position: int) -> bool:
    return position < len(tags) and tags[position].startswith("I-")


def augment(
    sample: TextSample | NerSample,
    n_variants: int,
    rng: random.Random,
    *,
    alpha: float = DEFAULT_ALPHA,
    max_tries: int | None = None,
) -> list[Edit]:
    """Up to `n_variants` distinct variants of `sample`, each different from it.

    Fewer come back when the sentence allows few distinct edits (a two-word sentence); at most
    `max_tries` (default 4 x `n_variants`) edits are attempted.
    """
    if isinstance(sample, TextSample):
        words: list[str] = sample.text.split()
        tags = ["O"] * len(words)
    else:
        words, tags = list(sample.tokens), list(sample.tags)
    ops = applicable(tags)
    if not ops or n_variants < 1:
        return []
    n = n_changes(len(words), alpha)
    seen = {(tuple(words), tuple(tags))}
    out: list[Edit] = []
    for _ in range(max_tries if max_tries is not None else 4 * n_variants):
        if len(out) >= n_variants:
            break
        operation = rng.choice(ops)
        new_words, new_tags = apply(words, tags, operation, n, rng)
        key = (tuple(new_words), tuple(new_tags))
        if key in seen:
            continue
        seen.add(key)
        variant: TextSample | NerSample
        if isinstance(sample, TextSample):
            variant = TextSample(" ".join(new_words), sample.label)
        else:
            variant = NerSample(key[0], key[1])
        out.append(Edit(variant, operation, n))
    return out
