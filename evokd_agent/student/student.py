"""The student: a transformers encoder with a classification or token-classification head.

`TextStudent` classifies sentences, `NerStudent` tags words with BIO tags; both share training,
saving/loading, uncertainty (entropy) and the wrong/correct split that error sampling needs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import torch
from numpy.typing import NDArray

from evokd_agent.errors import EvokdError
from evokd_agent.student.checkpoint import StudentMeta, read_meta, save_checkpoint
from evokd_agent.student.classifier import SentenceClassifier
from evokd_agent.student.config import Device, TrainConfig, TrainResult
from evokd_agent.student.data import NerSample, Task, TextSample
from evokd_agent.student.fewshot import train_sentence_classifier
from evokd_agent.student.metrics import (
    ClassificationMetrics,
    NerMetrics,
    classification_metrics,
    ner_metrics,
)
from evokd_agent.student.model import load_model, load_tokenizer, resolve_model
from evokd_agent.student.ner import (
    align_labels,
    bio_problem,
    first_subword_positions,
    normalize_tag_set,
    repair_bio,
)
from evokd_agent.student.train import (
    Collator,
    Features,
    StepWeights,
    run_training,
    seed_everything,
)

SampleT = TypeVar("SampleT", TextSample, NerSample)
InputT = TypeVar("InputT")
PredT = TypeVar("PredT")
StudentT = TypeVar("StudentT", bound="Student[Any, Any, Any]")
Probs = NDArray[np.float32]


@dataclass(frozen=True)
class Prediction(Generic[SampleT, PredT]):
    """A sample with the student's prediction for it."""

    sample: SampleT
    """The labelled sample."""
    predicted: PredT
    """Predicted label (classification) or tag tuple (NER)."""
    confidence: float
    """Probability of the prediction: of the label, or of the least sure word for NER."""
    correct: bool
    """Whether the prediction equals the gold label / every gold tag."""


# Inputs per forward pass when predicting: on a CPU, 16 length-sorted inputs waste less on
# padding than 64 and still fill the matrix units (MiniLM, SST-2 dev calls of 32 sentences:
# 103 against 69 sentences/s with torch, 110 against 89 on ONNX Runtime, 2 cores; one call
# of 256: 129 against 110, 138 against 135); an accelerator wants large batches.
CPU_PREDICTION_BATCH = 16
ACCELERATOR_PREDICTION_BATCH = 64


def _prediction_batch(model: Any) -> int:
    parameter = next(iter(model.parameters()), None)
    on_cpu = parameter is None or parameter.device.type == "cpu"
    return CPU_PREDICTION_BATCH if on_cpu else ACCELERATOR_PREDICTION_BATCH


