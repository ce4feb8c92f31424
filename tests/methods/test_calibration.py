"""Calibration of scored label distributions: the batch prior and the mixture refit."""

from __future__ import annotations

import math
import random

import pytest

from evokd_agent.distill.calibration import (
    MIXTURE_MIN_PER_LABEL,
    batch_prior,
    calibrated,
    mixture_posteriors,
)

LABELS = ["negative", "positive"]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def biased_and_timid(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[float]]:
    """Balanced texts whose raw log-odds are N(+-1, 0.7^2) shifted by a bias of -1.5 toward
    "negative" and read at face value (slope 1), while the true posterior of "positive" given
    those log-odds has slope 2 * 1 / 0.7^2 ~ 4: a biased and under-confident scorer."""
    rng = random.Random(seed)
    dists, truth = [], []
    for i in range(n):
        y = i % 2
        x = rng.gauss(1.0 if y else -1.0, 0.7)
        p = sigmoid(x - 1.5)
        dists.append({"negative": 1 - p, "positive": p})
        truth.append(sigmoid(2 * x / 0.7**2))
    return dists, truth


def test_batch_prior_is_the_mean_and_calibration_divides_by_it() -> None:
    dists = [{"negative": 0.9, "positive": 0.1}, {"negative": 0.5, "positive": 0.5}]
    prior = batch_prior(dists, LABELS)
    assert prior == pytest.approx({"negative": 0.7, "positive": 0.3})
    out = calibrated(dists[1], prior or {})
    assert out["positive"] == pytest.approx((0.5 / 0.3) / (0.5 / 0.3 + 0.5 / 0.7))
    assert batch_prior([], LABELS) is None


def test_the_mixture_recovers_the_true_posterior_where_the_batch_prior_stays_timid() -> None:
    dists, truth = biased_and_timid(400)
    posteriors = mixture_posteriors(dists, LABELS)
    assert posteriors is not None
    prior = batch_prior(dists, LABELS) or {}
    batch = [calibrated(d, prior)["positive"] for d in dists]
    mixture = [p["positive"] for p in posteriors]
    error_mixture = sum(abs(a - b) for a, b in zip(mixture, truth, strict=True)) / len(truth)
    error_batch = sum(abs(a - b) for a, b in zip(batch, truth, strict=True)) / len(truth)
    assert error_mixture < 0.05
    assert error_batch > 3 * error_mixture
    # The bias is gone: about half of the balanced texts go to each label.
    assert 0.4 < sum(m > 0.5 for m in mixture) / len(mixture) < 0.6
    assert all(sum(p.values()) == pytest.approx(1.0) for p in posteriors)


def test_three_labels_each_get_their_own_component() -> None:
    rng = random.Random(1)
    labels = ["a", "b", "c"]
    dists, gold = [], []
    for i in range(300):
        y = i % 3
        logits = [
            rng.gauss(1.5 if j == y else 0.0, 0.8) + (1.0 if j == 0 else 0.0) for j in range(3)
        ]
        z = sum(math.exp(v) for v in logits)
        dists.append({label: math.exp(v) / z for label, v in zip(labels, logits, strict=True)})
        gold.append(labels[y])
    posteriors = mixture_posteriors(dists, labels)
    assert posteriors is not None
    predicted = [max(p, key=lambda k: p[k]) for p in posteriors]
    raw = [max(d, key=lambda k: d[k]) for d in dists]
    right = sum(p == g for p, g in zip(predicted, gold, strict=True))
    assert right > sum(r == g for r, g in zip(raw, gold, strict=True))
    assert {label: predicted.count(label) for label in labels} == pytest.approx(
        dict.fromkeys(labels, 100), abs=25
    )


def test_no_mixture_from_too_few_texts_or_texts_without_spread() -> None:
    dists, _ = biased_and_timid(2 * MIXTURE_MIN_PER_LABEL)
    assert mixture_posteriors(dists[:-1], LABELS) is None
    assert mixture_posteriors(dists, LABELS) is not None
    same = [{"negative": 0.6, "positive": 0.4}] * 40
    assert mixture_posteriors(same, LABELS) is None
