"""Why a teacher sample was rejected: machine-readable reasons, and a counter of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

EMPTY_TEXT = "empty_text"
TOO_LONG = "too_long"
LABEL_NOT_IN_SET = "label_not_in_set"
ENTITY_NOT_IN_SENTENCE = "entity_not_in_sentence"
ENTITY_TYPE_NOT_IN_SET = "entity_type_not_in_set"
OVERLAPPING_ENTITIES = "overlapping_entities"
DUPLICATE_OF_EVAL = "duplicate_of_eval"
NEAR_DUPLICATE_OF_EVAL = "near_duplicate_of_eval"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
REPLY_NOT_JSON = "reply_not_json"
TEACHER_ERROR = "teacher_error"
BUDGET = "budget"

REASONS: Mapping[str, str] = {
    EMPTY_TEXT: "the text (or sentence) is empty",
    TOO_LONG: "the teacher wrote a text longer than generation.max_input_tokens",
    LABEL_NOT_IN_SET: "the teacher's label is not one of the task's labels",
    ENTITY_NOT_IN_SENTENCE: "an entity does not occur, as whole words, in its sentence",
    ENTITY_TYPE_NOT_IN_SET: "an entity's type is not one of the task's entity types",
    OVERLAPPING_ENTITIES: "two entities cover the same words",
    DUPLICATE_OF_EVAL: "the text equals a dev or test text (leak guard)",
    NEAR_DUPLICATE_OF_EVAL: "the text nearly equals a dev or test text (leak guard)",
    DUPLICATE: "the text equals one already in the training data",
    NEAR_DUPLICATE: "the text nearly equals one already in the training data",
    REPLY_NOT_JSON: "the teacher's reply could not be parsed",
    TEACHER_ERROR: "the teacher request failed after its retries",
    BUDGET: "the token budget ran out before the sample was labelled",
}
"""Every reason the framework's filters give, with a sentence for reports."""


@dataclass(frozen=True)
class Rejection:
    """A sample the filters refused: a reason from `REASONS` (or a method's own) and a detail."""

    reason: str
    """Machine-readable reason, e.g. "entity_not_in_sentence"."""
    detail: str = ""
    """What exactly was wrong, for people."""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class RejectionCounter:
    """Rejections counted by reason."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._counts: Counter[str] = Counter(counts or {})

    def add(self, rejection: Rejection | str, n: int = 1) -> None:
        """Count `n` rejections for a reason."""
        reason = rejection.reason if isinstance(rejection, Rejection) else rejection
        self._counts[reason] += n

    def update(self, rejections: Iterable[Rejection | str]) -> None:
        """Count each rejection of `rejections`."""
        for rejection in rejections:
            self.add(rejection)

    def __getitem__(self, reason: str) -> int:
        return self._counts[reason]

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def total(self) -> int:
        """Rejections counted, over all reasons."""
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        """Counts by reason, most frequent first."""
        return dict(self._counts.most_common())

    def __repr__(self) -> str:
        return f"RejectionCounter({self.as_dict()})"
