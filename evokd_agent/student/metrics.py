"""Scores: accuracy / macro-F1 / per-class F1 / confusion matrix, and seqeval entity-level NER."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from evokd_agent.errors import EvokdError


@dataclass(frozen=True)
class ClassificationMetrics:
    """Classification scores on one set of samples."""

    accuracy: float
    """Share of samples whose predicted label is the gold label."""
    macro_f1: float
    """Unweighted mean F1 over the labels that occur in the gold or predicted labels."""
    per_class_f1: dict[str, float]
    """F1 of each label of the label set (0.0 for a label never predicted nor present)."""
    support: dict[str, int]
    """Number of gold samples of each label."""
    labels: list[str]
    """Row/column order of `confusion`."""
    confusion: list[list[int]]
    """confusion[i][j]: samples of gold label labels[i] predicted as labels[j]."""
    n: int
    """Number of samples scored."""

    @property
    def main_score(self) -> float:
        """The score early stopping maximises: macro-F1 (robust to unbalanced dev sets)."""
        return self.macro_f1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form, with the task name."""
        return {"task": "classification", **asdict(self)}

    def format(self) -> str:
        """A human-readable table."""
        width = max(8, *(len(label) for label in self.labels))
        lines = [
            f"samples   {self.n}",
            f"accuracy  {self.accuracy:.4f}",
            f"macro-F1  {self.macro_f1:.4f}",
            "",
            f"{'label':<{width}}  {'F1':>6}  {'support':>7}",
        ]
        lines += [
            f"{label:<{width}}  {self.per_class_f1[label]:>6.4f}  {self.support[label]:>7}"
            for label in self.labels
        ]
        lines += ["", "confusion (rows gold, columns predicted)"]
        cell = max(5, width, *(len(str(c)) for row in self.confusion for c in row))
        lines.append(" " * width + "".join(f"  {label:>{cell}}" for label in self.labels))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<{width}}" + "".join(f"  {c:>{cell}}" for c in row))
        return "\n".join(lines)


@dataclass(frozen=True)
class EntityScores:
    """Entity-level scores of one entity type."""

    precision: float
    """Correct predicted entities / predicted entities."""
    recall: float
    """Correct predicted entities / gold entities."""
    f1: float
    """Harmonic mean of precision and recall."""
    support: int
    """Number of gold entities of this type."""


@dataclass(frozen=True)
class NerMetrics:
    """Entity-level NER scores (seqeval, conlleval-style matching of whole entities)."""

    precision: float
    """Micro-averaged entity precision."""
    recall: float
    """Micro-averaged entity recall."""
    f1: float
    """Micro-averaged entity F1, the usual headline NER figure."""
    per_type: dict[str, EntityScores]
    """Scores per entity type."""
    n: int
    """Number of sentences scored."""

    @property
    def main_score(self) -> float:
        """The score early stopping maximises: entity F1."""
        return self.f1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form, with the task name."""
        return {"task": "ner", **asdict(self)}

    def format(self) -> str:
        """A human-readable table."""
        width = max(8, *(len(k) for k in self.per_type)) if self.per_type else 8
        lines = [
            f"sentences  {self.n}",
            f"precision  {self.precision:.4f}",
            f"recall     {self.recall:.4f}",
            f"F1         {self.f1:.4f}",
            "",
            f"{'type':<{width}}  {'P':>6}  {'R':>6}  {'F1':>6}  {'support':>7}",
        ]
        for kind, s in self.per_type.items():
            lines.append(
                f"{kind:<{width}}  {s.precision:>6.4f}  {s.recall:>6.4f}  {s.f1:>6.4f}"
                f"  {s.support:>7}"
            )
        return "\n".join(lines)


Metrics = ClassificationMetrics | NerMetrics


def classification_metrics(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> ClassificationMetrics:
    """Score predicted labels against gold labels; both must be names from `labels`."""
    _same_length(gold, predicted)
    order = list(labels)
    index = {label: i for i, label in enumerate(order)}
    for label in (*gold, *predicted):
        if label not in index:
            raise EvokdError(
                f"label {label!r} is not in the label set ({', '.join(order)})",
                "score with the label set the labels come from",
            )
    confusion = [[0] * len(order) for _ in order]
    for g, p in zip(gold, predicted, strict=True):
        confusion[index[g]][index[p]] += 1
    per_class: dict[str, float] = {}
    seen: list[float] = []
    for i, label in enumerate(order):
        tp = confusion[i][i]
        n_gold = sum(confusion[i])
        n_pred = sum(row[i] for row in confusion)
        f1 = 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 0.0
        per_class[label] = f1
        if n_gold + n_pred:
            seen.append(f1)
    n = len(gold)
    return ClassificationMetrics(
        accuracy=sum(confusion[i][i] for i in range(len(order))) / n if n else 0.0,
        macro_f1=sum(seen) / len(seen) if seen else 0.0,
        per_class_f1=per_class,
        support={label: sum(confusion[i]) for i, label in enumerate(order)},
        labels=order,
        confusion=confusion,
        n=n,
    )


def ner_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> NerMetrics:
    """Entity-level precision/recall/F1 of predicted BIO tag sequences, overall and per type."""
    from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

    _same_length(gold, predicted)
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise EvokdError(
                f"sentence {i}: {len(g)} gold tags but {len(p)} predicted",
                "predict one tag per word",
            )
    y_true = [list(s) for s in gold]
    y_pred = [list(s) for s in predicted]
    if not any(t != "O" for s in y_true + y_pred for t in s):
        return NerMetrics(precision=0.0, recall=0.0, f1=0.0, per_type={}, n=len(gold))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    tp, tr, tf, ts = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    # seqeval orders per-type arrays by sorted entity type.
    kinds = sorted({kind for s in y_true + y_pred for kind, _, _ in get_entities(s)})
    per_type = {
        kind: EntityScores(float(tp[i]), float(tr[i]), float(tf[i]), int(ts[i]))
        for i, kind in enumerate(kinds)
    }
    return NerMetrics(
        precision=float(p), recall=float(r), f1=float(f), per_type=per_type, n=len(gold)
    )


def _same_length(gold: Sequence[Any], predicted: Sequence[Any]) -> None:
    if len(gold) != len(predicted):
        raise EvokdError(
            f"{len(gold)} gold labels but {len(predicted)} predictions",
            "predict exactly one label per sample",
        )
