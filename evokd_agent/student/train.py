"""The training loop: weighted cross-entropy, AdamW with linear warmup/decay, early stopping on dev.

It runs through `accelerate.Accelerator`, so the same code trains on CPU, one GPU, or several GPUs
under `accelerate launch` (data-parallel; every process scores the whole dev set, which keeps
early-stopping decisions identical across processes without any gathering).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from evokd_agent.errors import EvokdError
from evokd_agent.student.config import TrainConfig, TrainResult
from evokd_agent.student.ner import IGNORE_INDEX

Features = dict[str, Any]
"""One encoded sample: input_ids, attention_mask (and token_type_ids), labels, weight, index."""

StepWeights = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
"""Per-step sample weighting, called as `(logits, labels, weights, index) -> weights` with the
step's detached logits and the samples' positions in the training list (LLKD selects and
weights pseudo-labelled samples this way, from the student's state at that very step)."""

log = logging.getLogger(__name__)

MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")
"""The encoded-sample keys a transformers encoder takes."""


class Collator:
    """Pads a list of encoded samples into a batch of tensors (dynamic padding per batch)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: Sequence[Features]) -> dict[str, Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        batch: dict[str, Tensor] = {}
        for key, pad in zip(MODEL_KEYS, (self.pad_id, 0, 0), strict=True):
            if key in features[0]:
                batch[key] = torch.tensor(
                    [f[key] + [pad] * (longest - len(f[key])) for f in features]
                )
        if "labels" in features[0]:
            if isinstance(features[0]["labels"], list):
                batch["labels"] = torch.tensor(
                    [f["labels"] + [IGNORE_INDEX] * (longest - len(f["labels"])) for f in features]
                )
            else:
                batch["labels"] = torch.tensor([f["labels"] for f in features])
        if "weight" in features[0]:
            batch["weights"] = torch.tensor([f["weight"] for f in features], dtype=torch.float32)
        if "index" in features[0]:
            batch["index"] = torch.tensor([f["index"] for f in features])
        return batch


def weighted_loss(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """Cross-entropy where each sample's loss is multiplied by its weight.

    Sequence classification: mean over the batch of weight * loss. Token classification: every
    labelled token of a sentence carries the sentence's weight, averaged over labelled tokens.
    With all weights 1 both equal the usual unweighted loss.
    """
    if logits.dim() == 3:
        per_token = F.cross_entropy(
            logits.flatten(0, 1).float(),
            labels.flatten(),
            reduction="none",
            ignore_index=IGNORE_INDEX,
        ).view(labels.shape)
        mask = labels != IGNORE_INDEX
        weighted = per_token * weights[:, None] * mask
        return weighted.sum() / mask.sum().clamp(min=1)
    per_sample = F.cross_entropy(logits.float(), labels, reduction="none")
    return (per_sample * weights).mean()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so runs repeat exactly on CPU."""
    from accelerate.utils import set_seed

    set_seed(seed)


def run_training(
    model: Any,
    features: list[Features],
    config: TrainConfig,
    collator: Collator,
    evaluate: Callable[[Any], float] | None = None,
    step_weights: StepWeights | None = None,
) -> tuple[Any, TrainResult]:
    """Train `model` on `features`; return the trained (unwrapped) model and what happened.

    `step_weights`, if given, replaces each batch's weights before the loss (see StepWeights).

    `evaluate(model)` scores the dev set (higher is better); with it, training stops after
    `config.patience` evaluations without improvement and, with `restore_best`, ends on the best
    weights.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if config.device == "cuda" and not torch.cuda.is_available():
        raise EvokdError("training device 'cuda' asked for, but torch sees no GPU", "use 'auto'")
    accelerator = Accelerator(cpu=config.device == "cpu", mixed_precision=config.mixed_precision)
    seed_everything(config.seed)
    batch_size, steps_per_epoch, epochs = config.plan(len(features))
    loader: Any = torch.utils.data.DataLoader(
        features,  # type: ignore[arg-type]  # a list is a valid map-style dataset
        batch_size=batch_size,
        shuffle=True,
        collate_fn=collator,
        generator=torch.Generator().manual_seed(config.seed),
    )
    task = "ner" if isinstance(features[0].get("labels"), list) else "classification"
    optimizer = adamw(model, config, lr=config.peak_learning_rate(len(features), task))
    # Counted for one process; accelerate steps the scheduler once per process under DDP.
    total_steps = epochs * steps_per_epoch
    scheduler = linear_schedule(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    plain = accelerator.unwrap_model(model)
    eval_every = -(-epochs // config.max_evals)

    losses: list[float] = []
    dev_scores: list[float] = []
    best: tuple[float, int] | None = None
    best_state: dict[str, Tensor] | None = None
    stale = 0
    steps = 0
    seen = 0
    train_seconds = 0.0
    epoch = 0
    stopped = False
    show = config.progress and sys.stderr.isatty() and accelerator.is_main_process
    bar = tqdm(total=epochs * len(loader), desc="training student", disable=not show, leave=False)
    for epoch in range(1, epochs + 1):
        model.train()
        tick = time.perf_counter()
        epoch_loss = 0.0
        for batch in loader:
            labels = batch.pop("labels")
            weights = batch.pop("weights")
            index = batch.pop("index", None)
            logits = model(**{k: v for k, v in batch.items() if k in MODEL_KEYS}).logits
            if step_weights is not None and index is not None:
                weights = step_weights(logits.detach(), labels, weights, index).to(weights)
            loss = weighted_loss(logits, labels, weights)
            accelerator.backward(loss)
            if config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            steps += 1
            seen += len(labels) * accelerator.num_processes
            epoch_loss += float(loss.detach())
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{float(loss.detach()):.4f}")
        train_seconds += time.perf_counter() - tick
        losses.append(epoch_loss / max(1, len(loader)))
        # Progress for logs too: the bar is off when stderr is not a terminal.
        log.info("epoch %d/%d: train loss %.4f, %d steps", epoch, epochs, losses[-1], steps)
        if evaluate is None or (epoch % eval_every and epoch != epochs):
            continue
        plain.eval()
        score = evaluate(plain)
        dev_scores.append(score)
        log.info("epoch %d/%d: dev score %.4f", epoch, epochs, score)
        if best is None or score > best[0]:
            best, stale = (score, epoch), 0
            if config.restore_best and epoch != epochs:
                best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in plain.state_dict().items()
                }
        else:
            stale += 1
            if stale >= config.patience:
                stopped = epoch < epochs
                break
    bar.close()

    trained = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if config.restore_best and best is not None and best[1] != epoch and best_state is not None:
        trained.load_state_dict(best_state)
    trained.eval()
    return trained, TrainResult(
        epochs=epoch,
        steps=steps,
        train_loss=losses,
        dev_scores=dev_scores,
        best_dev_score=None if best is None else best[0],
        best_epoch=None if best is None else best[1],
        stopped_early=stopped,
        train_seconds=train_seconds,
        wall_seconds=time.perf_counter() - started,
        samples_per_second=seen / train_seconds if train_seconds > 0 else 0.0,
    )


def linear_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rising linearly over `warmup_steps`, then falling linearly to 0 at the end."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def adamw(model: Any, config: TrainConfig, lr: float) -> torch.optim.AdamW:
    """AdamW at `lr`, fused where this torch supports it: ~7x faster steps on CPU."""
    groups = _param_groups(model, config.weight_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except RuntimeError:  # torch < 2.4 fuses on CUDA only
        return torch.optim.AdamW(groups, lr=lr)


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no decay on biases and normalisation weights, as usual for transformers."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm = "norm" in name.lower() or name.endswith(".bias")
        (no_decay if is_norm else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
