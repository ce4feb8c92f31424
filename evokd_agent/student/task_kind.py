"""What stays fixed for each task wherever a student or a run's results are shown, stored or
loaded: the Hugging Face names, what labels are called, a sample's own fields, the scores a
card or a bench table leads with.

The distillation steps' own differences (answer formats, prompts, scoring) are in
`distill.tasks`; this table sits low enough for the student, the report and the bench to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evokd_agent.student.data import NerSample, Sample, Task, TextSample


@dataclass(frozen=True)
class TaskKind:
    """One task's fixed names and fields."""

    pipeline_tag: str
    """Hugging Face pipeline and dataset task category."""
    head: str
    """The transformers head: `AutoModelFor<head>`."""
    label_noun: str
    """What the run's labels are called in cards."""
    fields: tuple[str, ...]
    """A sample's own columns in exported rows."""
    headline: tuple[tuple[str, str], ...]
    """(metrics key, name) of the scores a model card leads with."""
    per_label: tuple[str, str | None]
    """Where per-label scores sit in the metrics: (key, inner key; None: a plain number)."""
    hub_metrics: tuple[tuple[str, str, str], ...]
    """(Hub metric type, name, metrics key) of a model card's model-index."""
    bench_scores: tuple[tuple[str, str], ...]
    """(column, metrics key) of the test scores a bench table reports."""


TASK_KINDS: dict[Task, TaskKind] = {
    "classification": TaskKind(
        pipeline_tag="text-classification",
        head="SequenceClassification",
        label_noun="labels",
        fields=("text", "label"),
        headline=(("accuracy", "accuracy"), ("macro_f1", "macro-F1")),
        per_label=("per_class_f1", None),
        hub_metrics=(("accuracy", "accuracy", "accuracy"), ("f1", "macro-F1", "macro_f1")),
        bench_scores=(("accuracy", "accuracy"), ("macro_f1", "macro_f1")),
    ),
    "ner": TaskKind(
        pipeline_tag="token-classification",
        head="TokenClassification",
        label_noun="entity types",
        fields=("text", "tokens", "tags"),
        headline=(("f1", "entity F1 (micro)"), ("precision", "precision"), ("recall", "recall")),
        per_label=("per_type", "f1"),
        hub_metrics=(("f1", "entity F1 (micro, seqeval)", "f1"),),
        bench_scores=(("entity_f1", "f1"),),
    ),
}


def task_kind(task: str) -> TaskKind:
    """The kind of `task` ("classification" or "ner"); anything else reads as classification,
    the way run records written before a task was recorded do."""
    return TASK_KINDS["ner" if task == "ner" else "classification"]


def sample_columns(sample: Sample) -> dict[str, Any]:
    """A sample's own columns (`TaskKind.fields`), as an export row has them."""
    if isinstance(sample, NerSample):
        return {
            "text": " ".join(sample.tokens),
            "tokens": list(sample.tokens),
            "tags": list(sample.tags),
        }
    assert isinstance(sample, TextSample)
    return {"text": sample.text, "label": sample.label}
