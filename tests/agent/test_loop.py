"""The agent loop: stop conditions, validation whatever the policy, and what events carry."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from evokd_agent.agent import (
    Action,
    AgentState,
    LlmPolicy,
    ScriptedConfig,
    ScriptedPolicy,
    ToolError,
    ToolOutcome,
    ToolRegistry,
    run_agent,
)
from tests.agent.fakes import FakeChat, call, calls
from tests.agent.sample_tools import Recorder

ROUND = ("evaluate_student", "sample_errors", "generate_samples", "train_student")


def scripted(rounds: int, **arguments: dict[str, Any]) -> ScriptedPolicy:
    return ScriptedPolicy(ScriptedConfig(rounds, round_steps=ROUND, arguments=arguments))


async def test_scripted_run_stops_on_finish(registry: ToolRegistry[Recorder]) -> None:
    ctx, events = Recorder(), list[dict[str, Any]]()
    result = await run_agent(scripted(2), registry, ctx, max_steps=50, on_event=events.append)
    assert result.stop_reason == "finish"
    assert [name for name, _ in ctx.calls] == [*ROUND, *ROUND]
    assert [s.action.tool for s in result.steps] == [*ROUND, *ROUND, "finish"]
    assert result.final is not None and result.final.value == {"finished": "yes"}
    assert events[0]["event"] == "agent_start"
    assert events[-1] == {
        "event": "agent_stop",
        "reason": "finish",
        "detail": "finish called",
        "steps": 9,
    }


async def test_stops_at_max_steps(registry: ToolRegistry[Recorder]) -> None:
    ctx = Recorder()
    result = await run_agent(scripted(10), registry, ctx, max_steps=3)
    assert result.stop_reason == "max_steps"
    assert len(result.steps) == len(ctx.calls) == 3


async def test_stop_run_from_a_tool_ends_the_run(registry: ToolRegistry[Recorder]) -> None:
    ctx, events = Recorder(budget_left=0), list[dict[str, Any]]()
    result = await run_agent(scripted(3), registry, ctx, max_steps=50, on_event=events.append)
    assert result.stop_reason == "stop_run"
    assert result.detail == "token budget exhausted"
    assert [name for name, _ in ctx.calls] == list(ROUND)
    stopped = [e for e in events if e.get("status") == "stop_run"]
    assert len(stopped) == 1 and stopped[0]["tool"] == "train_student"


async def test_tool_crash_raises_with_cause_and_event(registry: ToolRegistry[Recorder]) -> None:
    policy = ScriptedPolicy(ScriptedConfig(0), [Action("crash", {"what": "CUDA OOM"})])
    events: list[dict[str, Any]] = []
    with pytest.raises(ToolError, match="CUDA OOM"):
        await run_agent(policy, registry, Recorder(), max_steps=5, on_event=events.append)
    assert events[-1]["event"] == "agent_error" and events[-1]["tool"] == "crash"


async def test_scripted_arguments_are_clamped_too(registry: ToolRegistry[Recorder]) -> None:
    ctx, events = Recorder(), list[dict[str, Any]]()
    policy = scripted(1, generate_samples={"n": 500, "mode": "easy"})
    await run_agent(policy, registry, ctx, max_steps=50, on_event=events.append)
    assert ("generate_samples", {"n": 50, "mode": "easy", "labels": None}) in ctx.calls
    event = next(e for e in events if e.get("tool") == "generate_samples")
    assert event["arguments"] == {"n": 50, "mode": "easy", "labels": None}
    assert event["notes"] == ["n clamped from 500 to 50"]
    assert event["source"] == "scripted" and event["ok"] is True


async def test_events_carry_durations_from_the_injected_clock(
    registry: ToolRegistry[Recorder],
) -> None:
    ticks = itertools.count(step=0.25)
    events: list[dict[str, Any]] = []
    await run_agent(
        scripted(1),
        registry,
        Recorder(),
        max_steps=2,
        on_event=events.append,
        clock=lambda: next(ticks),
    )
    durations = [e["duration_s"] for e in events if e["event"] == "tool_call"]
    assert durations == [0.25, 0.25]


@pytest.mark.parametrize("log_text", [False, True])
async def test_model_text_only_logged_when_asked(
    registry: ToolRegistry[Recorder], log_text: bool
) -> None:
    ctx = Recorder(results={"train_student": "SECRET-RESULT"})
    chat = FakeChat.of(
        [
            calls(call("train_student", {"epochs": 2}), content="SECRET-THOUGHT"),
            calls(call("finish", {"summary": "SECRET-SUMMARY"})),
        ]
    )
    events: list[dict[str, Any]] = []
    result = await run_agent(
        LlmPolicy(chat, registry),
        registry,
        ctx,
        max_steps=10,
        on_event=events.append,
        log_text=log_text,
    )
    assert result.stop_reason == "finish"
    dumped = json.dumps(events)
    for secret in ("SECRET-THOUGHT", "SECRET-RESULT"):
        assert (secret in dumped) is log_text
    call_events = [e for e in events if e["event"] == "tool_call"]
    assert call_events[0]["arguments"] == {"epochs": 2}
    assert call_events[0]["source"] == "llm"


async def test_finish_without_a_finish_tool_still_stops() -> None:
    registry: ToolRegistry[Recorder] = ToolRegistry()
    policy = ScriptedPolicy(ScriptedConfig(0))
    result = await run_agent(policy, registry, Recorder(), max_steps=5)
    assert result.stop_reason == "finish"
    assert result.steps == ()


async def test_policy_stop_and_invalid_finish(registry: ToolRegistry[Recorder]) -> None:
    class Once:
        def __init__(self) -> None:
            self.actions = [Action("finish", '{"summary": 3}'), Action.stop("nothing left")]
            self.seen: list[ToolOutcome] = []

        async def next_action(self, state: AgentState) -> Action:
            return self.actions.pop(0)

        def observe(self, action: Action, outcome: ToolOutcome) -> None:
            self.seen.append(outcome)

    policy = Once()
    result = await run_agent(policy, registry, Recorder(), max_steps=5)
    assert [o.status for o in policy.seen] == ["invalid_arguments"]  # a bad finish does not stop
    assert (result.stop_reason, result.detail) == ("policy_stop", "nothing left")


async def test_max_steps_must_be_positive(registry: ToolRegistry[Recorder]) -> None:
    with pytest.raises(ValueError, match="max_steps"):
        await run_agent(scripted(1), registry, Recorder(), max_steps=0)
