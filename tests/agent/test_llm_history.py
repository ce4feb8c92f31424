"""The `llm` policy's history is valid for strict servers, turn after turn, over real HTTP.

The fake server refuses what llama-cpp-python refuses (a null assistant content, a tool result
answering no call, ...), so every request of a run reaching the script proves its history valid.
"""

from __future__ import annotations

import pytest

from evokd_agent.agent import AgentResult, LlmConfig, LlmPolicy, ToolRegistry, run_agent
from evokd_agent.agent.chat import ChatFn
from evokd_agent.agent.openai_chat import openai_chat_fn
from evokd_agent.run.toolset import generator_chat_fn
from evokd_agent.servers.chat_validation import chat_validation_error
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeToolCall
from tests.agent.sample_tools import Recorder
from tests.teacher.conftest import generator_for

openai = pytest.importorskip("openai")


def script() -> list[FakeReply]:
    # The fake server numbers calls from call_0 in every reply, as a cached reply repeats ids.
    two_calls = (FakeToolCall("sample_errors", '{"k": 3}'), FakeToolCall("train_student", "{}"))
    return [
        FakeReply.tool_call("evaluate_student", {}),  # content null, as llama.cpp sends it
        FakeReply(content="Two at once.", tool_calls=two_calls),
        FakeReply.text("I would now generate samples."),  # prose: nudged
        FakeReply.tool_call("no_such_tool", {}),  # unknown tool: an invalid step
        FakeReply.text("Still prose."),  # second invalid step in a row: the fallback acts
        FakeReply.tool_call("evaluate_student", {"split": "dev"}),
        FakeReply.tool_call("finish", {"summary": "done"}),
    ]


@pytest.mark.parametrize("via", ["openai", "generator"])
async def test_every_request_of_a_mixed_run_is_valid(
    registry: ToolRegistry[Recorder], via: str
) -> None:
    config = LlmConfig(max_invalid_steps=2)
    with FakeOpenAIServer(script()) as srv:
        if via == "openai":
            async with openai.AsyncOpenAI(
                base_url=srv.base_url, api_key="k", max_retries=0
            ) as client:
                result = await _run(openai_chat_fn(client, "fake-model"), registry, config)
        else:
            async with generator_for(srv.base_url, max_retries=0) as gen:
                result = await _run(generator_chat_fn(gen), registry, config)
        sent = srv.requests
    assert result.stop_reason == "finish"
    sources = [(s.action.tool, s.action.source) for s in result.steps]
    assert sources == [
        ("evaluate_student", "llm"),
        ("sample_errors", "llm"),
        ("train_student", "llm"),
        ("no_such_tool", "llm"),
        ("evaluate_student", "fallback"),
        ("evaluate_student", "llm"),
        ("finish", "llm"),
    ]
    assert len(sent) == 7  # no request was refused (a refusal would not reach the script)
    for body in sent:
        assert chat_validation_error(body["messages"]) is None
    last = sent[-1]["messages"]
    assistant_calls = [m for m in last if m["role"] == "assistant" and "tool_calls" in m]
    assert all(isinstance(m["content"], str) for m in last)
    assert assistant_calls[0]["content"] == "" and assistant_calls[1]["content"] == "Two at once."
    ids = [c["id"] for m in assistant_calls for c in m["tool_calls"]]
    assert len(ids) == len(set(ids))  # unique, though the server repeated call_0


async def _run(chat: ChatFn, registry: ToolRegistry[Recorder], config: LlmConfig) -> AgentResult:
    policy = LlmPolicy(chat, registry, config)
    return await run_agent(policy, registry, Recorder(), max_steps=20)
