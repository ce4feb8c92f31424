"""The agent loop: ask the policy, call the tool through the registry, report back, repeat."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from evokd_agent.agent.actions import Action, AgentState, Policy, StepRecord
from evokd_agent.agent.errors import StopRun, ToolError
from evokd_agent.agent.registry import ToolRegistry
from evokd_agent.agent.tool import ToolOutcome

CtxT = TypeVar("CtxT")
EventSink = Callable[[dict[str, Any]], None]
StopReason = Literal["finish", "max_steps", "stop_run", "policy_stop"]


@dataclass(frozen=True)
class AgentResult:
    """How an agent run ended."""

    stop_reason: StopReason
    """`finish` called, `max_steps` reached, a tool raised `StopRun`, or the policy stopped."""
    detail: str
    """Human-readable detail of the stop (the StopRun or policy reason)."""
    steps: tuple[StepRecord, ...]
    """Every tool call made, in order."""
    final: ToolOutcome | None = None
    """The `finish` tool's outcome, when the run finished that way."""


async def run_agent(
    policy: Policy,
    registry: ToolRegistry[CtxT],
    ctx: CtxT,
    *,
    max_steps: int,
    on_event: EventSink | None = None,
    finish_tool: str = "finish",
    log_text: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> AgentResult:
    """Run `policy` until `finish` succeeds, `max_steps` tool calls, `StopRun`, or a policy stop.

    Every call goes through `registry`, so arguments are validated and clamped whatever the
    policy. Events carry tool names, validated arguments, status and duration; model text
    (raw arguments, results, the model's prose) is added only when `log_text` is set.
    A `ToolError` (a tool crashed) is reported as an `agent_error` event and re-raised.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    emit = on_event or _ignore
    state = AgentState(max_steps=max_steps)
    emit({"event": "agent_start", "max_steps": max_steps, "tools": registry.names()})
    result: AgentResult | None = None
    while result is None and state.step < max_steps:
        action = await policy.next_action(state)
        if action.tool is None:
            result = _result(state, "policy_stop", action.reason)
            break
        if action.tool == finish_tool and finish_tool not in registry:
            result = _result(state, "finish", "finish requested (no finish tool registered)")
            break
        started = clock()
        try:
            outcome = await registry.call(action.tool, action.arguments, ctx)
        except StopRun as stop:
            emit(_call_event(state.step, action, None, clock() - started, log_text, stop.reason))
            result = _result(state, "stop_run", stop.reason)
            break
        except ToolError as exc:
            emit(
                {
                    "event": "agent_error",
                    "step": state.step,
                    "tool": exc.tool_name,
                    "error": str(exc),
                }
            )
            raise
        step = StepRecord(action, outcome, clock() - started)
        emit(_call_event(state.step, action, outcome, step.duration_s, log_text, None))
        state.steps.append(step)
        policy.observe(action, outcome)
        if action.tool == finish_tool and outcome.ok:
            result = _result(state, "finish", "finish called", final=outcome)
    if result is None:
        result = _result(state, "max_steps", f"stopped after {max_steps} tool calls")
    emit(
        {
            "event": "agent_stop",
            "reason": result.stop_reason,
            "detail": result.detail,
            "steps": len(result.steps),
        }
    )
    return result


def _result(
    state: AgentState, reason: StopReason, detail: str, final: ToolOutcome | None = None
) -> AgentResult:
    return AgentResult(reason, detail, tuple(state.steps), final)


def _call_event(
    step: int,
    action: Action,
    outcome: ToolOutcome | None,
    duration: float,
    log_text: bool,
    stop_reason: str | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "tool_call",
        "step": step,
        "tool": action.tool,
        "source": action.source,
        "status": outcome.status if outcome is not None else "stop_run",
        "ok": outcome.ok if outcome is not None else False,
        "arguments": outcome.arguments if outcome is not None else None,
        "notes": list(outcome.notes) if outcome is not None else [],
        "duration_s": round(duration, 6),
    }
    if stop_reason is not None:
        event["stop_reason"] = stop_reason
    if log_text:
        raw = action.arguments
        event["raw_arguments"] = raw if raw is None or isinstance(raw, str) else dict(raw)
        event["result"] = outcome.content if outcome is not None else None
        event["model_text"] = action.text
    return event


def _ignore(event: dict[str, Any]) -> None:
    return None
