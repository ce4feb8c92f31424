"""The function-calling policy against a scripted fake model."""

from __future__ import annotations

import json
from typing import Any

from evokd_agent.agent import (
    Action,
    AgentState,
    LlmConfig,
    LlmPolicy,
    ScriptedConfig,
    ScriptedPolicy,
    ToolOutcome,
    ToolRegistry,
)
from evokd_agent.agent.history import message_chars, trim_history
from tests.agent import sample_tools
from tests.agent.fakes import FakeChat, call, calls, text
from tests.agent.sample_tools import Recorder


async def act(
    policy: LlmPolicy, registry: ToolRegistry[Recorder], ctx: Recorder, state: AgentState
) -> tuple[Action, ToolOutcome]:
    action = await policy.next_action(state)
    assert action.tool is not None
    outcome = await registry.call(action.tool, action.arguments, ctx)
    policy.observe(action, outcome)
    return action, outcome


async def test_tool_calls_and_results_with_call_ids(registry: ToolRegistry[Recorder]) -> None:
    chat = FakeChat.of(
        [
            calls(call("generate_samples", "{n: 5", "c1")),  # broken JSON
            calls(call("generate_samples", {"n": 500}, "c2"), content="trying again"),
        ]
    )
    policy = LlmPolicy(chat, registry, LlmConfig(task="Distil SST-2."))
    ctx, state = Recorder(), AgentState(max_steps=10)

    first, outcome = await act(policy, registry, ctx, state)
    assert (first.tool, first.call_id, first.source) == ("generate_samples", "c1", "llm")
    assert outcome.status == "invalid_arguments"
    second, outcome = await act(policy, registry, ctx, state)
    assert outcome.ok and ctx.calls == [
        ("generate_samples", {"n": 50, "mode": "hard", "labels": None})
    ]
    assert second.text == "trying again"

    sent = chat.sent[1]
    assert sent.tools == registry.schemas()
    assert sent.response_format is None
    assert [m["role"] for m in sent.messages] == ["system", "user", "assistant", "tool"]
    assert sent.messages[1]["content"] == "Distil SST-2."
    assert sent.messages[2]["tool_calls"][0]["id"] == "c1"
    assert sent.messages[3]["tool_call_id"] == "c1"
    assert "not valid JSON" in sent.messages[3]["content"]
    assert policy.messages[-1]["tool_call_id"] == "c2"
    assert "n clamped from 500 to 50" in policy.messages[-1]["content"]
    assert policy.invalid_steps == 0  # the ok call reset the streak


