"""LLKD's sample selection: keep pool samples the teacher is sure of and the student is not.

LLKD (Li et al., "Learning with Less", arXiv 2411.08028) pseudo-labels an unlabeled pool with the
teacher and, at every training step, selects the samples whose teacher confidence is above a
per-class threshold and whose student uncertainty is above a per-class threshold; both thresholds
adapt to training from moving averages of the global and per-class state (the self-adaptive
thresholds of FreeMatch, which LLKD builds on), and selected samples are weighted in the loss by
both signals. Our reading, per training step t over the batch's pseudo-labelled samples b:

  c_b   teacher confidence: probability of its label y_b, normalised over the label set
  u_b   student uncertainty: predictive entropy at this step / log C, in [0, 1]
        (NER: mean over the sentence's labelled tokens, C = number of BIO tags)

  T_t    = m T_{t-1}    + (1 - m) mean_b c_b                  teacher, global
  T_t(y) = m T_{t-1}(y) + (1 - m) mean_{b: y_b = y} c_b       teacher, class y (kept if no y)
  S_t    = m S_{t-1}    + (1 - m) mean_b u_b                  student, global
  S_t(y) = m S_{t-1}(y) + (1 - m) mean_{b: y_b = y} u_b       student, class y

  tau_T(y) = T_t(y) / max_y' T_t(y') * T_t       (MaxNorm of the class state times the global)
  tau_S(y) = S_t(y) / max_y' S_t(y') * S_t

  selected_b = c_b >= tau_T(y_b) and u_b >= tau_S(y_b)
  w_b        = c_b * u_b / mean_{selected b'} (c_b' * u_b')   if selected, else 0

m is the momentum (method option `ema`, default 0.9: a few dozen steps per round here, against
the paper's thousands). The state is updated with the step's batch before selecting, as in
FreeMatch. Each average starts at its first observation (the first step's mean; a class's first
batch mean), not at a constant: with few steps per round, a lenient constant start (FreeMatch's
1/C) would let low-confidence labels through for the whole first round. Weights are normalised
to mean 1 over the selected samples so the step's loss scale (and so the learning rate's
meaning) does not depend on how uncertain the student happens to be. Seeds are gold: always
weight 1, and they do not enter the averages. NER uses one class (the sentence), so only the
global levels apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from evokd_agent.student.ner import IGNORE_INDEX
from evokd_agent.student.train import StepWeights

Array = np.ndarray


@dataclass
class SelectorState:
    """The moving averages behind the thresholds."""

    teacher: float
    """T_t: moving average of teacher confidence over pseudo-labelled samples."""
    teacher_class: Array
    """T_t(y) per class."""
    student: float
    """S_t: moving average of normalised student entropy."""
    student_class: Array
    """S_t(y) per class."""
    steps: int = 0
    """Updates so far (steps that had at least one pseudo-labelled sample)."""


@dataclass
class AdaptiveSelector:
    """Per-class adaptive thresholds on teacher confidence and student uncertainty (see module)."""

    n_classes: int
    """C: labels (classification) or 1 (NER: one class, the sentence)."""
    momentum: float = 0.9
    """m in the moving averages, in [0, 1)."""
    state: SelectorState = field(init=False)
    """Current averages (kept across rounds: the thresholds adapt over the whole run)."""

    def __post_init__(self) -> None:
        if not 0 <= self.momentum < 1:
            raise ValueError(f"LLKD momentum must be in [0, 1), got {self.momentum}")
        c = self.n_classes
        # NaN: not observed yet (each average starts at its first observation).
        self.state = SelectorState(math.nan, np.full(c, math.nan), math.nan, np.full(c, math.nan))

    def update(self, conf: Array, unc: Array, cls: Array) -> None:
        """Fold one step's pseudo-labelled samples into the averages."""
        if len(conf) == 0:
            return
        s = self.state
        s.teacher = self._ema(s.teacher, float(conf.mean()))
        s.student = self._ema(s.student, float(unc.mean()))
        for y in np.unique(cls):
            mine = cls == y
            s.teacher_class[y] = self._ema(s.teacher_class[y], float(conf[mine].mean()))
            s.student_class[y] = self._ema(s.student_class[y], float(unc[mine].mean()))
        s.steps += 1

    def _ema(self, old: float, new: float) -> float:
        return new if math.isnan(old) else self.momentum * old + (1 - self.momentum) * new

    def thresholds(self) -> tuple[Array, Array]:
        """(tau_T(y), tau_S(y)) for every class y."""
        s = self.state
        return _maxnorm(s.teacher_class) * s.teacher, _maxnorm(s.student_class) * s.student

    def select(self, conf: Array, unc: Array, cls: Array) -> tuple[Array, Array]:
        """(selected mask, loss weights) for one step's pseudo-labelled samples, after updating."""
        self.update(conf, unc, cls)
        tau_t, tau_s = self.thresholds()
        selected = (conf >= tau_t[cls]) & (unc >= tau_s[cls])
        raw = conf * unc * selected
        weights = np.zeros(len(conf))
        if selected.any():
            mean = float(raw[selected].mean())
            # All selected samples at zero uncertainty: keep them, equally weighted.
            weights = raw / mean if mean > 0 else selected.astype(float)
        return selected, weights


