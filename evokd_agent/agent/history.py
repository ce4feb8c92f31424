"""Keep a chat history within a size budget without breaking tool-call pairs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

Measure = Callable[[Mapping[str, Any]], int]


def message_chars(message: Mapping[str, Any]) -> int:
    """Default size of a message: characters of its JSON (about 4 per token)."""
    return len(json.dumps(message, ensure_ascii=False, default=str))


def trim_history(
    messages: list[dict[str, Any]], *, pinned: int, budget: int, measure: Measure = message_chars
) -> list[dict[str, Any]]:
    """Drop the oldest turns after the first `pinned` messages until the total fits `budget`.

    A turn is a user or assistant message with the `tool` messages answering it: an assistant
    tool call is never kept without its results, nor a result without its call. The latest turn
    is always kept, even over budget.
    """
    head, tail = messages[:pinned], messages[pinned:]
    turns: list[list[dict[str, Any]]] = []
    for message in tail:
        if message.get("role") == "tool" and turns:
            turns[-1].append(message)
        else:
            turns.append([message])
    total = sum(measure(m) for m in head) + sum(measure(m) for t in turns for m in t)
    start = 0
    while total > budget and start < len(turns) - 1:
        total -= sum(measure(m) for m in turns[start])
        start += 1
    return head + [m for turn in turns[start:] for m in turn]
