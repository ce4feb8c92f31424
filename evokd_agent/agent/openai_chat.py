"""Adapt an `openai.AsyncOpenAI` client to the `chat` function the model policies call."""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI

from evokd_agent.agent.chat import AssistantReply, ChatFn, ToolCallRequest


def openai_chat_fn(client: AsyncOpenAI, model: str, **params: Any) -> ChatFn:
    """A `chat(messages, tools, response_format)` that calls `client.chat.completions.create`.

    `params` (temperature, max_tokens, ...) go into every request. With tools, `tool_choice`
    is set to "auto" because some servers (llama.cpp) ignore tools without it.
    """

    async def chat(
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        response_format: dict[str, Any] | None,
    ) -> AssistantReply:
        request: dict[str, Any] = {**params, "model": model, "messages": messages}
        if tools:
            request["tools"] = tools
            request["tool_choice"] = "auto"
        if response_format is not None:
            request["response_format"] = response_format
        response = await client.chat.completions.create(**request)
        message = response.choices[0].message
        calls = [
            ToolCallRequest(call.id, call.function.name, call.function.arguments or "")
            for call in message.tool_calls or []
            if getattr(call, "function", None) is not None
        ]
        return AssistantReply(content=message.content, tool_calls=calls)

    return chat
