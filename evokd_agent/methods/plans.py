"""The built-in methods, each a scripted plan over the same tools, so all share one framework.

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
from typing import Any

from pydantic import Field

from evokd_agent.agent import EVOKD_ROUND, Action
from evokd_agent.methods.spec import MethodOptions, MethodSpec, Plan, PlanInput, method

# ZeroGen/AugGPT batches per training (see the module docstring).
BATCHES_PER_ROUND = 4


class InitOptions(MethodOptions):
    """Options of EvoKD+Init."""

    rewrites_per_seed: int = 4
    """AugGPT-style rewrites of each seed the student first trains on, before round 1."""


class BatchOptions(MethodOptions):
    """Options of the generators that never read the student (ZeroGen, AugGPT)."""

    batches_per_round: int = BATCHES_PER_ROUND
    """Generation batches per student training (each batch is one round's worth of samples)."""


class LlkdOptions(MethodOptions):
    """Options of LLKD."""

    pool_per_round: int | None = None
    """Pool texts the teacher pseudo-labels each round (at most 256); None: hard + easy."""
    ema: float = Field(default=0.9, ge=0, lt=1)
    """Momentum of LLKD's threshold moving averages, in [0, 1)."""


def _evokd_plan(run: PlanInput, prelude: tuple[Action, ...] = ()) -> Plan:
    return Plan(
        EVOKD_ROUND, {"generate_samples": {"n_hard": run.hard, "n_easy": run.easy}}, prelude
    )


@method(options=MethodOptions, llm_policy_allowed=True)
def evokd(run: PlanInput, options: MethodOptions) -> Plan:
    """EvoKD: analyse the student's errors, write hard and easy inputs, label them, retrain."""
    return _evokd_plan(run)


@method(options=InitOptions, llm_policy_allowed=True)
def evokd_init(run: PlanInput, options: InitOptions) -> Plan:
    """EvoKD after a first training on AugGPT-style rewrites of the seeds."""
    prelude = (
        Action("generate_samples", {"n_hard": options.rewrites_per_seed, "mode": "rewrite"}),
        Action("label_samples", {}),
        Action("train_student", {}),
    )
    return _evokd_plan(run, prelude)


def _batches(options: BatchOptions, generate: dict[str, Any]) -> Plan:
    steps = ("generate_samples", "label_samples") * max(1, options.batches_per_round)
    # The label a batch asked for (ZeroGen) or its seed's (AugGPT) is kept: no label call for
    # classification (NER rewrites are still labelled).
    return Plan(
        (*steps, "train_student"),
        {"generate_samples": generate, "label_samples": {"keep_hints": True}},
    )


@method(options=BatchOptions)
def zerogen(run: PlanInput, options: BatchOptions) -> Plan:
    """ZeroGen: label-conditioned inputs, written without looking at the student."""
    per_label = math.ceil(run.per_round / max(1, len(run.labels)))
    return _batches(options, {"n_hard": min(per_label, 32), "mode": "zerogen"})


@method(options=BatchOptions)
def auggpt(run: PlanInput, options: BatchOptions) -> Plan:
    """AugGPT: rewrites of each seed that keep its label."""
    per_seed = math.ceil(run.per_round / max(1, run.n_seeds))
    return _batches(options, {"n_hard": min(per_seed, 32), "mode": "rewrite"})


@method(options=MethodOptions, uses_teacher=False)
def eda(run: PlanInput, options: MethodOptions) -> Plan:
    """EDA: rule-based edits of each seed (random swap, deletion, insertion)."""
    per_seed = math.ceil(run.per_round / max(1, run.n_seeds))
    return Plan(("eda_augment", "train_student"), {"eda_augment": {"per_seed": per_seed}})


def _llkd_momentum(options: LlkdOptions) -> float:
    return options.ema


@method(
    options=LlkdOptions,
    needs_pool="pseudo-labels an unlabeled pool",
    pool_selection=_llkd_momentum,
)
def llkd(run: PlanInput, options: LlkdOptions) -> Plan:
    """LLKD: pseudo-label pool texts with a confidence, train with adaptive selection."""
    pool_n = run.per_round if options.pool_per_round is None else options.pool_per_round
    return Plan(
        ("score_confidence", "train_student"),
        {"score_confidence": {"source": "pool", "limit": min(max(1, pool_n), 256)}},
    )


@method(options=MethodOptions, uses_teacher=False)
def seeds_only(run: PlanInput, options: MethodOptions) -> Plan:
    """Round 0 only: the student trained on the seeds."""
    return Plan((), rounds=0)


@method(options=MethodOptions, uses_teacher=False, trains_on="train")
def full_shot(run: PlanInput, options: MethodOptions) -> Plan:
    """Round 0 only, on the whole gold train set: the ceiling the others are compared with."""
    return Plan((), rounds=0)


BUILTIN_METHODS: tuple[MethodSpec[Any], ...] = (
    evokd,
    evokd_init,
    llkd,
    zerogen,
    auggpt,
    eda,
    seeds_only,
    full_shot,
)
"""Every built-in method, in the order errors and the docs list them."""
