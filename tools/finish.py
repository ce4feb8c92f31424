"""Tool: end the run; only now is the held-out test split read."""

from __future__ import annotations

import asyncio
from typing import Any

from evokd_agent.agent import tool
from evokd_agent.methods.context import DistillContext


@tool
async def finish(ctx: DistillContext, reason: str = "done") -> dict[str, Any]:
    """Finish the distillation: save the final student and score it once on the test split.

    Args:
        reason: Why the run ends, in a few words.
    """
    state = ctx.state
    dev = await asyncio.to_thread(ctx.evaluate, list(ctx.dev))
    test = await asyncio.to_thread(ctx.evaluate, list(ctx.test)) if ctx.test else None
    state.finished = True
    state.final = {
        "reason": reason,
        "rounds": state.round,
        "tokens_spent": ctx.generator.ledger.spent,
        "dev": dev.to_dict(),
        "dev_score": dev.main_score,
        "test": test.to_dict() if test else None,
        "test_score": test.main_score if test else None,
        "checkpoint": ctx.save_final(),
    }
    return {k: v for k, v in state.final.items() if k not in ("dev", "test")}
