"""Tool: end the run; only now is the held-out test split read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import ToolContext


@dataclass(frozen=True, kw_only=True)
class Finished(ToolResult):
    """The final scores and where the final student is (the full metrics are in final.json)."""

    reason: str
    rounds: int
    tokens_spent: int
    dev_score: float
    test_score: float | None
    checkpoint: str


@tool
async def finish(ctx: ToolContext, reason: str = "done") -> Finished:
    """Finish the distillation: save the final student and score it once on the test split.

    Args:
        reason: Why the run ends, in a few words.
    """
    state = ctx.state
    # Requests of an interrupted earlier life that this replay did not make again still count.
    ctx.generator.ledger.settle_holds()
    dev = await asyncio.to_thread(ctx.evaluate, list(ctx.dev))
    test = await asyncio.to_thread(ctx.evaluate, list(ctx.test)) if ctx.test else None
    state.finished = True
    result = Finished(
        reason=reason,
        rounds=state.round,
        tokens_spent=ctx.generator.ledger.spent,
        dev_score=dev.main_score,
        test_score=test.main_score if test else None,
        checkpoint=ctx.save_final(),
    )
    state.final = {
        "reason": result.reason,
        "rounds": result.rounds,
        "tokens_spent": result.tokens_spent,
        "dev": dev.to_dict(),
        "dev_score": result.dev_score,
        "test": test.to_dict() if test else None,
        "test_score": result.test_score,
        "checkpoint": result.checkpoint,
    }
    return result
