"""Calibration of scored label distributions: the batch prior and the mixture refit."""

from __future__ import annotations

import math
import random

import pytest

from evokd_agent.distill.calibration import (
    MIXTURE_MIN_PER_LABEL,
    batch_prior,
    calibrated,
    combined,
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
    posteriors = mixture_posteriors([dists], LABELS)
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
    posteriors = mixture_posteriors([dists], labels)
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
    assert mixture_posteriors([dists[:-1]], LABELS) is None
    assert mixture_posteriors([dists], LABELS) is not None
    same = [{"negative": 0.6, "positive": 0.4}] * 40
    assert mixture_posteriors([same], LABELS) is None


def test_two_views_are_fitted_side_by_side_each_with_its_own_spread() -> None:
    """Two prompts whose log-odds carry independent noise, one at half the scale of the
    other and biased: the two-view mixture is right more often than either view alone and
    its posteriors stay close to the true ones."""
    rng = random.Random(2)
    views: tuple[list[dict[str, float]], list[dict[str, float]]] = ([], [])
    gold, truth = [], []
    for i in range(600):
        y = i % 2
        sign = 1.0 if y else -1.0
        a, b = rng.gauss(sign, 1.0), rng.gauss(sign, 1.0)
        for view, x in zip(views, (a, 0.5 * b - 0.8), strict=True):
            p = sigmoid(x)
            view.append({"negative": 1 - p, "positive": p})
        gold.append(LABELS[y])
        truth.append(sigmoid(2 * a + 2 * b))  # N(+-1, 1) in each: log-odds 2x per view
    both = mixture_posteriors(list(views), LABELS)
    assert both is not None
    one = [mixture_posteriors([view], LABELS) for view in views]

    def right(posteriors: list[dict[str, float]] | None) -> int:
        assert posteriors is not None
        return sum(max(p, key=lambda k: p[k]) == g for p, g in zip(posteriors, gold, strict=True))

    assert right(both) > max(right(view) for view in one) + 20
    error = sum(abs(p["positive"] - t) for p, t in zip(both, truth, strict=True)) / len(truth)
    assert error < 0.05


def test_combined_is_the_renormalised_geometric_mean() -> None:
    out = combined([{"a": 0.8, "b": 0.2}, {"a": 0.5, "b": 0.5}], ["a", "b"])
    expected = math.sqrt(0.8 * 0.5) / (math.sqrt(0.8 * 0.5) + math.sqrt(0.2 * 0.5))
    assert out["a"] == pytest.approx(expected)
    assert combined([{"a": 0.3, "b": 0.7}], ["a", "b"]) == {"a": 0.3, "b": 0.7}
