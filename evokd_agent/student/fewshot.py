"""Small-data training for the sentence classifier: a head fit, a contrastive body stage, the rule.

Regimes (`TrainConfig.regime`, "auto" picks by `choose_regime`):
- ``head``: some class has fewer than 2 samples. The encoder stays as it is; the linear head is
  fitted on the pooled embeddings (weighted, L2-regularised logistic regression by full-batch
  Adam from zero: convex, so the fit does not depend on the seed).
- ``contrastive``: every class has >= 2 samples and there are fewer than `finetune_from`.
  SetFit's idea (Tunstall et al. 2022): train the body so same-class sentences have cosine
  similarity 1 and others 0, then fit the head as above. Unlike SetFit's sampled pairs, each
  step scores *every* pair in its batch (positive and negative pairs balanced), so one forward
  pass of B sentences gives B(B-1)/2 pairs: the stage costs a few dozen steps on a CPU.
- ``finetune``: from `finetune_from` samples on, ordinary end-to-end cross-entropy (train.py),
  starting from a head fitted on the embeddings rather than a random one.

Sample weights act in every regime: the head's loss is weighted per sample; a pair's contrastive
loss by the product of its two weights. LLKD's per-step hook (`StepWeights`) is called at every
step of every stage with the student's logits for that step's samples (in the contrastive
stage: the current head on the batch's current embeddings), so selection follows training.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from evokd_agent.student.classifier import SentenceClassifier, encoder_inputs
from evokd_agent.student.config import TrainConfig, TrainResult
from evokd_agent.student.train import (
    MODEL_KEYS,
    Collator,
    Features,
    StepWeights,
    adamw,
    linear_schedule,
    run_training,
    seed_everything,
)

Regime = Literal["head", "contrastive", "finetune"]
log = logging.getLogger(__name__)


def choose_regime(labels: Sequence[int], n_labels: int, config: TrainConfig) -> Regime:
    """The regime for a training set with these label ids out of `n_labels` (module docstring)."""
    if config.regime != "auto":
        return config.regime
    if len(labels) >= config.finetune_from:
        return "finetune"
    counts = Counter(labels)
    return "contrastive" if min(counts[c] for c in range(n_labels)) >= 2 else "head"


def embed_features(
    model: SentenceClassifier, features: Sequence[Features], collator: Collator, batch: int
) -> Tensor:
    """Pooled embeddings of encoded samples, in order, without gradients."""
    device = next(model.parameters()).device
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    out = torch.empty(len(features), model.head.in_features)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            encoded = collator([_inputs_only(features[i]) for i in chunk])
            emb = model.embed(**{k: v.to(device) for k, v in encoder_inputs(encoded).items()})
            out[torch.tensor(chunk)] = emb.float().cpu()
    return out


def fit_head(
    model: SentenceClassifier,
    embeddings: Tensor,
    labels: Tensor,
    weights: Tensor,
    config: TrainConfig,
    step_weights: StepWeights | None = None,
) -> list[float]:
    """Fit the linear head on fixed embeddings from zero; returns the loss per step.

    Loss: weighted mean cross-entropy + `head_l2` * ||W||^2 (the L2 term keeps probabilities
    from saturating on a handful of separable points, so `predict_proba` stays meaningful).
    """
    n_labels = model.head.out_features
    w = torch.zeros(n_labels, embeddings.shape[1], requires_grad=True)
    b = torch.zeros(n_labels, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=config.head_learning_rate)
    index = torch.arange(len(labels))
    losses: list[float] = []
    for _ in range(config.head_steps):
        logits = embeddings @ w.T + b
        step = weights
        if step_weights is not None:
            step = step_weights(logits.detach(), labels, weights, index).to(weights)
        ce = F.cross_entropy(logits, labels, reduction="none")
        loss = (ce * step).sum() / step.sum().clamp(min=1e-9) + config.head_l2 * (w**2).sum()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
    device = model.head.weight.device
    with torch.no_grad():
        model.head.weight.copy_(w.detach().to(device))
        model.head.bias.copy_(b.detach().to(device))
    return losses


def contrastive_stage(
    model: SentenceClassifier,
    features: Sequence[Features],
    labels: Tensor,
    weights: Tensor,
    config: TrainConfig,
    collator: Collator,
    step_weights: StepWeights | None = None,
) -> list[float]:
    """Train the encoder on all in-batch pairs (see module docstring); the loss per step."""
    n = len(features)
    batch_size = min(config.contrastive_batch, n)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = adamw(model.encoder, config, lr=config.contrastive_learning_rate)
    steps = config.contrastive_steps
    scheduler = linear_schedule(optimizer, int(config.warmup_ratio * steps), steps)
    device = next(model.parameters()).device
    losses: list[float] = []
    model.train()
    for _ in range(steps):
        idx = _balanced_batch(labels, batch_size, generator)
        batch = collator([_inputs_only(features[int(i)]) for i in idx])
        emb = model.embed(**{k: v.to(device) for k, v in encoder_inputs(batch).items()})
        y = labels[idx].to(device)
        w = weights[idx].to(device)
        if step_weights is not None:
            with torch.no_grad():
                logits = model.head(emb.detach())
            w = step_weights(logits, y, w, idx).to(w)
        loss = pair_loss(F.normalize(emb, dim=-1), y, w)
        if not loss.requires_grad:  # every pair weighs 0 (LLKD selected none): nothing to learn
            losses.append(0.0)
            continue
        loss.backward()  # type: ignore[no-untyped-call]
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.encoder.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def pair_loss(embeddings: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """SetFit's cosine loss over every pair: (cos - [same class])^2, pair weight w_i * w_j.

    Positive and negative pairs count half each, so a batch dominated by one kind of pair does
    not drown the other.
    """
    sim = embeddings @ embeddings.T
    same = (labels[:, None] == labels[None, :]).to(sim.dtype)
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool, device=sim.device)
    pair_w = weights[:, None] * weights[None, :] * off_diagonal
    err = (sim - same) ** 2
    total = sim.new_zeros(())
    parts = 0
    for kind in (same, 1 - same):
        mass = (pair_w * kind).sum()
        if float(mass) > 0:
            total = total + (err * pair_w * kind).sum() / mass
            parts += 1
    return total / max(1, parts)


def _balanced_batch(labels: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """A batch of `size` indices: the whole set when it fits, else round-robin over classes."""
    n = len(labels)
    if size >= n:
        return torch.arange(n)
    by_class = [
        (labels == c)
        .nonzero()
        .flatten()[torch.randperm(int((labels == c).sum()), generator=generator)]
        for c in torch.unique(labels)
    ]
    picked: list[int] = []
    depth = 0
    while len(picked) < size:
        for members in by_class:
            if depth < len(members) and len(picked) < size:
                picked.append(int(members[depth]))
        depth += 1
    return torch.tensor(sorted(picked))


def _inputs_only(feature: Features) -> Features:
    """The model inputs alone: anchors carry no weight or index, so a mixed batch collates."""
    return {k: v for k, v in feature.items() if k in MODEL_KEYS}


def train_sentence_classifier(
    model: SentenceClassifier,
    features: list[Features],
    anchors: list[Features],
    config: TrainConfig,
    collator: Collator,
    evaluate: Callable[[Any], float] | None,
    step_weights: StepWeights | None,
) -> tuple[Any, TrainResult]:
    """Train in the regime the data calls for (see module docstring).

    `features` carry labels, weights and their index in the caller's list (the index the LLKD
    hook reads); `anchors` (label-name samples, weight 1) join them in the head and contrastive
    regimes and are never shown to the hook. `evaluate` scores the dev set: early stopping while
    fine-tuning, one final score otherwise.
    """
    started = time.perf_counter()
    seed_everything(config.seed)
    labels = [int(f["labels"]) for f in features]
    regime = choose_regime(labels, model.head.out_features, config)
    real = len(features)
    used = features if regime == "finetune" else [*features, *anchors]
    y = torch.tensor([int(f["labels"]) for f in used])
    w = torch.tensor([float(f.get("weight", 1.0)) for f in used])
    hook = None if step_weights is None else _real_only(step_weights, real)
    log.info("training the classifier: %s regime, %d samples", regime, real)
    losses: list[float] = []
    tick = time.perf_counter()
    if regime == "contrastive" and config.contrastive_steps > 0:
        losses = contrastive_stage(model, used, y, w, config, collator, hook)
    embeddings = embed_features(model, used, collator, config.eval_batch_size)
    head_losses = fit_head(model, embeddings, y, w, config, hook)
    if regime != "finetune":
        train_seconds = time.perf_counter() - tick
        dev_scores = [] if evaluate is None else [evaluate(model)]
        return model, TrainResult(
            epochs=1,
            steps=len(losses) + len(head_losses),
            train_loss=[*(losses[-1:]), head_losses[-1]],
            dev_scores=dev_scores,
            best_dev_score=dev_scores[0] if dev_scores else None,
            best_epoch=1 if dev_scores else None,
            train_seconds=train_seconds,
            wall_seconds=time.perf_counter() - started,
            samples_per_second=len(used) / train_seconds if train_seconds > 0 else 0.0,
            regime=regime,
        )
    trained, result = run_training(model, features, config, collator, evaluate, step_weights)
    return trained, replace(result, wall_seconds=time.perf_counter() - started, regime=regime)


def _real_only(hook: StepWeights, real: int) -> StepWeights:
    """The hook, shown only the caller's samples (index < real); anchors keep their weight."""

    def wrapped(logits: Tensor, labels: Tensor, weights: Tensor, index: Tensor) -> Tensor:
        mine = index < real
        if bool(mine.all()):
            return hook(logits, labels, weights, index)
        out = weights.clone()
        if bool(mine.any()):
            out[mine] = hook(logits[mine], labels[mine], weights[mine], index[mine]).to(out)
        return out

    return wrapped
