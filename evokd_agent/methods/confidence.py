"""Teacher confidence in a label, from the logprobs of its labelling reply.

The label is the first value token after `"label": "` in the JSON reply. Its top alternatives
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

Method = Literal["logprobs", "self_consistency"]


@dataclass(frozen=True)
class LabelConfidence:
    """The teacher's label for one input and how sure it is."""

    label: str | None
    """Most probable label, or None when the reply named none."""
    confidence: float
    """Probability of `label`, normalised over the label set (0 when unknown)."""
    distribution: dict[str, float]
    """Probability of every label."""
    method: Method
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
    entry = content[position]
    mass: dict[str, float] = dict.fromkeys(labels, 0.0)
    alternatives = [(alt.token, alt.logprob) for alt in entry.top_logprobs or []]
    if not any(tok == entry.token for tok, _ in alternatives):
        alternatives.append((entry.token, entry.logprob))
    for token, logprob in alternatives:
        label = _label_of(token, labels)
        if label is not None:
            mass[label] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    distribution = {label: p / total for label, p in mass.items()}
    best = max(distribution, key=lambda label: distribution[label])
    return LabelConfidence(best, distribution[best], distribution, "logprobs")


def from_votes(votes: Sequence[str | None], labels: Sequence[str]) -> LabelConfidence:
    """Confidence as agreement among k sampled labels (replies naming no label count against)."""
    counts = Counter(v for v in votes if v in labels)
    k = max(len(votes), 1)
    distribution = {label: counts.get(label, 0) / k for label in labels}
    if not counts:
        return LabelConfidence(None, 0.0, distribution, "self_consistency")
    best, n = counts.most_common(1)[0]
    return LabelConfidence(best, n / k, distribution, "self_consistency")
