"""Training settings and what a training run reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from evokd_agent.errors import EvokdError

Device = Literal["auto", "cpu", "cuda"]
RegimeSetting = Literal["auto", "head", "contrastive", "finetune"]
MixedPrecision = Literal["no", "fp16", "bf16"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train a student; the defaults suit both a 1-shot seed set and thousands of samples."""

    regime: RegimeSetting = "auto"
    """Classification only: "auto" picks by data size (student.fewshot.choose_regime): "head"
    (a class has < 2 samples), "contrastive" (each class >= 2, fewer than `finetune_from`
    samples), "finetune" (ordinary fine-tuning); or force one of them."""
    finetune_from: int = 256
    """Classification, "auto": from this many training samples on, fine-tune end to end."""
    restart: bool = True
    """Classification: each training call starts from the base encoder's weights, so the student
    is a function of its training set (rounds retrain on all data); False continues."""
    label_anchors: bool = True
    """Classification, head/contrastive regimes: each label's name joins the training set as a
    sample of that label (a zero-shot prior; most useful with one or two samples per class)."""
    contrastive_steps: int = 20
    """Optimizer steps of the contrastive body stage."""
    contrastive_batch: int = 32
    """Sentences per contrastive step (every pair among them is scored)."""
    contrastive_learning_rate: float = 1e-4
    """Peak AdamW learning rate of the contrastive body stage."""
    head_steps: int = 300
    """Full-batch Adam steps of the head fit on fixed embeddings."""
    head_learning_rate: float = 0.05
    """Adam learning rate of the head fit."""
    head_l2: float = 1e-2
    """L2 penalty on the head's weights in the head fit (keeps probabilities calibrated)."""
    epochs: int | None = None
    """Passes over the data; None picks by size (10 under 200 samples, 5 under 2,000, else 3)."""
    min_steps: int = 50
    """Least number of optimizer steps: tiny data gets more epochs so that it is actually learnt."""
    max_epochs: int = 200
    """Cap on the epochs that `min_steps` may add."""
    learning_rate: float | None = None
    """Peak AdamW learning rate of end-to-end training (warmup, then linear decay to zero).
    None: 3e-4 under `finetune_from` samples (a few dozen steps must move a fresh head far; NER
    with 5 sentences per type: entity F1 0.31 against 0.0 at 5e-5), else 5e-5 for
    classification and 1e-4 for NER."""
    batch_size: int = 16
    """Samples per optimizer step (per process under `accelerate launch`)."""
    eval_batch_size: int = 64
    """Samples per forward pass when scoring dev sets and predicting."""
    weight_decay: float = 0.01
    """AdamW weight decay, not applied to biases and LayerNorm weights."""
    warmup_ratio: float = 0.1
    """Share of the total steps spent warming the learning rate up from zero."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm; 0 disables clipping."""
    patience: int = 3
    """Stop after this many dev evaluations without improvement (only with a dev set)."""
    max_evals: int = 10
    """About the most dev evaluations per run: long few-shot runs evaluate every k epochs."""
    restore_best: bool = True
    """Reload the weights of the best dev evaluation at the end (only with a dev set)."""
    seed: int = 42
    """Seed for torch/numpy/random and the shuffling generator: same seed, same model on CPU."""
    device: Device = "auto"
    """"auto" uses a GPU when torch sees one; "cpu" forces the CPU."""
    mixed_precision: MixedPrecision = "no"
    """Passed to accelerate: "fp16"/"bf16" speed training up on GPUs."""
    progress: bool = True
    """Show a progress bar (only when stderr is a terminal, and only on the main process)."""

    def __post_init__(self) -> None:
        checks = [
            (self.epochs is None or self.epochs >= 1, "epochs must be >= 1 (or None for auto)"),
            (self.min_steps >= 0, "min_steps must be >= 0"),
            (
                self.regime in ("auto", "head", "contrastive", "finetune"),
                "regime must be auto, head, contrastive or finetune",
            ),
            (self.finetune_from >= 1, "finetune_from must be >= 1"),
            (
                self.contrastive_steps >= 0 and self.head_steps >= 1,
                "contrastive_steps must be >= 0 and head_steps >= 1",
            ),
            (self.contrastive_batch >= 2, "contrastive_batch must be >= 2"),
            (
                self.contrastive_learning_rate > 0 and self.head_learning_rate > 0,
                "learning rates must be > 0",
            ),
            (self.head_l2 >= 0, "head_l2 must be >= 0"),
            (self.max_epochs >= 1, "max_epochs must be >= 1"),
            (
                self.learning_rate is None or self.learning_rate > 0,
                "learning_rate must be > 0 (or None for auto)",
            ),
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.max_grad_norm >= 0, "max_grad_norm must be >= 0"),
            (self.patience >= 1 and self.max_evals >= 1, "patience and max_evals must be >= 1"),
            (self.device in ("auto", "cpu", "cuda"), "device must be auto, cpu or cuda"),
            (self.mixed_precision in ("no", "fp16", "bf16"), "mixed_precision: no, fp16, bf16"),
        ]
        for ok, message in checks:
            if not ok:
                raise EvokdError(f"invalid training config: {message}", "fix that setting")

    def peak_learning_rate(self, n_samples: int, task: str) -> float:
        """The learning rate end-to-end training uses for `n_samples` (see `learning_rate`)."""
        if self.learning_rate is not None:
            return self.learning_rate
        if n_samples < self.finetune_from:
            return 3e-4
        return 1e-4 if task == "ner" else 5e-5

    def plan(self, n_samples: int) -> tuple[int, int, int]:
        """(batch size, steps per epoch, epochs) for `n_samples` on one process."""
        batch = min(self.batch_size, n_samples)
        steps_per_epoch = math.ceil(n_samples / batch)
        if self.epochs is not None:
            epochs = self.epochs
        elif n_samples < 200:
            epochs = 10
        elif n_samples < 2000:
            epochs = 5
        else:
            epochs = 3
        wanted = math.ceil(self.min_steps / steps_per_epoch)
        epochs = max(epochs, min(wanted, self.max_epochs))
        return batch, steps_per_epoch, epochs


@dataclass(frozen=True)
class TrainResult:
    """What happened during one `Student.train` call."""

    epochs: int
    """Epochs actually run (fewer than planned when early stopping fired)."""
    steps: int
    """Optimizer steps actually run."""
    train_loss: list[float]
    """Mean weighted training loss of each epoch."""
    dev_scores: list[float] = field(default_factory=list)
    """Dev main score (macro-F1 or entity F1) at each evaluation."""
    best_dev_score: float | None = None
    """Best dev score, whose weights were kept when `restore_best`; None without a dev set."""
    best_epoch: int | None = None
    """Epoch (1-based) of the best dev score."""
    stopped_early: bool = False
    """Whether patience ran out before the planned epochs."""
    train_seconds: float = 0.0
    """Wall time of the optimizer steps alone (no dev evaluation)."""
    wall_seconds: float = 0.0
    """Wall time of the whole call."""
    samples_per_second: float = 0.0
    """Training throughput: samples processed by optimizer steps / `train_seconds`."""
    regime: str = "finetune"
    """How the student was trained: "head", "contrastive" or "finetune" (student.fewshot)."""