class Student(ABC, Generic[SampleT, InputT, PredT]):
    """Shared machinery; use `TextStudent` / `NerStudent`, or `Student.load` for either."""

    task: ClassVar[Task]

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        labels: Sequence[str],
        *,
        max_length: int = 128,
        base_model: str = "",
        eval_batch_size: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.label2id = {label: i for i, label in enumerate(self.labels)}
        self.max_length = max_length
        self.base_model = base_model
        self.eval_batch_size = eval_batch_size or _prediction_batch(model)
        self._base_encoder: dict[str, torch.Tensor] | None = None
        self.model.eval()

    @classmethod
    def create(
        cls: type[StudentT],
        labels: Sequence[str],
        model: str | Path | None = None,
        *,
        task: Task | None = None,
        max_length: int = 128,
        seed: int = 42,
        device: Device = "auto",
    ) -> StudentT:
        """A new student with a fresh head for `labels` on `model` (default: packaged MiniLM).

        `task` is needed only on the base class; the head's random init follows `seed`.
        """
        target = _student_class(task or getattr(cls, "task", None), cls)
        if target is NerStudent:
            labels = normalize_tag_set(labels)
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise EvokdError(
                f"a student needs at least two distinct labels, got {list(labels)}",
                "pass the full label set",
            )
        path = resolve_model(model)
        seed_everything(seed)
        tokenizer = load_tokenizer(path, task=target.task)
        net = load_model(path, task=target.task, labels=labels).to(_device(device))
        name = str(model) if model is not None else "all-MiniLM-L6-v2"
        return cast(
            StudentT, target(net, tokenizer, labels, max_length=max_length, base_model=name)
        )

    @classmethod
    def load(cls: type[StudentT], path: str | Path, *, device: Device = "auto") -> StudentT:
        """Load a checkpoint written by `save` (or any HF classifier/tagger directory)."""
        meta = read_meta(path)
        target = _student_class(meta.task, cls)
        tokenizer = load_tokenizer(str(path), task=meta.task)
        net = load_model(str(path), task=meta.task).to(_device(device))
        return cast(
            StudentT,
            target(
                net, tokenizer, meta.labels, max_length=meta.max_length, base_model=meta.base_model
            ),
        )

    def save(self, path: str | Path) -> Path:
        """Write a plain HF checkpoint (model, tokenizer, id2label) and evokd_student.json."""
        meta = StudentMeta(
            task=self.task,
            labels=self.labels,
            max_length=self.max_length,
            base_model=self.base_model,
        )
        return save_checkpoint(self.model, self.tokenizer, path, meta)

    def train(
        self,
        samples: Sequence[SampleT],
        weights: Sequence[float] | None = None,
        dev: Sequence[SampleT] | None = None,
        config: TrainConfig | None = None,
        step_weights: StepWeights | None = None,
    ) -> TrainResult:
        """Train on `samples`: NER fine-tunes from the current weights; classification picks a
        small-data regime (see student.fewshot) and, with `config.restart`, starts from the base
        encoder.

        `weights` multiply each sample's loss (0 ignores a sample); `dev` enables early stopping
        on its main score (macro-F1 or entity F1); `step_weights` re-weights every batch from
        the student's logits at that step (LLKD's selection; see train.StepWeights).
        """
        config = config or TrainConfig()
        if not samples:
            raise EvokdError("no training samples", "pass at least one labelled sample")
        if weights is None:
            weights = [1.0] * len(samples)
        if len(weights) != len(samples):
            raise EvokdError(
                f"{len(weights)} weights for {len(samples)} samples", "pass one weight per sample"
            )
        if any(not math.isfinite(w) or w < 0 for w in weights):
            raise EvokdError("sample weights must be finite and >= 0", "fix the weights")
        features = self._encode(samples)
        for i, (f, w) in enumerate(zip(features, weights, strict=True)):
            f["weight"] = float(w)
            f["index"] = i
        dev_samples = list(dev or [])
        if dev_samples:
            self._encode(dev_samples)  # fail on a bad dev label now, not after an epoch
        return self._fit(features, dev_samples, config, step_weights)

    def _fit(
        self,
        features: list[Features],
        dev: list[SampleT],
        config: TrainConfig,
        step_weights: StepWeights | None,
    ) -> TrainResult:
        """Train on encoded samples: end-to-end fine-tuning (TextStudent adds small-data
        regimes)."""
        self.model, result = run_training(
            self.model,
            features,
            config,
            Collator(self.tokenizer.pad_token_id or 0),
            self._dev_scorer(dev),
            step_weights,
        )
        return result

    def _dev_scorer(self, dev: list[SampleT]) -> Callable[[Any], float] | None:
        """What training calls to score a model on `dev` (None without a dev set)."""
        if not dev:
            return None

        def score(model: Any) -> float:
            self.model = model
            return self.evaluate(dev).main_score

        return score

    def predict(self, inputs: Sequence[InputT]) -> list[PredT]:
        """The predicted label (or tag tuple) of each input."""
        return [self._decode(p, x)[0] for p, x in zip(self._probs(inputs), inputs, strict=True)]

    def entropy(self, inputs: Sequence[InputT]) -> list[float]:
        """Predictive entropy (nats) of each input; for NER the mean over its words."""
        out = []
        for probs in self._probs(inputs):
            if probs.size == 0:
                out.append(0.0)
                continue
            p = probs.astype(np.float64)
            ent = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=-1)
            out.append(float(np.mean(ent)))
        return out

    def split_errors(
        self, samples: Sequence[SampleT]
    ) -> tuple[list[Prediction[SampleT, PredT]], list[Prediction[SampleT, PredT]]]:
        """(wrong, correct) predictions of `samples`, each with predicted label and confidence."""
        wrong: list[Prediction[SampleT, PredT]] = []
        right: list[Prediction[SampleT, PredT]] = []
        inputs = [self._input_of(s) for s in samples]
        for sample, x, probs in zip(samples, inputs, self._probs(inputs), strict=True):
            predicted, confidence = self._decode(probs, x)
            ok = predicted == self._gold_of(sample)
            (right if ok else wrong).append(Prediction(sample, predicted, confidence, ok))
        return wrong, right

    @abstractmethod
    def evaluate(self, samples: Sequence[SampleT]) -> ClassificationMetrics | NerMetrics:
        """Score the student on labelled samples."""

    def inputs(self, samples: Sequence[SampleT]) -> list[InputT]:
        """What `predict_proba` takes for these samples (texts, or word lists for NER)."""
        return [self._input_of(s) for s in samples]

    @abstractmethod
    def _encode(self, samples: Sequence[SampleT]) -> list[Features]:
        """Tokenize labelled samples into training features (labels as ids)."""

    @abstractmethod
    def _probs(self, inputs: Sequence[InputT]) -> list[Probs]:
        """Class probabilities per input: shape (labels,) or (words, labels)."""

    @abstractmethod
    def _decode(self, probs: Probs, x: InputT) -> tuple[PredT, float]:
        """Prediction and confidence from one input's probabilities."""

    @abstractmethod
    def _input_of(self, sample: SampleT) -> InputT:
        """The model input of a sample."""

    @abstractmethod
    def _gold_of(self, sample: SampleT) -> PredT:
        """The gold label of a sample, comparable with a prediction."""

    def _forward(self, features: list[Features]) -> list[torch.Tensor]:
        """Softmax outputs per feature, batched by similar length to waste little padding."""
        collate = Collator(self.tokenizer.pad_token_id or 0)
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        out: list[torch.Tensor | None] = [None] * len(features)
        device = next(self.model.parameters()).device
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), self.eval_batch_size):
                chunk = order[start : start + self.eval_batch_size]
                batch = collate([features[i] for i in chunk])
                logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
                probs = logits.float().softmax(dim=-1).cpu()
                for row, i in enumerate(chunk):
                    out[i] = probs[row]
        return [p for p in out if p is not None]

    def _check_label(self, label: str, what: str) -> int:
        if label not in self.label2id:
            raise EvokdError(
                f"{what} {label!r} is not one of the student's labels ({', '.join(self.labels)})",
                "relabel the sample, or create the student with that label",
            )
        return self.label2id[label]


