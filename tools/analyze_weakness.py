"""Tool: the teacher explains the student's weakness from its wrong and correct samples."""

from __future__ import annotations

from typing import Any

from evokd_agent.agent import tool
from evokd_agent.methods.context import DistillContext
from evokd_agent.methods.steps import analyze_weakness as analyze


@tool
async def analyze_weakness(ctx: DistillContext) -> dict[str, Any]:
    """Ask the teacher what the student gets wrong, from the samples `sample_errors` picked.

    The analysis stays in the teacher's conversation, so later generations build on it.
    """
    report = await analyze(ctx)
    return {
        "ok": report.ok,
        "analysis": report.text,
        "error": report.error,
        "budget_exhausted": report.budget_exhausted,
        "stop": report.budget_exhausted,
    }
