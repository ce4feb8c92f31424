"""The student: a small transformers encoder trained, scored and saved for classification or NER.

Heavy imports (torch, transformers) happen only when a student module that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evokd_agent.student.config import TrainConfig, TrainResult
from evokd_agent.student.data import (
    NerSample,
    Sample,
    Task,
    TextSample,
    infer_labels,
    infer_tags,
    load_ner_samples,
    load_samples,
    load_text_samples,
)
from evokd_agent.student.metrics import (
    ClassificationMetrics,
    EntityScores,
    NerMetrics,
    classification_metrics,
    ner_metrics,
)

if TYPE_CHECKING:
    from evokd_agent.student.student import (
        NerStudent,
        Prediction,
        Student,
        TextStudent,
        load_student,
    )

__all__ = [
    "ClassificationMetrics",
    "EntityScores",
    "NerMetrics",
    "NerSample",
    "NerStudent",
    "Prediction",
    "Sample",
    "Student",
    "Task",
    "TextSample",
    "TextStudent",
    "TrainConfig",
    "TrainResult",
    "classification_metrics",
    "infer_labels",
    "infer_tags",
    "load_ner_samples",
    "load_samples",
    "load_student",
    "load_text_samples",
    "ner_metrics",
]

_LAZY = {"NerStudent", "Prediction", "Student", "TextStudent", "load_student"}


def __getattr__(name: str) -> Any:
    # torch + transformers take seconds to import: only pay when a student class is used.
    if name in _LAZY:
        from evokd_agent.student import student

        return getattr(student, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
