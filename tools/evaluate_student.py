"""Tool: test the student on the newest batch of labelled samples (or on the dev split)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import ToolContext


@dataclass(frozen=True, kw_only=True)
class DevScore(ToolResult):
    """The student's main score on the dev split."""

    split: Literal["dev"] = "dev"
    n: int
    score: float


@dataclass(frozen=True, kw_only=True)
class BatchScore(ToolResult):
    """How many samples of the newest batch the student gets wrong and right."""

    split: Literal["batch"] = "batch"
    n: int
    wrong: int
    correct: int
    accuracy: float


@tool
async def evaluate_student(
    ctx: ToolContext, split: Literal["batch", "dev"] = "batch"
) -> DevScore | BatchScore:
    """Test the student model and report its score.

    "batch" tests it on the newest labelled samples (the seed examples before the first round)
    and keeps its predictions for `sample_errors`; "dev" tests it on the development split.

    Args:
        split: Which samples to test on: "batch" (newest samples) or "dev".
    """
    state = ctx.state
    if split == "dev":
        metrics = await asyncio.to_thread(ctx.evaluate, list(ctx.dev))
        return DevScore(n=metrics.n, score=round(metrics.main_score, 4))
    batch = state.batch or list(ctx.seeds)
    wrong, correct = await asyncio.to_thread(ctx.split_errors, batch)
    state.predictions = [*wrong, *correct]
    return BatchScore(
        n=len(batch),
        wrong=len(wrong),
        correct=len(correct),
        accuracy=round(len(correct) / max(len(batch), 1), 4),
    )
