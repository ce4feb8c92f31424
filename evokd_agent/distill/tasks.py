"""Classification or NER: what the distillation steps do differently, in one place.

The steps ask a strategy instead of branching on the task: `task_of(spec)` for what depends on
the run's task (the teacher's answer format and how it is read, what a label is called in
prompts, which shortcuts apply), `strategy_for(sample)` for what depends on a sample (how the
teacher and the samples log show it).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from evokd_agent.distill.batch import NOT_JSON
from evokd_agent.distill.context import Sample, TaskSpec, sample_text
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.parsing import parse_entities, parse_label
from evokd_agent.student.data import NerSample, Task, TextSample
from evokd_agent.student.metrics import classification_metrics, ner_metrics
from evokd_agent.student.ner import bio_entities

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def split_words(text: str) -> tuple[str, ...]:
    """Words and punctuation, the way NER data sets usually tokenise."""
    return tuple(_WORD.findall(text))


def entities_of(sample: NerSample) -> list[tuple[str, str]]:
    """(surface, type) pairs of a BIO-tagged sentence."""
    return bio_entities(sample.tokens, sample.tags)


class TaskStrategy(ABC):
    """What a distillation step needs to know about the task."""

    task: ClassVar[Task]
    noun: ClassVar[str]
    """What a label is called in generation plans and their schemas."""
    answer_key: ClassVar[str]
    """The key of a labelling answer."""
    answer_tokens: ClassVar[int]
    """Completion tokens of a one-text labelling reply."""
    item_tokens: ClassVar[int]
    """Completion tokens one answer of a batched labelling reply may take."""
    hint_is_label: ClassVar[bool]
    """The label a generation prompt asked for may stand as the input's label (AugGPT, ZeroGen
    keep it); an NER hint names entities, not where they are."""
    scores_by_completion: ClassVar[bool]
    """Labels can be read from completion logprobs (distill.label_scoring)."""
    per_label_selection: ClassVar[bool]
    """LLKD keeps its confidence thresholds per label (classification) or one for every
    sentence (NER: a sentence confidence has no single label)."""

    @abstractmethod
    def answer_schema(self, labels: Sequence[str]) -> dict[str, Any]:
        """JSON schema properties of one labelling answer."""

    @abstractmethod
    def read_answer(
        self, hygiene: Hygiene, labels: Sequence[str], text: str, reply: str | None
    ) -> tuple[Sample | None, str]:
        """The labelled sample of a teacher's answer for `text`, or why it is refused."""

    @abstractmethod
    def answer(self, sample: Sample) -> str:
        """A sample's answer as the teacher reads it in prompts."""

    @abstractmethod
    def hint(self, sample: Sample) -> str:
        """What a rewrite of `sample` is told to keep (its label, or its entities)."""

    @abstractmethod
    def log_fields(self, sample: Sample) -> dict[str, Any]:
        """What the samples log keeps of a sample's answer."""

    @abstractmethod
    def pseudo_label(self, sample: Sample) -> str:
        """A pool sample's teacher label, as text (LLKD's records)."""

    @abstractmethod
    def gold(self, sample: Sample) -> Any:
        """A sample's gold answer as the student predicts it (label, or tag tuple)."""

    @abstractmethod
    def miss(self, sample: Sample, labels: Sequence[str]) -> Any:
        """A wrong prediction for `sample` (the cost estimate's stand-in student)."""

    @abstractmethod
    def score(self, gold: Sequence[Any], predicted: Sequence[Any], labels: Sequence[str]) -> Any:
        """Metrics of `predicted` against `gold` (ClassificationMetrics or NerMetrics)."""

    @abstractmethod
    def example_answer(self, label: str, word: str) -> dict[str, Any]:
        """A labelling answer naming `label` (NER: `word` as an entity of that type)."""


