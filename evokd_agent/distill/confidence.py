"""Teacher confidence in a label, from the logprobs of its labelling reply.

The label is the first value token after `"label": "` in the JSON reply (in a batched reply,
the k-th such token belongs to the k-th item, so each item is scored from its own token). Its
top alternatives
are mapped to labels by their surface form ("pos", " Positive", "positive" all count for
"positive"), their probabilities summed per label and normalised over the label set. Where the
endpoint returns no logprobs, confidence is the share of k sampled replies that agree
(self-consistency), and the method used is reported with every score.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ConfidenceMethod = Literal["logprobs", "self_consistency", "scoring", "calibrated_scoring"]


@dataclass(frozen=True)
class LabelConfidence:
    """The teacher's label for one input and how sure it is."""

    label: str | None
    """Most probable label, or None when the reply named none."""
    confidence: float
    """Probability of `label`, normalised over the label set (0 when unknown)."""
    distribution: dict[str, float]
    """Probability of every label."""
    method: ConfidenceMethod
    """Where the probabilities come from."""


def _label_of(token: str, labels: Sequence[str]) -> str | None:
    """The label a token starts (case-insensitive, leading space/quote ignored), if exactly one."""
    piece = token.strip().strip('"').lower()
    if not piece:
        return None
    matches = [label for label in labels if label.lower().startswith(piece)]
    return matches[0] if len(matches) == 1 else None


def _value_position(tokens: Sequence[str]) -> int | None:
    """Index of the token holding the first character of the value in `{"label": "<value>"}`."""
    match = re.search(r'"label"\s*:\s*"', "".join(tokens))
    if match is None:
        return None
    offset = 0
    for i, token in enumerate(tokens):
        if offset + len(token) > match.end():
            return i
        offset += len(token)
    return None


def _label_mass(entry: Any, labels: Sequence[str]) -> LabelConfidence | None:
    """The label distribution one value token's alternatives report, normalised."""
    mass: dict[str, float] = dict.fromkeys(labels, 0.0)
    for token, logprob in _alternatives(entry):
        label = _label_of(token, labels)
        if label is not None:
            mass[label] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    distribution = {label: p / total for label, p in mass.items()}
    best = max(distribution, key=lambda label: distribution[label])
    return LabelConfidence(best, distribution[best], distribution, "logprobs")


def from_logprobs(logprobs: Any, labels: Sequence[str]) -> LabelConfidence | None:
    """Confidence from an OpenAI `choice.logprobs` object; None if it holds no usable token."""
    content = getattr(logprobs, "content", None) or []
    tokens = [t.token for t in content]
    position = _value_position(tokens)
    if position is None or position >= len(content):
        # Plain-text reply: the first token that starts a label.
        position = next((i for i, t in enumerate(tokens) if _label_of(t, labels)), None)
        if position is None:
            return None
    return _label_mass(content[position], labels)


def batch_from_logprobs(
    logprobs: Any, labels: Sequence[str], listed: int
) -> list[LabelConfidence | None] | None:
    """Per item of a batched labelling reply (`{"items": [{"id": .., "label": ".."}, ..]}`
    whose list holds `listed` items), the confidence read from that item's own label token.

    Index k is the reply's k-th item. None when the reply's label values cannot be matched
    one to one with its items (then no item gets a logprob confidence).
    """
    content = getattr(logprobs, "content", None) or []
    tokens = [t.token for t in content]
    starts = [m.end() for m in re.finditer(r'"label"\s*:\s*"', "".join(tokens))]
    if not content or len(starts) != listed:
        return None
    out: list[LabelConfidence | None] = []
    for char in starts:
        position = _token_at(tokens, char)
        out.append(None if position is None else _label_mass(content[position], labels))
    return out


def from_votes(votes: Sequence[str | None], labels: Sequence[str]) -> LabelConfidence:
    """Confidence as agreement among k sampled labels (replies naming no label count against)."""
    counts = Counter(v for v in votes if v in labels)
    k = max(len(votes), 1)
    distribution = {label: counts.get(label, 0) / k for label in labels}
    if not counts:
        return LabelConfidence(None, 0.0, distribution, "self_consistency")
    best, n = counts.most_common(1)[0]
    return LabelConfidence(best, n / k, distribution, "self_consistency")


@dataclass(frozen=True)
class EntityConfidence:
    """One entity of the teacher's NER reply and how sure it is of the entity's type."""

    text: str
    """The entity's words, as the teacher wrote them."""
    type: str
    """Its entity type."""
    confidence: float
    """Probability of `type` among the entity types (logprobs) or share of replies with it."""


