"""(slow) The `llm` policy drives several steps on the embedded llama.cpp teacher, unrefused.

llama-cpp-python validates each request with pydantic and answers HTTP 500 to a history it
refuses (it refused the assistant tool call sent with a null content). The tool choices of a
135M model do not matter here, only that every request of a multi-step history is accepted.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import openai
import pytest

from evokd_agent.agent import AssistantReply, LlmConfig, LlmPolicy, ToolRegistry, run_agent
from evokd_agent.agent.openai_chat import openai_chat_fn
from evokd_agent.servers.embedded import EmbeddedTeacher
from tests.agent.sample_tools import Recorder

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python not installed")
async def test_llm_policy_history_is_accepted_by_the_embedded_server() -> None:
    registry: ToolRegistry[Recorder] = ToolRegistry()
    registry.load_module("tests.agent.sample_tools")
    sent: list[list[dict[str, Any]]] = []
    with EmbeddedTeacher() as teacher:
        async with openai.AsyncOpenAI(
            base_url=teacher.base_url, api_key="x", max_retries=0
        ) as client:
            # The openai client raises on any refusal (4xx, or llama.cpp's validation 500).
            send = openai_chat_fn(client, teacher.model, temperature=0.0, max_tokens=48)

            async def chat(
                messages: list[dict[str, Any]],
                tools: list[dict[str, Any]] | None,
                response_format: dict[str, Any] | None,
            ) -> AssistantReply:
                sent.append(messages)
                return await send(messages, tools, response_format)

            # A high invalid-step limit keeps the model (not the fallback) choosing each step.
            policy = LlmPolicy(chat, registry, LlmConfig(max_invalid_steps=10))
            result = await run_agent(policy, registry, Recorder(), max_steps=4)
    assert len(sent) >= 3
    answered = [m for m in sent if any(x["role"] == "tool" for x in m)]
    assert answered, "no request carried an assistant tool call and its result"
    for messages in answered:
        calls = [m for m in messages if m["role"] == "assistant" and "tool_calls" in m]
        assert calls and all(isinstance(m["content"], str) for m in calls)
    assert sum(1 for s in result.steps if s.action.source == "llm") >= 3
