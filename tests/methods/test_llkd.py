"""LLKD's adaptive thresholds, selection and weighting on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evokd_agent.distill.llkd import AdaptiveSelector, normalised_entropy, step_weights
from evokd_agent.student.ner import IGNORE_INDEX


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def test_first_step_starts_the_averages_and_selects_by_both_thresholds() -> None:
    sel = AdaptiveSelector(n_classes=2, momentum=0.5)
    conf, unc, cls = arr(0.9, 0.6, 0.8), arr(0.5, 0.9, 0.2), np.array([0, 0, 1])
    selected, weights = sel.select(conf, unc, cls)
    # The averages start at the first step's means.
    assert sel.state.teacher == pytest.approx((0.9 + 0.6 + 0.8) / 3)
    assert list(sel.state.teacher_class) == pytest.approx([0.75, 0.8])
    assert sel.state.student == pytest.approx((0.5 + 0.9 + 0.2) / 3)
    assert list(sel.state.student_class) == pytest.approx([0.7, 0.2])
    tau_t, tau_s = sel.thresholds()
    # tau(y) = class average / largest class average * global average
    assert list(tau_t) == pytest.approx([0.75 / 0.8 * 2.3 / 3, 0.8 / 0.8 * 2.3 / 3])
    assert list(tau_s) == pytest.approx([0.7 / 0.7 * 1.6 / 3, 0.2 / 0.7 * 1.6 / 3])
    # 0: teacher sure (0.9 >= 0.71875) but the student already knows it (0.5 < 0.5333);
    # 1: teacher unsure (0.6 < 0.71875); 2: both pass (0.8 >= 0.7667, 0.2 >= 0.1524).
    assert list(selected) == [False, False, True]
    assert list(weights) == pytest.approx([0.0, 0.0, 1.0])


def test_moving_averages_update_and_weights_follow_both_signals() -> None:
    sel = AdaptiveSelector(n_classes=2, momentum=0.5)
    sel.select(arr(0.9, 0.6, 0.8), arr(0.5, 0.9, 0.2), np.array([0, 0, 1]))
    selected, weights = sel.select(arr(0.5, 0.9, 0.8), arr(0.8, 0.6, 0.9), np.array([1, 1, 1]))
    s = sel.state
    assert s.teacher == pytest.approx(0.5 * 2.3 / 3 + 0.5 * 2.2 / 3)  # 0.75
    assert s.teacher_class[0] == pytest.approx(0.75)  # class 0 absent: unchanged
    assert s.teacher_class[1] == pytest.approx(0.5 * 0.8 + 0.5 * 2.2 / 3)
    assert s.student == pytest.approx(0.5 * 1.6 / 3 + 0.5 * 2.3 / 3)  # 0.65
    assert s.student_class[1] == pytest.approx(0.5 * 0.2 + 0.5 * 2.3 / 3)
    tau_t, tau_s = sel.thresholds()
    assert tau_t[1] == pytest.approx(0.75)  # class 1 now has the larger average
    assert tau_t[0] == pytest.approx(0.75 / (0.5 * 0.8 + 0.5 * 2.2 / 3) * 0.75)
    assert tau_s[1] == pytest.approx((0.5 * 0.2 + 0.5 * 2.3 / 3) / 0.7 * 0.65)
    assert list(selected) == [False, True, True]
    # w = c * u, normalised to mean 1 over the selected: 0.54 and 0.72 -> mean 0.63.
    assert list(weights) == pytest.approx([0.0, 0.54 / 0.63, 0.72 / 0.63])


def test_momentum_must_be_below_one() -> None:
    with pytest.raises(ValueError, match="momentum"):
        AdaptiveSelector(2, momentum=1.0)


def test_normalised_entropy_for_sentences_and_tokens() -> None:
    uniform = torch.zeros(1, 4)
    certain = torch.tensor([[50.0, 0.0, 0.0, 0.0]])
    ent = normalised_entropy(torch.cat([uniform, certain]), torch.tensor([0, 0]))
    assert ent.tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    # Tokens: the mean over labelled tokens only (the padded one is uniform but ignored).
    logits = torch.stack([torch.cat([uniform, certain, uniform])])
    labels = torch.tensor([[0, 1, IGNORE_INDEX]])
    assert normalised_entropy(logits, labels).tolist() == pytest.approx([0.5], abs=1e-6)


def test_hook_keeps_seeds_at_weight_one_and_logs_selection() -> None:
    sel = AdaptiveSelector(n_classes=2, momentum=0.5)
    # Positions 0 and 1 are gold seeds; 2..4 pool samples with teacher confidences.
    hook, log = step_weights(sel, [None, None, 0.95, 0.4, 0.9], [0, 1, 0, 1, 1])
    logits = torch.zeros(5, 2)  # the student knows nothing: every entropy is 1
    out = hook(logits, torch.zeros(5, dtype=torch.long), torch.ones(5), torch.arange(5))
    # Means: T = 0.75, T(0) = 0.95, T(1) = 0.65 -> tau_T = [0.75, 0.65/0.95*0.75 = 0.513].
    assert out.tolist() == pytest.approx([1.0, 1.0, 0.95 / 0.925, 0.0, 0.9 / 0.925])
    assert list(log.seen) == [0, 0, 1, 1, 1]
    assert list(log.ever_selected()) == [False, False, True, False, True]
    assert not math.isnan(sel.state.teacher)


def test_hook_leaves_a_batch_of_seeds_alone() -> None:
    sel = AdaptiveSelector(n_classes=2)
    hook, _ = step_weights(sel, [None, None], [0, 1])
    weights = torch.tensor([1.0, 0.5])
    out = hook(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), weights, torch.arange(2))
    assert out.tolist() == [1.0, 0.5]
    assert sel.state.steps == 0
