"""The `json` policy: for endpoints without function calling, the model answers with JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evokd_agent.agent.actions import Action, Policy
from evokd_agent.agent.chat import AssistantReply, ChatFn
from evokd_agent.agent.history import Measure, message_chars
from evokd_agent.agent.model_policy import ModelPolicy, ModelPolicyConfig
from evokd_agent.agent.registry import ToolRegistry
from evokd_agent.jsontext import first_json

_NAME_KEYS = ("tool", "name", "action", "function")
_ARGUMENT_KEYS = ("arguments", "args", "parameters", "params", "input")


@dataclass(frozen=True)
class JsonConfig(ModelPolicyConfig):
    """Settings of the JSON-action policy."""

    send_schema: bool = False
    """Add a JSON schema to `response_format` (llama.cpp then constrains the output to it)."""
    correction: str = (
        'Reply with exactly one JSON object: {{"tool": "<name>", "arguments": {{...}}}}. '
        "Problem with your last reply: {problem}. Tools: {tools}."
    )
    """User message after an unusable reply; `{problem}` and `{tools}` are filled in."""


class JsonPolicy(ModelPolicy):
    """Describes the tools in the system prompt and asks for `{"tool": ..., "arguments": {...}}`.

    Replies are parsed leniently: the first JSON object anywhere in the text, `name`/`action`
    for `tool`, `args`/`parameters` for `arguments`, or the remaining keys as arguments. An
    unusable reply gets a correction message and counts as an invalid step.
    """

    source = "json"

    def __init__(
        self,
        chat: ChatFn,
        registry: ToolRegistry[Any],
        config: JsonConfig | None = None,
        *,
        fallback: Policy | None = None,
        measure: Measure = message_chars,
    ) -> None:
        self.json_config = config or JsonConfig()
        super().__init__(chat, registry, self.json_config, fallback=fallback, measure=measure)

    def system_prompt(self) -> str:
        lines = [self.config.system_prompt, "", "Tools:"]
        for schema in self.registry.schemas():
            function = schema["function"]
            parameters = json.dumps(function["parameters"], ensure_ascii=False)
            lines.append(f"- {function['name']}: {function['description']}")
            lines.append(f"  arguments (JSON schema): {parameters}")
        lines += [
            "",
            'Answer every turn with exactly one JSON object: {"tool": "<name>", "arguments": '
            "{...}}, and nothing else.",
        ]
        return "\n".join(lines)

    async def ask(self) -> AssistantReply:
        response_format: dict[str, Any] = {"type": "json_object"}
        if self.json_config.send_schema:
            response_format["schema"] = self._action_schema()
        return await self.chat(list(self.messages), None, response_format)

    def interpret(self, reply: AssistantReply) -> list[Action]:
        text = reply.content or ""
        self.messages.append({"role": "assistant", "content": text})
        parsed = parse_action(text)
        if isinstance(parsed, str):
            message = self.json_config.correction.format(problem=parsed, tools=self.tool_list())
            self.messages.append({"role": "user", "content": message})
            return []
        name, arguments = parsed
        return [Action(name, arguments, source=self.source)]

    def record_result(self, action: Action, content: str) -> None:
        self.messages.append({"role": "user", "content": f"Result of `{action.tool}`:\n{content}"})

    def _action_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "enum": self.registry.names()},
                "arguments": {"type": "object"},
            },
            "required": ["tool", "arguments"],
        }


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (code fences and surrounding prose are skipped)."""
    value = first_json(text, objects_only=True)
    return value if isinstance(value, dict) else None


def parse_action(text: str) -> tuple[str, str | dict[str, Any]] | str:
    """(tool name, arguments) from a reply, or a one-line problem description for the model."""
    obj = extract_json_object(text)
    if obj is None:
        return "it contained no JSON object"
    name_key = next((k for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name_key is None:
        return 'the JSON object has no "tool" field naming the tool to call'
    arg_key = next((k for k in _ARGUMENT_KEYS if k in obj), None)
    if arg_key is None:  # {"tool": "x", "n": 3}: the other keys are the arguments
        return obj[name_key], {k: v for k, v in obj.items() if k != name_key}
    arguments = obj[arg_key]
    if arguments is None:
        return obj[name_key], {}
    if not isinstance(arguments, dict | str):
        return f'"{arg_key}" must be a JSON object, not {type(arguments).__name__}'
    return obj[name_key], arguments
