"""The fake server refuses chat histories that strict servers (llama-cpp-python, OpenAI) refuse."""

from __future__ import annotations

import copy
from typing import Any

import openai
import pytest

from evokd_agent.servers.chat_validation import chat_validation_error
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests.teacher.test_invalid_request import OLD_AGENT_HISTORY


def history() -> list[dict[str, Any]]:
    valid = copy.deepcopy(OLD_AGENT_HISTORY)
    valid[2]["content"] = ""
    return valid


async def test_old_agent_history_gets_llama_cpp_style_500() -> None:
    with FakeOpenAIServer([FakeReply.text("scripted")]) as srv:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as client:
            with pytest.raises(openai.InternalServerError) as info:
                await client.chat.completions.create(
                    model="fake-model",
                    messages=OLD_AGENT_HISTORY,  # type: ignore[arg-type]
                )
            ok = await client.chat.completions.create(
                model="fake-model",
                messages=history(),  # type: ignore[arg-type]
            )
    assert info.value.status_code == 500
    message = str(info.value)
    assert "validation error" in message and "messages.2.content" in message
    assert "Input should be a valid string" in message and "string_type" in message
    assert ok.choices[0].message.content == "scripted"  # the refused request used no reply


def test_valid_history_passes() -> None:
    assert chat_validation_error(history()) is None
    assert chat_validation_error([{"role": "user", "content": "hi"}]) is None


def _broken(change: Any) -> list[dict[str, Any]]:
    messages = history()
    change(messages)
    return messages


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], "messages\n  Input should be a non-empty list"),
        ([{"role": "robot", "content": "x"}], "messages.0.role\n  Input should be 'system'"),
        ([{"role": "user"}], "messages.0.content\n  Field required"),
        ([{"role": "user", "content": None}], "messages.0.content\n  Input should be a valid str"),
        (_broken(lambda m: m[2].pop("content")), "messages.2.content\n  Field required"),
        (_broken(lambda m: m[3].pop("tool_call_id")), "messages.3.tool_call_id\n  Field required"),
        (_broken(lambda m: m[3].update(tool_call_id="x")), "does not answer a tool call"),
        (_broken(lambda m: m.pop(3)), "messages.2\n  Value error, tool calls ['call_0'] are"),
        (_broken(lambda m: m[3].update(name="t")), "messages.3.name\n  Extra inputs"),
        (_broken(lambda m: m[2]["tool_calls"][0].pop("type")), "tool_calls.0.type"),
        (
            _broken(lambda m: m[2]["tool_calls"][0]["function"].update(arguments={})),
            "tool_calls.0.function.arguments\n  Input should be a valid string",
        ),
        (
            _broken(lambda m: m.insert(3, {"role": "user", "content": "go on"})),
            "messages.3\n  Value error, tool calls ['call_0'] are not answered",
        ),
    ],
    ids=lambda v: "" if isinstance(v, list) else v.split("\n")[0][:40],
)
def test_invalid_histories_are_named(messages: list[dict[str, Any]], expected: str) -> None:
    problem = chat_validation_error(messages)
    assert problem is not None and "for CreateChatCompletionRequest" in problem
    assert expected in problem
