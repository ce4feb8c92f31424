"""Who drives a run: the method's scripted plan, or an LLM policy that falls back to it."""

from __future__ import annotations

from typing import Any

from evokd_agent.agent import (
    EVOKD_ROUND,
    JsonConfig,
    JsonPolicy,
    LlmConfig,
    LlmPolicy,
    Policy,
    ScriptedConfig,
    ScriptedPolicy,
)
from evokd_agent.config.run_config import RunConfig
from evokd_agent.distill.context import DistillContext
from evokd_agent.errors import EvokdError
from evokd_agent.run.toolset import generator_chat_fn


def step_limit(config: RunConfig) -> int:
    """Tool calls a run may make: three times an EvoKD round's (with evaluation and finish)
    per round, so a policy that loops cannot run forever."""
    return (config.max_rounds + 1) * (len(EVOKD_ROUND) + 2) * 3


def scripted_policy(config: RunConfig, n_seeds: int, tools: Any = None) -> ScriptedPolicy:
    """The method's plan as a scripted policy (`tools`: a registry its tools must be in)."""
    spec = config.method_spec
    plan = spec.plan(config.plan_input(n_seeds), config.options)
    missing = sorted(plan.tools() - set(tools.names())) if tools is not None else []
    if missing:
        raise EvokdError(
            f"method {spec.name}'s plan calls tools that are not loaded: {', '.join(missing)}",
            "add the modules defining them to extra_tools",
        )
    scripted_config = ScriptedConfig(
        max_rounds=config.max_rounds if plan.rounds is None else plan.rounds,
        round_steps=plan.round_steps,
        arguments=plan.arguments,
        finish_arguments={"reason": "scripted loop done"},
        # LLKD with its pool used up: finish rather than retrain on the same data every round
        # up to max_rounds (a bench raises that cap to spend the whole budget).
        stop_on_retry=("score_confidence",),
    )
    return ScriptedPolicy(scripted_config, plan.prelude)


def make_policy(config: RunConfig, registry: Any, ctx: DistillContext) -> Policy:
    """The run's policy: scripted, or `policy: llm` / `json` with the scripted plan as its
    fallback (methods that are a fixed procedure always run scripted)."""
    spec = config.method_spec
    scripted = scripted_policy(config, len(ctx.seeds), registry)
    if config.policy == "scripted" or not spec.llm_policy_allowed:
        return scripted
    chat = generator_chat_fn(ctx.generator, round_of=lambda: ctx.state.round + 1)
    if config.policy == "llm":
        return LlmPolicy(chat, registry, LlmConfig(task=config.task_description), fallback=scripted)
    return JsonPolicy(chat, registry, JsonConfig(task=config.task_description), fallback=scripted)
