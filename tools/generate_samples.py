"""Tool: the teacher writes new inputs (hard and easy, rewrites of seeds, or label-conditioned)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import DistillContext, sample_text
from evokd_agent.distill.steps import generate_inputs, write_variants
from evokd_agent.distill.tasks import strategy_for


@dataclass(frozen=True, kw_only=True)
class Written(ToolResult):
    """How many inputs the teacher wrote and how many wait for `label_samples`."""

    ok: bool
    written: int
    kept: int
    rejected: dict[str, int]
    pending_labels: int
    error: str
    budget_exhausted: bool
    stop: bool  # the budget is spent: end the rounds


@tool
async def generate_samples(
    ctx: DistillContext,
    n_hard: Annotated[int, Field(ge=0, le=32)] = 6,
    n_easy: Annotated[int, Field(ge=0, le=32)] = 2,
    mode: Literal["evokd", "rewrite", "zerogen"] = "evokd",
) -> Written:
    """Have the teacher write new unlabelled inputs for the student; `label_samples` labels them.

    "evokd" writes n_hard inputs the student will likely get wrong and n_easy it will get
    right, following the weakness analysis; "rewrite" rewrites each seed example n_hard times;
    "zerogen" writes n_hard inputs per label without looking at the student.

    Args:
        n_hard: Hard inputs (evokd), rewrites per seed (rewrite) or inputs per label (zerogen).
        n_easy: Easy inputs (evokd only).
        mode: How to write them: "evokd", "rewrite" or "zerogen".
    """
    spec = ctx.spec
    if mode == "evokd":
        report = await generate_inputs(ctx, n_hard, n_easy)
    elif mode == "rewrite":
        jobs = [
            {
                "task_description": spec.description,
                "text": sample_text(seed),
                "label": strategy_for(seed).hint(seed),
                "n": n_hard,
            }
            for seed in ctx.seeds
        ]
        report = await write_variants(ctx, "rewrite", jobs, "rewrite")
    else:
        jobs = [
            {
                "task_description": spec.description,
                "label": label,
                "label_description": spec.label_descriptions.get(label, label),
                "n": n_hard,
            }
            for label in spec.labels
        ]
        report = await write_variants(ctx, "zerogen", jobs, "zerogen")
    return Written(
        ok=report.ok,
        written=report.produced,
        kept=report.accepted,
        rejected=report.rejected,
        pending_labels=len(ctx.state.candidates),
        error=report.error,
        budget_exhausted=report.budget_exhausted,
        stop=report.budget_exhausted,
    )
