"""A user method module the tests load by name: `extra_methods: [tests.methods.sample_methods]`."""

from __future__ import annotations

from evokd_agent.methods import MethodOptions, Plan, PlanInput, method
from evokd_agent.methods.plans import eda  # imported, so not collected here


class EditOptions(MethodOptions):
    """Options of eda_fixed."""

    edits: int = 1
    """Rule-based edits of each seed per round."""


@method(options=EditOptions, uses_teacher=False)
def eda_fixed(run: PlanInput, options: EditOptions) -> Plan:
    """EDA with a fixed number of edits per seed, whatever the round size."""
    return Plan(("eda_augment", "train_student"), {"eda_augment": {"per_seed": options.edits}})


__all__ = ["eda", "eda_fixed"]
