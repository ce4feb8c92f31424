"""Tool: the teacher explains the student's weakness from its wrong and correct samples."""

from __future__ import annotations

from dataclasses import dataclass

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import DistillContext
from evokd_agent.distill.steps import analyze_weakness as analyze


@dataclass(frozen=True, kw_only=True)
class Analysis(ToolResult):
    """The teacher's analysis, or why there is none."""

    ok: bool
    analysis: str
    error: str
    budget_exhausted: bool
    stop: bool  # the budget is spent: end the rounds


@tool
async def analyze_weakness(ctx: DistillContext) -> Analysis:
    """Ask the teacher what the student gets wrong, from the samples `sample_errors` picked.

    The analysis stays in the teacher's conversation, so later generations build on it.
    """
    report = await analyze(ctx)
    return Analysis(
        ok=report.ok,
        analysis=report.text,
        error=report.error,
        budget_exhausted=report.budget_exhausted,
        stop=report.budget_exhausted,
    )
