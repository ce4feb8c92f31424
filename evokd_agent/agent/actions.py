"""What a policy decides (an `Action`), what it sees (`AgentState`), and the `Policy` protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from evokd_agent.agent.tool import ToolOutcome

RawArguments = str | Mapping[str, Any] | None


@dataclass(frozen=True)
class Action:
    """Call `tool` with `arguments`, or stop the run (`tool` is None)."""

    tool: str | None
    """Tool to call; None means stop."""
    arguments: RawArguments = None
    """Arguments as the policy got them: JSON text from a model, or a mapping."""
    call_id: str | None = None
    """Id of the model's tool call, to answer it with a `tool` message."""
    source: str = ""
    """Which policy chose the action (`llm`, `json`, `scripted`, `fallback`)."""
    reason: str = ""
    """Why the policy stops (stop actions only)."""
    text: str | None = None
    """The model's text alongside the call; logged only when asked for."""

    @classmethod
    def stop(cls, reason: str, source: str = "") -> Action:
        return cls(tool=None, source=source, reason=reason)

    @property
    def is_stop(self) -> bool:
        return self.tool is None


@dataclass(frozen=True)
class StepRecord:
    """One tool call the loop made."""

    action: Action
    """What the policy asked for."""
    outcome: ToolOutcome
    """What came back."""
    duration_s: float
    """Wall time of the tool call, validation included."""


@dataclass
class AgentState:
    """What the loop knows, handed to the policy at each step."""

    max_steps: int
    """Tool calls allowed in this run."""
    steps: list[StepRecord] = field(default_factory=list)
    """Tool calls made so far, oldest first."""

    @property
    def step(self) -> int:
        """Number of tool calls made so far."""
        return len(self.steps)

    @property
    def last(self) -> StepRecord | None:
        return self.steps[-1] if self.steps else None


class Policy(Protocol):
    """Decides the next tool call; the loop reports each call's outcome back through `observe`."""

    async def next_action(self, state: AgentState) -> Action: ...

    def observe(self, action: Action, outcome: ToolOutcome) -> None: ...
