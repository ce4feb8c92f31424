"""The one function a model-driven policy needs from a teacher client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class ToolCallRequest(NamedTuple):
    """One function call in an assistant reply."""

    id: str
    """Call id, echoed in the `tool` message that answers it."""
    name: str
    """Function name the model chose."""
    arguments: str
    """Arguments text exactly as the model wrote it (JSON, or not)."""


@dataclass(frozen=True)
class AssistantReply:
    """An assistant message, reduced to what policies read."""

    content: str | None = None
    """Message text, if any."""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    """Function calls, in order."""


ChatFn = Callable[
    [list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any] | None],
    Awaitable[AssistantReply],
]
"""`chat(messages, tools, response_format) -> AssistantReply`.

When `tools` is given, implementations must also send `tool_choice="auto"`: some servers
(llama.cpp) ignore tools without it. `response_format` is passed through when not None.
"""
