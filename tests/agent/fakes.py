"""A scripted stand-in for the teacher's chat function, recording what each call was sent."""

from __future__ import annotations

import copy
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evokd_agent.agent import AssistantReply, ToolCallRequest


def call(name: str, arguments: dict[str, Any] | str, call_id: str = "") -> ToolCallRequest:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCallRequest(call_id, name, text)


def calls(*requests: ToolCallRequest, content: str | None = None) -> AssistantReply:
    return AssistantReply(content=content, tool_calls=list(requests))


def text(content: str) -> AssistantReply:
    return AssistantReply(content=content)


@dataclass
class Sent:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    response_format: dict[str, Any] | None


@dataclass
class FakeChat:
    """Answers from a script, in order; fails the test when the script runs out."""

    script: deque[AssistantReply] = field(default_factory=deque)
    sent: list[Sent] = field(default_factory=list)

    @classmethod
    def of(cls, replies: Iterable[AssistantReply]) -> FakeChat:
        return cls(deque(replies))

    async def __call__(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        response_format: dict[str, Any] | None,
    ) -> AssistantReply:
        self.sent.append(Sent(copy.deepcopy(messages), tools, response_format))
        if not self.script:
            raise AssertionError("the policy asked the model more often than scripted")
        return self.script.popleft()