async def test_several_calls_in_one_reply_run_before_asking_again(
    registry: ToolRegistry[Recorder],
) -> None:
    chat = FakeChat.of([calls(call("evaluate_student", {}), call("sample_errors", {"k": 2}))])
    policy = LlmPolicy(chat, registry)
    ctx, state = Recorder(), AgentState(max_steps=10)
    first, _ = await act(policy, registry, ctx, state)
    second, _ = await act(policy, registry, ctx, state)
    assert [first.tool, second.tool] == ["evaluate_student", "sample_errors"]
    assert len(chat.sent) == 1
    assert first.call_id and second.call_id and first.call_id != second.call_id
    tool_messages = [m for m in policy.messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [first.call_id, second.call_id]


async def test_prose_is_nudged_once_then_falls_back_to_scripted(
    registry: ToolRegistry[Recorder],
) -> None:
    chat = FakeChat.of(
        [
            text("I think we should evaluate."),
            text("Let me evaluate the student."),
            calls(call("train_student", {"epochs": 1}, "c9")),
        ]
    )
    fallback = ScriptedPolicy(ScriptedConfig(arguments={"evaluate_student": {"split": "dev"}}))
    policy = LlmPolicy(chat, registry, LlmConfig(max_invalid_steps=2), fallback=fallback)
    ctx, state = Recorder(), AgentState(max_steps=10)

    action, _ = await act(policy, registry, ctx, state)
    assert (action.tool, action.source) == ("evaluate_student", "fallback")
    assert ctx.calls == [("evaluate_student", {"split": "dev"})]
    assert len(chat.sent) == 2
    nudges = [m for m in policy.messages if m["role"] == "user" and "tool call" in m["content"]]
    assert len(nudges) == 1
    assert "generate_samples" in nudges[0]["content"] and "finish" in nudges[0]["content"]
    assert policy.fallbacks == 1
    assert "The controller called `evaluate_student`" in policy.messages[-1]["content"]

    action, _ = await act(policy, registry, ctx, state)  # the model gets the next turn again
    assert (action.tool, action.source) == ("train_student", "llm")


async def test_repeated_bad_calls_fall_back(registry: ToolRegistry[Recorder]) -> None:
    chat = FakeChat.of([calls(call("no_such_tool", {})), calls(call("generate_samples", "[]"))])
    policy = LlmPolicy(chat, registry, LlmConfig(max_invalid_steps=2))
    ctx, state = Recorder(), AgentState(max_steps=10)
    statuses = [(await act(policy, registry, ctx, state))[1].status for _ in range(2)]
    assert statuses == ["unknown_tool", "invalid_arguments"]
    action, _ = await act(policy, registry, ctx, state)
    assert (action.tool, action.source) == ("evaluate_student", "fallback")
    assert len(chat.sent) == 2


async def test_stay_on_fallback_stops_asking_the_model(registry: ToolRegistry[Recorder]) -> None:
    chat = FakeChat.of([text("hello")])
    config = LlmConfig(max_invalid_steps=1, stay_on_fallback=True)
    policy = LlmPolicy(chat, registry, config, fallback=ScriptedPolicy(ScriptedConfig(1)))
    ctx, state = Recorder(), AgentState(max_steps=20)
    names = []
    for _ in range(7):
        action, _ = await act(policy, registry, ctx, state)
        names.append(action.tool)
    assert names == [*sample_tools_round(), "finish"]
    assert len(chat.sent) == 1
    assert (await policy.next_action(state)).is_stop


def sample_tools_round() -> list[str]:
    return [
        "evaluate_student",
        "sample_errors",
        "analyze_weakness",
        "generate_samples",
        "label_samples",
        "train_student",
    ]


async def test_history_is_trimmed_without_orphaned_tool_results(
    registry: ToolRegistry[Recorder],
) -> None:
    replies = [calls(call("sample_errors", {"k": 3}, f"c{i}")) for i in range(30)]
    chat = FakeChat.of(replies)
    config = LlmConfig(max_history_chars=3_000, task="T" * 200)
    policy = LlmPolicy(chat, registry, config)
    ctx, state = Recorder(), AgentState(max_steps=40)
    for _ in range(30):
        await act(policy, registry, ctx, state)
    last = chat.sent[-1].messages
    assert last[0]["role"] == "system" and last[1]["content"] == "T" * 200
    assert sum(message_chars(m) for m in last) <= 3_000
    assert len(last) < 2 + 2 * 29  # something was dropped
    assert last[-1]["tool_call_id"] == "c28"  # the latest result is kept
    offered = {c["id"] for m in last if m["role"] == "assistant" for c in m.get("tool_calls", [])}
    answered = [m["tool_call_id"] for m in last if m["role"] == "tool"]
    assert set(answered) == offered


def test_trim_history_keeps_pinned_and_latest_turn_even_over_budget() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]},
        {"role": "tool", "tool_call_id": "a", "content": "x" * 500},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "b"}, {"id": "c"}]},
        {"role": "tool", "tool_call_id": "b", "content": "y" * 500},
        {"role": "tool", "tool_call_id": "c", "content": "z" * 500},
    ]
    kept = trim_history(messages, pinned=2, budget=10)
    assert kept == messages[:2] + messages[4:]
    assert trim_history(messages, pinned=2, budget=10_000) == messages


def test_policy_results_are_cut_to_the_limit(registry: ToolRegistry[Recorder]) -> None:
    policy = LlmPolicy(FakeChat(), registry, LlmConfig(max_result_chars=10))
    action = Action("evaluate_student", "{}", "c1", source="llm")
    policy.observe(action, ToolOutcome("evaluate_student", "ok", "0123456789ABCDEF"))
    assert policy.messages[-1]["content"].startswith("0123456789\n[... 6 more characters cut]")


def test_schemas_sent_are_json_serialisable(registry: ToolRegistry[Recorder]) -> None:
    names = [s["function"]["name"] for s in json.loads(json.dumps(registry.schemas()))]
    assert names == registry.names()
    assert sample_tools.finish_run.name in names
