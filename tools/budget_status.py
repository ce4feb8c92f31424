"""Tool: how much of the token budget is spent, by phase."""

from __future__ import annotations

from typing import Any

from evokd_agent.agent import tool
from evokd_agent.methods.context import DistillContext


@tool
async def budget_status(ctx: DistillContext) -> dict[str, Any]:
    """Report the teacher tokens spent and left, and what they were spent on."""
    ledger = ctx.generator.ledger
    exhausted = ledger.exhausted
    return {"summary": ledger.status().summary(), "budget_exhausted": exhausted, "stop": exhausted}
