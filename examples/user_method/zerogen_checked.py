"""A user method: ZeroGen whose inputs the teacher labels again, dropping label drift.

ZeroGen keeps the label each input was written for; a weak teacher sometimes writes a
"positive" review that reads negative. Here a separate labelling call decides the label.
"""

from __future__ import annotations

import math

from pydantic import Field

from evokd_agent import MethodOptions, Plan, PlanInput, method


class Options(MethodOptions):
    """`method_options` of zerogen_checked."""

    per_label: int | None = Field(default=None, ge=1, le=32)
    """Inputs written for each label every round; None: ceil(N / labels)."""


@method(options=Options)
def zerogen_checked(run: PlanInput, options: Options) -> Plan:
    """Write label-conditioned inputs, have the teacher label them, retrain."""
    per_label = options.per_label or math.ceil(run.per_round / len(run.labels))
    return Plan(
        ("generate_samples", "label_samples", "train_student"),
        {"generate_samples": {"n_hard": per_label, "mode": "zerogen"}},
    )