class TextStudent(Student[TextSample, str, str]):
    """Sentence classifier: inputs are texts, predictions label names."""

    task: ClassVar[Task] = "classification"

    def _fit(
        self,
        features: list[Features],
        dev: list[TextSample],
        config: TrainConfig,
        step_weights: StepWeights | None,
    ) -> TrainResult:
        if not isinstance(self.model, SentenceClassifier):  # a foreign HF classifier: fine-tune
            return super()._fit(features, dev, config, step_weights)
        if config.restart:
            if self._base_encoder is None:
                self._base_encoder = {
                    k: v.detach().clone() for k, v in self.model.encoder.state_dict().items()
                }
            else:
                self.model.encoder.load_state_dict(self._base_encoder)
        anchors = self._tokenize(self.labels) if config.label_anchors else []
        for i, anchor in enumerate(anchors):
            anchor["labels"] = i
        self.model, result = train_sentence_classifier(
            self.model,
            features,
            anchors,
            config,
            Collator(self.tokenizer.pad_token_id or 0),
            self._dev_scorer(dev),
            step_weights,
        )
        return result

    def predict_proba(self, texts: Sequence[str]) -> Probs:
        """Probabilities, shape (len(texts), len(labels)), columns in `self.labels` order."""
        probs = self._probs(texts)
        return np.stack(probs) if probs else np.zeros((0, len(self.labels)), dtype=np.float32)

    def evaluate(self, samples: Sequence[TextSample]) -> ClassificationMetrics:
        """Accuracy, macro-F1, per-class F1 and confusion matrix on `samples`."""
        gold = [s.label for s in samples]
        for label in gold:
            self._check_label(label, "gold label")
        return classification_metrics(gold, self.predict([s.text for s in samples]), self.labels)

    def _encode(self, samples: Sequence[TextSample]) -> list[Features]:
        ids = [self._check_label(s.label, "label") for s in samples]
        features = self._tokenize([s.text for s in samples])
        for f, label in zip(features, ids, strict=True):
            f["labels"] = label
        return features

    def _tokenize(self, texts: Sequence[str]) -> list[Features]:
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        return [{k: enc[k][i] for k in keys} for i in range(len(texts))]

    def _probs(self, inputs: Sequence[str]) -> list[Probs]:
        if isinstance(inputs, str):
            raise EvokdError("predict() got one string", "pass a list of texts")
        if not inputs:
            return []
        return [p.numpy() for p in self._forward(self._tokenize(inputs))]

    def _decode(self, probs: Probs, x: str) -> tuple[str, float]:
        best = int(np.argmax(probs))
        return self.labels[best], float(probs[best])

    def _input_of(self, sample: TextSample) -> str:
        return sample.text

    def _gold_of(self, sample: TextSample) -> str:
        return sample.label


