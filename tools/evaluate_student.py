"""Tool: test the student on the newest batch of labelled samples (or on the dev split)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from evokd_agent.agent import tool
from evokd_agent.methods.context import DistillContext


@tool
async def evaluate_student(
    ctx: DistillContext, split: Literal["batch", "dev"] = "batch"
) -> dict[str, Any]:
    """Test the student model and report its score.

    "batch" tests it on the newest labelled samples (the seed examples before the first round)
    and keeps its predictions for `sample_errors`; "dev" tests it on the development split.

    Args:
        split: Which samples to test on: "batch" (newest samples) or "dev".
    """
    state = ctx.state
    if split == "dev":
        metrics = await asyncio.to_thread(ctx.evaluate, list(ctx.dev))
        return {"split": "dev", "n": metrics.n, "score": round(metrics.main_score, 4)}
    batch = state.batch or list(ctx.seeds)
    wrong, correct = await asyncio.to_thread(ctx.split_errors, batch)
    state.predictions = [*wrong, *correct]
    return {
        "split": "batch",
        "n": len(batch),
        "wrong": len(wrong),
        "correct": len(correct),
        "accuracy": round(len(correct) / max(len(batch), 1), 4),
    }
