"""The `openai` client adapter, against the project's fake OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from evokd_agent.agent import JsonPolicy, LlmPolicy, ToolRegistry, run_agent
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests.agent.sample_tools import Recorder

openai = pytest.importorskip("openai")
from evokd_agent.agent.openai_chat import openai_chat_fn  # noqa: E402


async def test_llm_policy_over_http(registry: ToolRegistry[Recorder]) -> None:
    script = [
        FakeReply.tool_call("sample_errors", {"k": 99}),
        FakeReply.tool_call("finish", {"summary": "ok"}),
    ]
    ctx = Recorder()
    with FakeOpenAIServer(script) as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="k", max_retries=0
        ) as client:
            chat = openai_chat_fn(client, "fake-model", temperature=0.0)
            result = await run_agent(LlmPolicy(chat, registry), registry, ctx, max_steps=5)
        requests = server.requests
    assert result.stop_reason == "finish"
    assert ctx.calls == [("sample_errors", {"k": 20})]
    first, second = requests
    assert first["tool_choice"] == "auto"
    assert first["temperature"] == 0.0
    assert [t["function"]["name"] for t in first["tools"]] == registry.names()
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["tool_call_id"] == "call_0"
    assert tool_message["content"].startswith("Note: k clamped from 99 to 20.")
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "sample_errors"


async def test_json_policy_over_http(registry: ToolRegistry[Recorder]) -> None:
    reply = json.dumps({"tool": "train_student", "arguments": {"epochs": 2}})
    with FakeOpenAIServer([FakeReply.text(reply)]) as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="k", max_retries=0
        ) as client:
            policy = JsonPolicy(openai_chat_fn(client, "fake-model"), registry)
            result = await run_agent(policy, registry, Recorder(), max_steps=1)
        request = server.requests[0]
    assert result.steps[0].outcome.arguments == {"epochs": 2}
    assert request["response_format"] == {"type": "json_object"}
    assert "tools" not in request and "tool_choice" not in request