class Classification(TaskStrategy):
    task = "classification"
    noun = "label"
    answer_key = "label"
    answer_tokens = 24
    item_tokens = 24
    hint_is_label = True
    scores_by_completion = True
    per_label_selection = True

    def answer_schema(self, labels: Sequence[str]) -> dict[str, Any]:
        return {"label": {"type": "string", "enum": list(labels)}}

    def read_answer(
        self, hygiene: Hygiene, labels: Sequence[str], text: str, reply: str | None
    ) -> tuple[Sample | None, str]:
        label = parse_label(reply, labels)
        if label is None:
            return None, NOT_JSON
        reason = hygiene.check_label(label)
        if reason is not None:
            return None, reason
        return TextSample(text, label), ""

    def answer(self, sample: Sample) -> str:
        return _text(sample).label

    def hint(self, sample: Sample) -> str:
        return _text(sample).label

    def log_fields(self, sample: Sample) -> dict[str, Any]:
        return {"label": _text(sample).label}

    def pseudo_label(self, sample: Sample) -> str:
        return _text(sample).label

    def gold(self, sample: Sample) -> Any:
        return _text(sample).label

    def miss(self, sample: Sample, labels: Sequence[str]) -> Any:
        return labels[(list(labels).index(_text(sample).label) + 1) % len(labels)]

    def score(self, gold: Sequence[Any], predicted: Sequence[Any], labels: Sequence[str]) -> Any:
        return classification_metrics(gold, predicted, labels)

    def example_answer(self, label: str, word: str) -> dict[str, Any]:
        return {"label": label}


class Ner(TaskStrategy):
    task = "ner"
    noun = "type"
    answer_key = "entities"
    answer_tokens = 160  # one reply may list many entities
    item_tokens = 96
    hint_is_label = False
    scores_by_completion = False
    per_label_selection = False

    def answer_schema(self, labels: Sequence[str]) -> dict[str, Any]:
        entity = {
            "type": "object",
            "properties": {"text": {"type": "string"}, "type": {"enum": list(labels)}},
            "required": ["text", "type"],
        }
        return {"entities": {"type": "array", "items": entity}}

    def read_answer(
        self, hygiene: Hygiene, labels: Sequence[str], text: str, reply: str | None
    ) -> tuple[Sample | None, str]:
        entities = parse_entities(reply)
        if entities is None:
            return None, NOT_JSON
        aligned = hygiene.align(split_words(text), entities)
        if isinstance(aligned, str):
            return None, aligned
        tokens, tags = aligned
        return NerSample(tuple(tokens), tuple(tags)), ""

    def answer(self, sample: Sample) -> str:
        return ", ".join(f"{s} ({k})" for s, k in entities_of(_ner(sample))) or "no entities"

    def hint(self, sample: Sample) -> str:
        return ", ".join(surface for surface, _ in entities_of(_ner(sample))) or "none"

    def log_fields(self, sample: Sample) -> dict[str, Any]:
        ner = _ner(sample)
        return {"tokens": list(ner.tokens), "tags": list(ner.tags)}

    def pseudo_label(self, sample: Sample) -> str:
        return " ".join(_ner(sample).tags)

    def gold(self, sample: Sample) -> Any:
        return _ner(sample).tags

    def miss(self, sample: Sample, labels: Sequence[str]) -> Any:
        tags = _ner(sample).tags
        return ("B-" + labels[0], *tags[1:]) if set(tags) == {"O"} else ("O",) * len(tags)

    def score(self, gold: Sequence[Any], predicted: Sequence[Any], labels: Sequence[str]) -> Any:
        return ner_metrics(gold, predicted)

    def example_answer(self, label: str, word: str) -> dict[str, Any]:
        return {"entities": [{"text": word, "type": label}]}


CLASSIFICATION = Classification()
NER = Ner()
_BY_TASK: dict[Task, TaskStrategy] = {"classification": CLASSIFICATION, "ner": NER}


def task_of(spec: TaskSpec) -> TaskStrategy:
    """The strategy of the run's task."""
    return strategy_of(spec.task)


def strategy_of(task: Task) -> TaskStrategy:
    """The strategy of a task named in a config."""
    return _BY_TASK[task]


def strategy_for(sample: Sample) -> TaskStrategy:
    """The strategy of the task a sample belongs to."""
    return CLASSIFICATION if isinstance(sample, TextSample) else NER


def describe(sample: Sample) -> str:
    """A sample as the teacher reads it in prompts."""
    return f'"{sample_text(sample)}" -> {strategy_for(sample).answer(sample)}'


def _text(sample: Sample) -> TextSample:
    if not isinstance(sample, TextSample):
        raise TypeError(f"a classification step got an NER sample: {sample!r}")
    return sample


def _ner(sample: Sample) -> NerSample:
    if not isinstance(sample, NerSample):
        raise TypeError(f"an NER step got a classification sample: {sample!r}")
    return sample
