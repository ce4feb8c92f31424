"""Each method as a scripted plan over the same tools, so every method shares one framework.

A plan is a prelude (run once before round 1) and the tools called every round, with their
arguments. EvoKD and EvoKD+Init may also be driven by an LLM policy, which is free to call the
tools in any order; the baselines and LLKD are always scripted, because they are defined by
their fixed procedure.

Per-round sizes come from `samples_per_round` (hard + easy = N new samples per round), so
methods compared at one setting ask the teacher for about as many samples each round:
- evokd: N_hard hard and N_easy easy inputs after a weakness analysis;
- zerogen: ceil(N / labels) label-conditioned inputs per label;
- auggpt: ceil(N / seeds) rewrites of each seed;
- eda: ceil(N / seeds) rule-based edits of each seed (no teacher, 0 tokens);
- llkd: N texts of the unlabeled pool pseudo-labelled with a confidence (`pool_per_round`).

ZeroGen and AugGPT never read the student, so how often it is trained changes nothing they buy:
their round runs `batches_per_round` such batches (default 4) before one training, which keeps
the F1-against-tokens curve and cuts the student's training time by that factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evokd_agent.agent import EVOKD_ROUND, Action
from evokd_agent.run.config import RunConfig

# Methods that never ask a teacher: no endpoint is started or contacted for them.
TEACHERLESS = ("seeds_only", "full_shot", "eda")
# Methods whose procedure is fixed: an LLM policy in the config is ignored for them.
SCRIPTED_ONLY = ("llkd", "zerogen", "auggpt", "eda", "seeds_only", "full_shot")

METHOD_OPTIONS = {
    "rewrites_per_seed": "evokd_init: rewrites of each seed before round 1 (default 4)",
    "json_mode": 'how JSON replies are requested: "schema", "object" or "off"',
    "pool_per_round": "llkd: pool texts pseudo-labelled per round (default: hard + easy)",
    "ema": "llkd: momentum of the threshold moving averages, in [0, 1) (default 0.9)",
    "batches_per_round": "zerogen, auggpt: generation batches per student training (default 4)",
}
# ZeroGen/AugGPT batches per training (see the module docstring).
BATCHES_PER_ROUND = 4


@dataclass(frozen=True)
class Plan:
    """What a scripted policy does for one method."""

    round_steps: tuple[str, ...]
    """Tools called, in order, every round."""
    arguments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Fixed arguments per tool."""
    prelude: tuple[Action, ...] = ()
    """Actions run once before round 1."""
    rounds: int | None = None
    """Rounds to run; None means the config's `max_rounds`."""


def per_round(config: RunConfig) -> int:
    """N: new samples per round (hard + easy), at least 1."""
    return max(1, config.samples_per_round.hard + config.samples_per_round.easy)


def plan_for(config: RunConfig, n_seeds: int) -> Plan:
    """The scripted plan of `config.method` (`n_seeds`: labelled seeds the run starts from)."""
    method = config.method
    n = per_round(config)
    spr = config.samples_per_round
    if method in ("evokd", "evokd_init"):
        prelude: tuple[Action, ...] = ()
        if method == "evokd_init":
            per_seed = int(config.method_options.get("rewrites_per_seed", 4))
            prelude = (
                Action("generate_samples", {"n_hard": per_seed, "mode": "rewrite"}),
                Action("label_samples", {}),
                Action("train_student", {}),
            )
        return Plan(
            EVOKD_ROUND,
            {"generate_samples": {"n_hard": spr.hard, "n_easy": spr.easy}},
            prelude,
        )
    batches = int(config.method_options.get("batches_per_round", BATCHES_PER_ROUND))
    batch_steps = ("generate_samples", "label_samples") * max(1, batches)
    if method == "zerogen":
        per_label = math.ceil(n / max(1, len(config.labels)))
        # ZeroGen keeps the label it asked for (label-conditioned generation): no label call.
        return Plan(
            (*batch_steps, "train_student"),
            {
                "generate_samples": {"n_hard": min(per_label, 32), "mode": "zerogen"},
                "label_samples": {"keep_hints": True},
            },
        )
    if method == "auggpt":
        per_seed = math.ceil(n / max(1, n_seeds))
        return Plan(
            (*batch_steps, "train_student"),
            {
                "generate_samples": {"n_hard": min(per_seed, 32), "mode": "rewrite"},
                # AugGPT: a rewrite keeps its seed's label (NER rewrites are still labelled).
                "label_samples": {"keep_hints": True},
            },
        )
    if method == "eda":
        per_seed = math.ceil(n / max(1, n_seeds))
        return Plan(("eda_augment", "train_student"), {"eda_augment": {"per_seed": per_seed}})
    if method == "llkd":
        pool_n = int(config.method_options.get("pool_per_round", n))
        return Plan(
            ("score_confidence", "train_student"),
            {"score_confidence": {"source": "pool", "limit": min(max(1, pool_n), 256)}},
        )
    if method in ("seeds_only", "full_shot"):
        return Plan((), rounds=0)  # round 0 trains on the seeds (or the train set); then finish
    raise ValueError(f"no plan for method {method!r}")
