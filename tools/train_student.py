"""Tool: train the student on everything labelled so far, then score it on dev."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from evokd_agent.agent import OMIT_IF_NONE, ToolResult, tool
from evokd_agent.distill.context import ToolContext


@dataclass(frozen=True, kw_only=True)
class Trained(ToolResult):
    """The round's dev score, and whether (and why) the run should finish now."""

    round: int
    train_size: int
    dev_score: float
    best_dev_score: float
    tokens_spent: int
    pool_selected_fraction: float | None = field(default=None, metadata={OMIT_IF_NONE: True})
    stop: bool  # budget spent, round limit or no more progress: end the rounds
    stop_reason: str | None


@tool
async def train_student(ctx: ToolContext) -> Trained:
    """Train the student on the seed examples plus every accepted teacher-labelled sample.

    Ends a round: the dev score and the tokens spent so far are recorded. "stop" in the result
    means the run should finish now (budget spent, round limit, or no more progress).
    """
    state = ctx.state
    start = time.perf_counter()
    train = ctx.train_set
    dev, train_loss = await asyncio.to_thread(ctx.train_and_score)
    state.round += 1
    state.dev_history.append(dev.main_score)
    state.predictions = []
    stop = ctx.end_round(
        {
            "round": state.round,
            "n_train": len(train),
            "n_synthetic": len(state.synthetic),
            "dev": dev.to_dict(),
            "dev_f1": dev.main_score,
            "train_loss": train_loss,
            "wall_seconds": round(time.perf_counter() - start, 2),
            "llkd": state.selection,
        }
    )
    selected = (state.selection or {}).get("pool_selected_fraction")
    return Trained(
        round=state.round,
        train_size=len(train),
        dev_score=round(dev.main_score, 4),
        best_dev_score=round(max(state.dev_history), 4),
        tokens_spent=ctx.generator.ledger.spent,
        pool_selected_fraction=selected,
        stop=stop is not None,
        stop_reason=stop,
    )