@dataclass(frozen=True)
class NerConfidence:
    """The teacher's entities for one sentence, per entity and for the sentence as a whole."""

    entities: tuple[EntityConfidence, ...]
    """Entities of the reply (the greedy one, or the majority set of sampled replies)."""
    confidence: float
    """Sentence confidence: the least sure entity's confidence (logprobs; with no entity, the
    probability that the list is empty) or the share of sampled replies with exactly this set."""
    method: ConfidenceMethod
    """Where the probabilities come from."""


def _token_at(tokens: Sequence[str], char: int) -> int | None:
    offset = 0
    for i, token in enumerate(tokens):
        if offset + len(token) > char:
            return i
        offset += len(token)
    return None


def _alternatives(entry: Any) -> list[tuple[str, float]]:
    alternatives = [(alt.token, alt.logprob) for alt in entry.top_logprobs or []]
    if not any(tok == entry.token for tok, _ in alternatives):
        alternatives.append((entry.token, entry.logprob))
    return alternatives


def ner_from_logprobs(
    logprobs: Any, types: Sequence[str], entities: Sequence[tuple[str, str]]
) -> NerConfidence | None:
    """Confidence of a parsed NER reply `entities` ((text, type) in reply order) from its
    logprobs: each entity's type token is scored like a class label over `types`."""
    content = getattr(logprobs, "content", None) or []
    tokens = [t.token for t in content]
    return _ner_span(content, tokens, 0, len("".join(tokens)), types, entities)


def ner_batch_from_logprobs(
    logprobs: Any, types: Sequence[str], listed: Sequence[Sequence[tuple[str, str]] | None]
) -> list[NerConfidence | None] | None:
    """Per item of a batched NER reply (`{"items": [{"id": .., "entities": [..]}, ..]}`), the
    confidence from that item's own tokens; `listed[k]` is the reply's k-th item's parsed
    entities (None when unreadable). None when the reply's entity lists cannot be matched one
    to one with its items."""
    content = getattr(logprobs, "content", None) or []
    tokens = [t.token for t in content]
    joined = "".join(tokens)
    starts = [m.start() for m in re.finditer(r'"entities"\s*:\s*\[', joined)]
    if not content or len(starts) != len(listed):
        return None
    ends = [*starts[1:], len(joined)]
    return [
        None if ents is None else _ner_span(content, tokens, a, b, types, ents)
        for ents, a, b in zip(listed, starts, ends, strict=True)
    ]


def _ner_span(
    content: Sequence[Any],
    tokens: Sequence[str],
    start: int,
    end: int,
    types: Sequence[str],
    entities: Sequence[tuple[str, str]],
) -> NerConfidence | None:
    """`ner_from_logprobs` over the reply characters start..end (one item of a batch)."""
    joined = "".join(tokens)
    span = joined[start:end]
    starts = [start + m.end() for m in re.finditer(r'"type"\s*:\s*"', span)]
    if len(starts) != len(entities):
        return None
    scored: list[EntityConfidence] = []
    for (text, etype), char in zip(entities, starts, strict=True):
        position = _token_at(tokens, char)
        if position is None:
            return None
        mass = dict.fromkeys(types, 0.0)
        for token, logprob in _alternatives(content[position]):
            label = _label_of(token, types)
            if label is not None:
                mass[label] += math.exp(logprob)
        total = sum(mass.values())
        if total <= 0 or etype not in mass:
            return None
        scored.append(EntityConfidence(text, etype, mass[etype] / total))
    if scored:
        return NerConfidence(tuple(scored), min(e.confidence for e in scored), "logprobs")
    # No entity: how likely the list was to close at once ("]") rather than open one ("{").
    match = re.search(r'"entities"\s*:\s*\[', span)
    position = _token_at(tokens, start + match.end()) if match else None
    if position is None:
        return None
    empty = filled = 0.0
    for token, logprob in _alternatives(content[position]):
        piece = token.lstrip(" \n[")
        if piece.startswith("]"):
            empty += math.exp(logprob)
        elif piece.startswith("{"):
            filled += math.exp(logprob)
    if empty + filled <= 0:
        return None
    return NerConfidence((), empty / (empty + filled), "logprobs")


def ner_from_votes(
    replies: Sequence[Sequence[tuple[str, str]] | None],
) -> NerConfidence:
    """Confidence from k sampled NER replies: the most common entity set wins; an entity's
    confidence is the share of replies containing it, the sentence's the share agreeing."""
    k = max(len(replies), 1)
    sets = [frozenset(r) for r in replies if r is not None]
    if not sets:
        return NerConfidence((), 0.0, "self_consistency")
    majority, agree = Counter(sets).most_common(1)[0]
    entities = tuple(
        EntityConfidence(text, etype, sum((text, etype) in s for s in sets) / k)
        for text, etype in sorted(majority)
    )
    return NerConfidence(entities, agree / k, "self_consistency")