def _maxnorm(values: Array) -> Array:
    """values / max(values); classes not observed yet count as the maximum (ratio 1)."""
    top = np.nanmax(values) if not np.isnan(values).all() else math.nan
    if math.isnan(top) or top <= 0:
        return np.ones_like(values)
    return np.where(np.isnan(values), 1.0, values / top)


def normalised_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Predictive entropy / log C per sample; for token logits, the mean over labelled tokens."""
    n_classes = logits.shape[-1]
    logp = torch.log_softmax(logits.float(), dim=-1)
    ent = -(logp.exp() * logp).sum(-1) / math.log(max(n_classes, 2))
    if ent.dim() == 1:
        return ent
    mask = (labels != IGNORE_INDEX).float()
    return (ent * mask).sum(-1) / mask.sum(-1).clamp(min=1)


@dataclass
class SelectionLog:
    """What happened to each pseudo-labelled sample during one `train` call."""

    seen: Array
    """Steps in which the sample was in the batch, per training-list position."""
    selected: Array
    """Steps in which it was selected."""

    def ever_selected(self) -> Array:
        return self.selected > 0


def step_weights(
    selector: AdaptiveSelector,
    confidences: Sequence[float | None],
    classes: Sequence[int],
) -> tuple[StepWeights, SelectionLog]:
    """The training hook for one `train` call over a list whose i-th sample has teacher
    confidence `confidences[i]` (None for gold seeds) and pseudo-label class `classes[i]`."""
    conf_all = np.array([c if c is not None else 0.0 for c in confidences], dtype=float)
    pseudo = np.array([c is not None for c in confidences], dtype=bool)
    cls_all = np.asarray(classes, dtype=int)
    log = SelectionLog(np.zeros(len(confidences), int), np.zeros(len(confidences), int))

    def hook(logits: Tensor, labels: Tensor, weights: Tensor, index: Tensor) -> Tensor:
        idx = index.cpu().numpy()
        mine = pseudo[idx]
        if not mine.any():
            return weights
        unc = normalised_entropy(logits, labels).cpu().numpy()
        rows = idx[mine]
        selected, w = selector.select(conf_all[rows], unc[mine], cls_all[rows])
        log.seen[rows] += 1
        log.selected[rows] += selected
        out = weights.clone()
        out[torch.from_numpy(np.flatnonzero(mine))] = torch.from_numpy(w).to(out)
        return out

    return hook, log


class _Pseudo(Protocol):
    @property
    def confidence(self) -> float: ...
    @property
    def label(self) -> str: ...
    @property
    def gold(self) -> Any: ...


def _gold_text(gold: Any) -> str | None:
    if gold is None:
        return None
    return " ".join(str(g) for g in gold) if isinstance(gold, list | tuple) else str(gold)


def _accuracy(items: Sequence[_Pseudo]) -> float | None:
    judged = [p for p in items if p.gold is not None]
    if not judged:
        return None
    return round(sum(p.label == _gold_text(p.gold) for p in judged) / len(judged), 4)


def selection_summary(
    selector: AdaptiveSelector, pseudo: Sequence[_Pseudo | None], log: SelectionLog
) -> dict[str, Any]:
    """What LLKD did in one training call, for the round's metrics row.

    A pool sample counts as selected when at least one step selected it. Teacher-label accuracy
    on selected and on never-selected samples needs the pool's gold labels and is analysis only.
    """
    rows = [i for i, p in enumerate(pseudo) if p is not None]
    ever = log.ever_selected()
    chosen = [p for i, p in enumerate(pseudo) if p is not None and ever[i]]
    left = [p for i, p in enumerate(pseudo) if p is not None and not ever[i]]
    tau_t, tau_s = selector.thresholds()
    seen = int(log.seen[rows].sum()) if rows else 0
    return {
        "pool_in_training": len(rows),
        "pool_selected": len(chosen),
        "pool_selected_fraction": round(len(chosen) / len(rows), 4) if rows else None,
        "step_selection_rate": round(int(log.selected[rows].sum()) / seen, 4) if seen else None,
        "teacher_accuracy_selected": _accuracy(chosen),
        "teacher_accuracy_rejected": _accuracy(left),
        "mean_confidence_selected": _mean([p.confidence for p in chosen]),
        "mean_confidence_rejected": _mean([p.confidence for p in left]),
        "teacher_threshold": _rounded(tau_t),
        "student_threshold": _rounded(tau_s),
        "selector_steps": selector.state.steps,
    }


def _rounded(values: Array) -> list[float | None]:
    return [None if math.isnan(x) else round(float(x), 4) for x in values]


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
