"""Tool: the teacher labels the pending inputs (several per request, `labelling.per_request`)."""

from __future__ import annotations

from dataclasses import dataclass

from evokd_agent.agent import ToolResult, ToolRetry, tool
from evokd_agent.distill.context import DistillContext
from evokd_agent.distill.intake import new_batch
from evokd_agent.distill.labelling import label_candidates


@dataclass(frozen=True, kw_only=True)
class Labelled(ToolResult):
    """How many inputs were labelled and accepted into the training set."""

    labelled: int
    accepted: int
    rejected: dict[str, int]
    train_size: int
    budget_exhausted: bool
    stop: bool  # the budget is spent: end the rounds


@tool
async def label_samples(ctx: DistillContext, keep_hints: bool = False) -> Labelled:
    """Label every input written by `generate_samples` that has no label yet.

    Labels outside the label set, entities that are not in the sentence and duplicates are
    rejected. The accepted samples become the newest batch and join the training set.

    Args:
        keep_hints: Classification only: give each input written for a known label (a rewrite
            of a seed keeps the seed's label) that label without asking the teacher, which
            saves the labelling tokens. NER inputs are always labelled by the teacher.
    """
    if not ctx.state.candidates:
        raise ToolRetry("nothing to label: call generate_samples first")
    report, accepted = await label_candidates(ctx, keep_hints=keep_hints)
    new_batch(ctx, accepted)
    return Labelled(
        labelled=report.produced,
        accepted=report.accepted,
        rejected=report.rejected,
        train_size=len(ctx.train_set),
        budget_exhausted=report.budget_exhausted,
        stop=report.budget_exhausted,
    )