class NerStudent(Student[NerSample, Sequence[str], tuple[str, ...]]):
    """Word tagger: inputs are lists of words, predictions BIO tag tuples (one per word).

    Words are labelled through their first subword; words past `max_length` subwords (or with no
    subwords) are predicted "O" with a uniform distribution, i.e. maximal uncertainty.
    """

    task: ClassVar[Task] = "ner"

    def predict_proba(self, sentences: Sequence[Sequence[str]]) -> list[Probs]:
        """Per sentence, probabilities of shape (words, labels), columns in `self.labels` order."""
        return self._probs(sentences)

    def evaluate(self, samples: Sequence[NerSample]) -> NerMetrics:
        """seqeval entity-level precision/recall/F1, overall and per entity type."""
        for s in samples:
            for tag in s.tags:
                self._check_label(tag, "gold tag")
        predicted = self.predict([s.tokens for s in samples])
        return ner_metrics([s.tags for s in samples], predicted)

    def _encode(self, samples: Sequence[NerSample]) -> list[Features]:
        for i, s in enumerate(samples):
            if len(s.tokens) != len(s.tags):
                raise EvokdError(
                    f"sample {i}: {len(s.tokens)} tokens but {len(s.tags)} tags",
                    "give one BIO tag per token",
                )
            problem = bio_problem(s.tags)
            if problem is not None:
                raise EvokdError(f"sample {i}: invalid BIO tags: {problem}", "fix the tags")
        features, word_ids = self._tokenize([s.tokens for s in samples])
        for f, ids, s in zip(features, word_ids, samples, strict=True):
            tag_ids = [self._check_label(t, "tag") for t in s.tags]
            f["labels"] = align_labels(ids, tag_ids)
        return features

    def _tokenize(
        self, sentences: Sequence[Sequence[str]]
    ) -> tuple[list[Features], list[list[int | None]]]:
        enc = self.tokenizer(
            [list(s) for s in sentences],
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
        )
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        features = [{k: enc[k][i] for k in keys} for i in range(len(sentences))]
        return features, [enc.word_ids(i) for i in range(len(sentences))]

    def _probs(self, inputs: Sequence[Sequence[str]]) -> list[Probs]:
        if not inputs:
            return []
        if any(isinstance(s, str) for s in inputs):
            raise EvokdError("NER input must be sentences split into words", "pass lists of words")
        features, word_ids = self._tokenize(inputs)
        uniform = np.full(len(self.labels), 1.0 / len(self.labels), dtype=np.float32)
        out: list[Probs] = []
        for sentence, ids, probs in zip(inputs, word_ids, self._forward(features), strict=True):
            positions = first_subword_positions(ids, len(sentence))
            token_probs = probs.numpy()
            rows = [uniform if p is None else token_probs[p] for p in positions]
            out.append(np.stack(rows) if rows else np.zeros((0, len(self.labels)), np.float32))
        return out

    def _decode(self, probs: Probs, x: Sequence[str]) -> tuple[tuple[str, ...], float]:
        if probs.shape[0] == 0:
            return (), 1.0
        # Rows of unseen words are uniform: predict "O" for them rather than an arbitrary argmax.
        uniform = np.ptp(probs, axis=1) == 0
        best = np.where(uniform, self.label2id["O"], probs.argmax(axis=1))
        tags = repair_bio([self.labels[int(i)] for i in best])
        return tags, float(probs[np.arange(len(best)), best].min())

    def _input_of(self, sample: NerSample) -> Sequence[str]:
        return sample.tokens

    def _gold_of(self, sample: NerSample) -> tuple[str, ...]:
        return tuple(sample.tags)


def load_student(path: str | Path, *, device: Device = "auto") -> TextStudent | NerStudent:
    """Load a checkpoint as whichever student its task calls for."""
    if read_meta(path).task == "ner":
        return NerStudent.load(path, device=device)
    return TextStudent.load(path, device=device)


_CLASSES: dict[str, type[Student[Any, Any, Any]]] = {
    "classification": TextStudent,
    "ner": NerStudent,
}


def _student_class(task: str | None, cls: type[Student[Any, Any, Any]]) -> type[Any]:
    if task is None:
        raise EvokdError("no task given for the student", "pass task='classification' or 'ner'")
    if task not in _CLASSES:
        raise EvokdError(f"unknown student task {task!r}", "use 'classification' or 'ner'")
    target = _CLASSES[task]
    if not issubclass(target, cls):
        raise EvokdError(
            f"the checkpoint or task is {task}, but a {cls.__name__} was asked for",
            f"use {target.__name__} (or Student.load, which picks the right class)",
        )
    return target


def _device(device: Device) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EvokdError("device 'cuda' asked for, but torch sees no GPU", "use device='auto'")
    return device
