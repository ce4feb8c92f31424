"""Tool: how much of the token budget is spent, by phase."""

from __future__ import annotations

from dataclasses import dataclass

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import ToolContext


@dataclass(frozen=True, kw_only=True)
class BudgetStatus(ToolResult):
    """Tokens spent and left, in words, and whether the budget is spent."""

    summary: str
    budget_exhausted: bool
    stop: bool  # the budget is spent: end the rounds


@tool
async def budget_status(ctx: ToolContext) -> BudgetStatus:
    """Report the teacher tokens spent and left, and what they were spent on."""
    ledger = ctx.generator.ledger
    exhausted = ledger.exhausted
    return BudgetStatus(
        summary=ledger.status().summary(), budget_exhausted=exhausted, stop=exhausted
    )
