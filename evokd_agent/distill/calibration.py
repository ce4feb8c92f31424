"""Calibration of label distributions: dividing out a model's prior towards one label.

A small model scoring labels leans to one of them whatever the text. Calibration estimates
that lean (a *prior*) and divides every distribution by it, label by label, then renormalises.
`batch_prior` estimates it as the mean distribution of the real inputs scored so far (Batch
Calibration, Zhou et al., ICLR 2024).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
