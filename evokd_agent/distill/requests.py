"""Teacher requests as the steps build them: the JSON reply format, the conversation sent (trimmed
to fit), what a step produced and rejected (`StepReport`), and what requests would reserve of
the budget, so a step shrinks to what is left instead of failing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evokd_agent.distill.context import DistillContext
from evokd_agent.prompting import Step
from evokd_agent.teacher.request import ChatRequest, ChatResult, Phase


def _json_format(ctx: DistillContext, schema: dict[str, Any]) -> dict[str, Any] | None:
    mode = ctx.json_mode
    if mode == "off":
        return None
    if mode == "object":
        return {"type": "json_object"}
    return {"type": "json_object", "schema": schema}


def teacher_request(
    ctx: DistillContext,
    messages: list[dict[str, str]],
    *,
    step: Step,
    phase: Phase,
    max_tokens: int,
    temperature: float,
    schema: dict[str, Any],
    sample_index: int = 0,
) -> ChatRequest:
    return ChatRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        response_format=_json_format(ctx, schema) if schema else None,
        phase=phase,
        round=ctx.state.round + 1,
        template_version=f"{ctx.prompts.task}/{step}@{ctx.prompts.version(step)}",
        sample_index=sample_index,
    )


@dataclass
class StepReport:
    """What a teacher step produced, for the tool result and the event log."""

    ok: bool
    """Whether the teacher answered."""
    error: str = ""
    """Why not, when it did not."""
    budget_exhausted: bool = False
    """The token budget cannot pay for this step."""
    produced: int = 0
    """Items produced (inputs written or samples labelled)."""
    accepted: int = 0
    """Items that passed the filters."""
    rejected: dict[str, int] = field(default_factory=dict)
    """Rejections by reason."""
    text: str = ""
    """The analysis text (analysis step only)."""


def failed_report(result: ChatResult) -> StepReport:
    error = result.error
    return StepReport(
        ok=False,
        error=str(error) if error else "empty reply",
        budget_exhausted=error is not None and error.kind == "budget",
    )


def count_rejection(report: StepReport, reason: str) -> None:
    report.rejected[reason] = report.rejected.get(reason, 0) + 1


def reserved_tokens(ctx: DistillContext, requests: Sequence[ChatRequest]) -> int:
    """What the generator would reserve for `requests` (scaled prompt + max_tokens each)."""
    return sum(ctx.generator.estimate(r)[1] for r in requests)


def affordable(ctx: DistillContext, n: int, cost: Callable[[int], int]) -> int:
    """The most items, up to n, whose estimated `cost(items)` fits the budget left (at least 1,
    so that a budget too small for any is refused, and so recorded, by the ledger).

    The last round of a run shrinks to what is left instead of failing on a full-size request:
    this is what lets a method spend its whole budget.
    """
    remaining = ctx.generator.ledger.remaining
    if remaining is None:
        return n
    while n > 1 and cost(n) > remaining:
        n -= 1
    return n
