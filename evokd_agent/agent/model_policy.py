"""What the `llm` and `json` policies share: history, invalid-step counting, scripted fallback.

Weak teachers (a 135M model) often answer in prose or call tools with unusable arguments. Each
such step counts as invalid; after `max_invalid_steps` in a row the next action comes from the
fallback policy (the scripted EvoKD loop by default), so the run still makes progress, and the
model is told what the controller did. With `stay_on_fallback` the fallback drives the rest of
the run; otherwise the model gets the following turn again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from evokd_agent.agent.actions import Action, AgentState, Policy
from evokd_agent.agent.chat import AssistantReply, ChatFn
from evokd_agent.agent.history import Measure, message_chars, trim_history
from evokd_agent.agent.registry import ToolRegistry
from evokd_agent.agent.scripted import ScriptedPolicy
from evokd_agent.agent.tool import ToolOutcome

DEFAULT_SYSTEM_PROMPT = (
    "You run the distillation of a large teacher model into a small student model by calling "
    "tools, one step at a time. A typical round: evaluate_student, sample_errors, "
    "analyze_weakness, generate_samples, label_samples, train_student. Check budget_status when "
    "unsure how many tokens are left, and call finish when the budget is nearly spent or the "
    "student stops improving."
)
DEFAULT_TASK = "Start the run: choose the first tool to call."
_PINNED = 2  # system prompt and task message survive any trimming


@dataclass(frozen=True)
class ModelPolicyConfig:
    """Settings shared by the model-driven policies."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """System message: the model's role and how to use the tools."""
    task: str = DEFAULT_TASK
    """First user message: the run's goal (task type, labels, budget)."""
    max_invalid_steps: int = 3
    """Consecutive invalid steps (prose, bad calls) before the fallback policy acts."""
    stay_on_fallback: bool = False
    """After a fallback, let the fallback policy drive the rest of the run."""
    max_history_chars: int = 12_000
    """Size budget of the history sent each turn (as measured; chars of JSON by default)."""
    max_result_chars: int = 2_000
    """Tool results longer than this are cut before they enter the history."""

    def __post_init__(self) -> None:
        if self.max_invalid_steps < 1:
            raise ValueError(f"max_invalid_steps must be >= 1, got {self.max_invalid_steps}")


class ModelPolicy:
    """Base of `LlmPolicy` and `JsonPolicy`; subclasses turn replies into actions and back."""

    source = "model"

    def __init__(
        self,
        chat: ChatFn,
        registry: ToolRegistry[Any],
        config: ModelPolicyConfig,
        *,
        fallback: Policy | None = None,
        measure: Measure = message_chars,
    ) -> None:
        self.chat = chat
        self.registry = registry
        self.config = config
        self.fallback: Policy = fallback if fallback is not None else ScriptedPolicy()
        self.measure = measure
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system_prompt()},
            {"role": "user", "content": config.task},
        ]
        self.invalid_steps = 0
        """Consecutive invalid steps so far."""
        self.fallbacks = 0
        """Actions taken by the fallback policy so far."""
        self._on_fallback = False
        self._pending: deque[Action] = deque()

    # --- subclass hooks ----------------------------------------------------------------------
    def system_prompt(self) -> str:
        return self.config.system_prompt

    async def ask(self) -> AssistantReply:
        """Send the history to the model."""
        raise NotImplementedError

    def interpret(self, reply: AssistantReply) -> list[Action]:
        """Record the reply in the history; return its actions, or [] after a correction."""
        raise NotImplementedError

    def record_result(self, action: Action, content: str) -> None:
        """Put a tool result for one of the model's own actions into the history."""
        raise NotImplementedError

    # --- Policy ------------------------------------------------------------------------------
    async def next_action(self, state: AgentState) -> Action:
        if self._pending:
            return self._pending.popleft()
        while not self._on_fallback and self.invalid_steps < self.config.max_invalid_steps:
            self.messages = trim_history(
                self.messages,
                pinned=_PINNED,
                budget=self.config.max_history_chars,
                measure=self.measure,
            )
            actions = self.interpret(await self.ask())
            if actions:
                self._pending.extend(actions[1:])
                return actions[0]
            self.invalid_steps += 1
        return await self._fallback_action(state)

    def observe(self, action: Action, outcome: ToolOutcome) -> None:
        self.fallback.observe(action, outcome)
        content = _cut(outcome.content, self.config.max_result_chars)
        if action.source == "fallback":
            arguments = outcome.arguments if outcome.arguments is not None else action.arguments
            self.messages.append(
                {
                    "role": "user",
                    "content": f"The controller called `{action.tool}` with {arguments} "
                    f"for you. Result:\n{content}",
                }
            )
            return
        self.record_result(action, content)
        self.invalid_steps = 0 if outcome.ok else self.invalid_steps + 1

    async def _fallback_action(self, state: AgentState) -> Action:
        self.invalid_steps = 0
        self.fallbacks += 1
        if self.config.stay_on_fallback:
            self._on_fallback = True
        action = await self.fallback.next_action(state)
        return replace(action, source="fallback", call_id=None)

    def tool_list(self) -> str:
        return ", ".join(self.registry.names())


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"
