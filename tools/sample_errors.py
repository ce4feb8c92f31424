"""Tool: pick the student's wrong and correct predictions for the teacher to study."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import ToolContext
from evokd_agent.distill.tasks import describe


@dataclass(frozen=True, kw_only=True)
class Picked(ToolResult):
    """The picked predictions, as the teacher will read them."""

    wrong: list[str]
    correct: list[str]


@tool
async def sample_errors(
    ctx: ToolContext,
    max_wrong: Annotated[int, Field(ge=0, le=20)] = 6,
    max_correct: Annotated[int, Field(ge=0, le=20)] = 4,
) -> Picked:
    """Pick wrong and correct predictions from the last `evaluate_student` on the batch.

    Wrong ones come first, the least confident correct ones next; the teacher analyses them.

    Args:
        max_wrong: Most wrong predictions to keep.
        max_correct: Most correct predictions to keep.
    """
    state = ctx.state
    if not state.predictions:
        batch = state.batch or list(ctx.seeds)
        wrong, correct = await asyncio.to_thread(ctx.split_errors, batch)
        state.predictions = [*wrong, *correct]
    wrong = sorted((p for p in state.predictions if not p.correct), key=lambda p: -p.confidence)
    correct = sorted((p for p in state.predictions if p.correct), key=lambda p: p.confidence)
    state.wrong, state.correct = wrong[:max_wrong], correct[:max_correct]
    return Picked(
        wrong=[describe(p.sample) for p in state.wrong],
        correct=[describe(p.sample) for p in state.correct],
    )
