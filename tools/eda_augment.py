"""Tool: rule-based word edits of the seed examples (the EDA baseline; no teacher, 0 tokens)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from evokd_agent.agent import ToolResult, tool
from evokd_agent.distill.context import ToolContext, sample_text
from evokd_agent.distill.eda import DEFAULT_ALPHA, augment
from evokd_agent.distill.intake import Intake, new_batch


@dataclass(frozen=True, kw_only=True)
class Edited(ToolResult):
    """How many edits were made and accepted into the training set."""

    made: int
    accepted: int
    rejected: dict[str, int]
    train_size: int
    tokens_spent: int


@tool
async def eda_augment(
    ctx: ToolContext,
    per_seed: Annotated[int, Field(ge=1, le=64)] = 4,
    alpha: Annotated[float, Field(ge=0.05, le=0.5)] = DEFAULT_ALPHA,
) -> Edited:
    """Make new training samples from the seed examples by simple word edits, without the teacher.

    Each new sample is a seed example with a few of its own words swapped, deleted, or repeated
    at another place; it keeps the seed's label (for NER, entity words are never touched).
    Costs no teacher tokens. The new samples become the newest batch and join the training set;
    call `train_student` next.

    Args:
        per_seed: New samples to make from each seed example.
        alpha: Share of a sentence's words one edit changes (0.1 = one word in ten, at least one).
    """
    state = ctx.state
    rnd = state.round + 1
    # Seeded from the run seed and the round: a resumed run replays the same edits.
    rng = random.Random(f"eda:{ctx.seed}:{rnd}")
    intake = Intake(ctx)
    made = 0
    for seed in ctx.seeds:
        for edit in augment(seed, per_seed, rng, alpha=alpha):
            made += 1
            text = sample_text(edit.sample)
            row: dict[str, Any] = {
                "round": rnd,
                "kind": "eda",
                "prompt_id": f"eda/{edit.operation}",
                "stage": "augmented",
                "text": text,
                "source_text": sample_text(seed),
                "operation": edit.operation,
                "changes": edit.changes,
                "teacher_confidence": None,
            }
            # Edits are near-duplicates of their seed by design: only exact repeats and
            # evaluation texts (leak guard) are refused.
            if intake.check_text(row, text, near_duplicates=False):
                intake.admit(row, edit.sample, index=text)
    new_batch(ctx, intake.accepted)
    return Edited(
        made=made,
        accepted=len(intake.accepted),
        rejected=intake.rejected,
        train_size=len(ctx.train_set),
        tokens_spent=0,
    )
