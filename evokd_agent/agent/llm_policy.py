"""The `llm` policy: the teacher picks the next tool through function calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evokd_agent.agent.actions import Action, Policy
from evokd_agent.agent.chat import AssistantReply, ChatFn
from evokd_agent.agent.history import Measure, message_chars
from evokd_agent.agent.model_policy import ModelPolicy, ModelPolicyConfig
from evokd_agent.agent.registry import ToolRegistry


@dataclass(frozen=True)
class LlmConfig(ModelPolicyConfig):
    """Settings of the function-calling policy."""

    nudge: str = "Answer with a tool call, not text. Available tools: {tools}."
    """User message sent once when the model answers in prose; `{tools}` lists the tool names."""


class LlmPolicy(ModelPolicy):
    """Sends the history with `tools=registry.schemas()`; each tool call becomes an action.

    Several calls in one reply are run in order before the model is asked again; each result
    goes back as a `tool` message with the call's id. A prose reply gets one nudge per streak and
    counts as an invalid step (see `model_policy` for the fallback).

    The history must pass strict servers: llama-cpp-python answers HTTP 500 to an assistant
    turn whose `content` is null, so it is always a string ("" beside tool calls), and call
    ids are unique within the history so each `tool` result answers exactly one call.
    """

    source = "llm"

    def __init__(
        self,
        chat: ChatFn,
        registry: ToolRegistry[Any],
        config: LlmConfig | None = None,
        *,
        fallback: Policy | None = None,
        measure: Measure = message_chars,
    ) -> None:
        self.llm_config = config or LlmConfig()
        super().__init__(chat, registry, self.llm_config, fallback=fallback, measure=measure)
        self._nudged = False
        self._calls = 0
        self._call_ids: set[str] = set()

    async def ask(self) -> AssistantReply:
        return await self.chat(list(self.messages), self.registry.schemas(), None)

    def interpret(self, reply: AssistantReply) -> list[Action]:
        if not reply.tool_calls:
            if not self._nudged:  # repeating the nudge only grows the history
                self._nudged = True
                self.messages.append({"role": "assistant", "content": reply.content or ""})
                nudge = self.llm_config.nudge.format(tools=self.tool_list())
                self.messages.append({"role": "user", "content": nudge})
            return []
        self._nudged = False
        actions: list[Action] = []
        wire_calls: list[dict[str, Any]] = []
        for call in reply.tool_calls:
            call_id = self._unique_id(call.id)
            function = {"name": call.name, "arguments": call.arguments}
            wire_calls.append({"id": call_id, "type": "function", "function": function})
            actions.append(
                Action(call.name, call.arguments, call_id, source=self.source, text=reply.content)
            )
        self.messages.append(
            {"role": "assistant", "content": reply.content or "", "tool_calls": wire_calls}
        )
        return actions

    def _unique_id(self, server_id: str) -> str:
        # Servers may send no id, and a cached reply repeats the ids of its first use.
        call_id = server_id
        while not call_id or call_id in self._call_ids:
            self._calls += 1
            call_id = f"call_{self._calls}"
        self._call_ids.add(call_id)
        return call_id

    def record_result(self, action: Action, content: str) -> None:
        self.messages.append({"role": "tool", "tool_call_id": action.call_id, "content": content})
