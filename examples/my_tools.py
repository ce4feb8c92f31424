"""An extra agent tool, as a user writes one: add `extra_tools: [my_tools.py]` to a config."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import Field

from evokd_agent import TextSample, ToolContext, ToolRetry, tool


@tool
async def class_balance(
    ctx: ToolContext, top: Annotated[int, Field(ge=1, le=10)] = 3
) -> dict[str, int]:
    """Count the training samples of each label, most frequent first.

    Args:
        top: How many labels to show.
    """
    labels = [s.label for s in ctx.train_set if isinstance(s, TextSample)]
    if not labels:
        raise ToolRetry("no labelled sentences yet: this tool is for classification runs")
    return dict(Counter(labels).most_common(top))
