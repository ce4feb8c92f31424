"""Calibration of label distributions: dividing out a model's prior towards one label.

A small model scoring labels leans to one of them whatever the text. Calibration estimates
that lean (a *prior*) and divides every distribution by it, label by label, then renormalises.
`batch_prior` estimates it as the mean distribution of the real inputs scored so far (Batch
Calibration, Zhou et al., ICLR 2024).

Dividing by a prior moves the decision boundary but leaves the model's scale: SmolLM2-135M's
batch-calibrated confidences were too low (mean 0.65 to 0.72 where 0.76 to 0.82 were right,
SST-2 dev). `mixture_posteriors` refits both from the same unlabelled texts: one Gaussian per
label over the texts' centred log-probabilities, equal label weights (the batch prior's own
assumption), one shared spherical variance, fitted by EM from the batch-calibrated
distributions; each text's posterior under that mixture is its calibrated distribution. It is
a variant of prototypical calibration (Han et al., ICLR 2023), with the label weights fixed
and the components started at the labels, which measured steadier than free weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

# Probability floor of a label under a prior (a zero would divide by zero).
FLOOR = 1e-6


def calibrated(dist: Mapping[str, float], prior: Mapping[str, float]) -> dict[str, float]:
    """`dist` divided by `prior` label by label, renormalised."""
    scaled = {k: v / max(prior.get(k, 0.0), FLOOR) for k, v in dist.items()}
    total = sum(scaled.values())
    return {k: v / total for k, v in scaled.items()} if total > 0 else dict(dist)


def batch_prior(
    dists: Sequence[Mapping[str, float]], labels: Sequence[str]
) -> dict[str, float] | None:
    """The mean of `dists` per label (None when there are none)."""
    if not dists:
        return None
    return {k: sum(d.get(k, 0.0) for d in dists) / len(dists) for k in labels}


MIXTURE_MIN_PER_LABEL = 8
"""Fewer scored texts than this per label: no mixture fit (too few to estimate a variance)."""
_EM_STEPS = 200
_EM_TOLERANCE = 1e-7


def combined(views: Sequence[Mapping[str, float]], labels: Sequence[str]) -> dict[str, float]:
    """One distribution from a text's distributions under several prompts: their geometric
    mean, renormalised (a single view is returned as it is)."""
    if len(views) == 1:
        return dict(views[0])
    logs = {k: sum(math.log(max(v.get(k, 0.0), FLOOR)) for v in views) / len(views) for k in labels}
    top = max(logs.values())
    scaled = {k: math.exp(x - top) for k, x in logs.items()}
    total = sum(scaled.values())
    return {k: x / total for k, x in scaled.items()}


def mixture_posteriors(
    views: Sequence[Sequence[Mapping[str, float]]], labels: Sequence[str]
) -> list[dict[str, float]] | None:
    """Each text's label posterior under the mixture fitted to all of it (see the module
    docstring), or None where it cannot stand: too few texts, no spread, or a component
    that ended up standing for another label than its own.

    `views`: the texts' distributions under each prompt (one list per prompt, the texts in the
    same order). Each view keeps its own spread (one variance per view); one view is the plain
    mixture."""
    k = len(labels)
    n = len(views[0]) if views else 0
    if k < 2 or n < MIXTURE_MIN_PER_LABEL * k:
        return None
    probs = [
        np.array([[max(d.get(label, 0.0), FLOOR) for label in labels] for d in view])
        for view in views
    ]
    points = [np.log(p) - np.log(p).mean(axis=1, keepdims=True) for p in probs]
    joint = [combined([view[i] for view in views], labels) for i in range(n)]
    start = np.array([[max(c[label], FLOOR) for label in labels] for c in joint])
    resp = start / start.mean(axis=0)
    resp /= resp.sum(axis=1, keepdims=True)
    for _ in range(_EM_STEPS):
        weight = resp.sum(axis=0)
        if weight.min() <= 1e-9:
            return None
        logit = np.zeros((n, k))
        sums = np.zeros((k, k))  # the components' means, summed over the views
        for x in points:
            means = resp.T @ x / weight[:, None]
            sums += means
            sq = ((x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
            # The points lie in a (k - 1)-dimensional plane (their coordinates sum to 0).
            variance = float((resp * sq).sum()) / (n * (k - 1))
            if variance <= 1e-12:
                return None
            logit -= sq / (2 * variance)
        new = np.exp(logit - logit.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        done = float(np.abs(new - resp).max()) < _EM_TOLERANCE
        resp = new
        if done:
            break
    if any(sums[i, i] < sums[:, i].max() for i in range(k)):
        return None
    return [dict(zip(labels, map(float, row), strict=True)) for row in resp]
