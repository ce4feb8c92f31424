"""The JSON-action policy: lenient parsing, corrections, and what it sends."""

from __future__ import annotations

from typing import Any

import pytest

from evokd_agent.agent import AgentState, JsonConfig, JsonPolicy, ToolRegistry
from evokd_agent.agent.json_policy import extract_json_object, parse_action
from tests.agent.fakes import FakeChat, text
from tests.agent.sample_tools import Recorder


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"tool": "train_student", "arguments": {"epochs": 2}}', ("train_student", {"epochs": 2})),
        (
            'Sure! ```json\n{"name": "sample_errors", "args": {"k": 3}}\n``` Done.',
            ("sample_errors", {"k": 3}),
        ),
        ('{"tool": "train_student", "epochs": 4}', ("train_student", {"epochs": 4})),
        (
            '{"action": "finish", "arguments": "{\\"summary\\": \\"ok\\"}"}',
            ("finish", '{"summary": "ok"}'),
        ),
        ('{"tool": "finish", "arguments": null}', ("finish", {})),
        ('I pick {"tool": "evaluate_student"} now', ("evaluate_student", {})),
        ('{broken {"tool": "finish", "arguments": {}}', ("finish", {})),
    ],
)
def test_parse_action_accepts_what_weak_models_write(reply: str, expected: tuple[str, Any]) -> None:
    assert parse_action(reply) == expected


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I will train the student now.", "no JSON object"),
        ('{"arguments": {"k": 3}}', 'no "tool" field'),
        ('{"tool": "finish", "arguments": [1, 2]}', '"arguments" must be a JSON object'),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_parse_action_problems_are_described(reply: str, problem: str) -> None:
    result = parse_action(reply)
    assert isinstance(result, str)
    assert problem in result


def test_extract_json_object_skips_non_objects() -> None:
    assert extract_json_object('[1] then {"a": {"b": 2}} and {"c": 3}') == {"a": {"b": 2}}
    assert extract_json_object("{ no json here }") is None


async def test_asks_for_json_and_corrects_bad_replies(registry: ToolRegistry[Recorder]) -> None:
    chat = FakeChat.of(
        [
            text("Let me think about what to do."),
            text('{"tool": "sample_errors", "arguments": {"k": 50}}'),
        ]
    )
    policy = JsonPolicy(chat, registry)
    ctx, state = Recorder(), AgentState(max_steps=5)
    action = await policy.next_action(state)
    assert (action.tool, action.arguments, action.source) == ("sample_errors", {"k": 50}, "json")
    assert policy.invalid_steps == 1
    first = chat.sent[0]
    assert first.tools is None
    assert first.response_format == {"type": "json_object"}
    system = first.messages[0]["content"]
    assert '"tool": "<name>"' in system
    for name in registry.names():
        assert f"- {name}: " in system
    assert '"maximum":20' in system.replace(" ", "")  # parameter schemas are in the prompt
    correction = chat.sent[1].messages[-1]
    assert correction["role"] == "user"
    assert "no JSON object" in correction["content"]

    assert action.tool is not None
    outcome = await registry.call(action.tool, action.arguments, ctx)
    policy.observe(action, outcome)
    assert policy.messages[-1]["role"] == "user"
    assert policy.messages[-1]["content"].startswith("Result of `sample_errors`:\nNote: k clamped")
    assert policy.invalid_steps == 0


async def test_unparseable_replies_fall_back(registry: ToolRegistry[Recorder]) -> None:
    chat = FakeChat.of([text("no"), text("still no")])
    policy = JsonPolicy(chat, registry, JsonConfig(max_invalid_steps=2))
    action = await policy.next_action(AgentState(max_steps=5))
    assert (action.tool, action.source) == ("evaluate_student", "fallback")
    assert len(chat.sent) == 2


async def test_send_schema_constrains_the_tool_name(registry: ToolRegistry[Recorder]) -> None:
    chat = FakeChat.of([text('{"tool": "finish", "arguments": {}}')])
    policy = JsonPolicy(chat, registry, JsonConfig(send_schema=True))
    await policy.next_action(AgentState(max_steps=5))
    response_format = chat.sent[0].response_format
    assert response_format is not None
    assert response_format["type"] == "json_object"
    assert response_format["schema"]["properties"]["tool"]["enum"] == registry.names()
