"""The tools a run offers the agent: the built-in ones plus the user's files and modules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evokd_agent.agent import AssistantReply, ChatFn, ToolCallRequest, ToolRegistry
from evokd_agent.distill.context import DistillContext
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.request import ChatRequest

# Explicit list, in the order the tools are shown to the model.
BUILTIN_TOOL_MODULES: tuple[str, ...] = (
    "evaluate_student",
    "sample_errors",
    "analyze_weakness",
    "generate_samples",
    "label_samples",
    "score_confidence",
    "eda_augment",
    "train_student",
    "budget_status",
    "finish",
)


def build_registry(extra_tools: Sequence[str] = ()) -> ToolRegistry[DistillContext]:
    """Built-in tools, then each extra entry: a `.py` file path or an importable module name."""
    registry: ToolRegistry[DistillContext] = ToolRegistry()
    for name in BUILTIN_TOOL_MODULES:
        registry.load_module(f"evokd_agent.builtin_tools.{name}")
    for entry in extra_tools:
        if entry.endswith(".py") or Path(entry).is_file():
            registry.load_file(entry)
        else:
            registry.load_module(entry)
    return registry


def generator_chat_fn(
    generator: ChatGenerator, *, round_of: Any = None, max_tokens: int = 256
) -> ChatFn:
    """The model policies' `chat` over the generator: budgeted, cached and logged as "agent".

    `round_of` is a callable returning the current round, for spend attribution.
    """

    async def chat(
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        response_format: dict[str, Any] | None,
    ) -> AssistantReply:
        request = ChatRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,
            tools=tools,
            response_format=response_format,
            phase="agent",
            round=int(round_of()) if round_of is not None else 0,
            template_version="agent",
        )
        result = await generator.complete(request)
        if result.response is None:
            # The policy sees an empty reply and counts an invalid step; the error is logged.
            return AssistantReply(content=None)
        message = result.response.choices[0].message
        calls = [
            ToolCallRequest(call.id, call.function.name, call.function.arguments or "")
            for call in message.tool_calls or []
            if call.type == "function"
        ]
        return AssistantReply(content=message.content, tool_calls=calls)

    return chat
