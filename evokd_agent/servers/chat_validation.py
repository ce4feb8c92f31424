"""What strict OpenAI-compatible servers refuse in chat `messages`, for the fake server.

The fake server used to accept any history, so a null assistant `content` (which
llama-cpp-python answers with HTTP 500) passed every test. This check is as strict as the
strictest of llama-cpp-python, vLLM and OpenAI, and words its findings as pydantic does.
"""

from __future__ import annotations

from typing import Any

_ROLES = ("system", "user", "assistant", "tool")
_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}

Problem = tuple[str, str, str, object]
"""(location, message, pydantic error type, offending input)."""


def chat_validation_error(messages: object) -> str | None:
    """Why `messages` would be refused, in pydantic's wording; None when they are valid.

    - every message is an object with a role among system, user, assistant, tool, and no
      keys beyond that role's (OpenAI refuses extra keys);
    - `content` is present and a string in every message: llama-cpp-python refuses a null
      assistant content ("" is the way to send none beside tool calls);
    - tool calls have a string `id`, `type: "function"`, a string name and arguments;
    - a `tool` message has a `tool_call_id` naming a call of an earlier assistant message, and
      every call is answered by the messages right after it (OpenAI).
    """
    problems: list[Problem] = []
    if not isinstance(messages, list) or not messages:
        problems.append(("messages", "Input should be a non-empty list", "list_type", messages))
        messages = []
    offered: set[str] = set()
    unanswered: list[str] = []
    for i, message in enumerate(messages):
        at = f"messages.{i}"
        if not isinstance(message, dict):
            problems.append((at, "Input should be a valid dictionary", "dict_type", message))
            continue
        role = message.get("role")
        if role not in _ROLES:
            expected = "'system', 'user', 'assistant' or 'tool'"
            problems.append((f"{at}.role", f"Input should be {expected}", "literal_error", role))
            continue
        for key in sorted(set(message) - _KEYS[role]):
            problems.append(
                (f"{at}.{key}", "Extra inputs are not permitted", "extra_forbidden", key)
            )
        _need_str(problems, f"{at}.content", message, "content")
        if role == "tool":
            _check_tool_result(problems, at, message, offered, unanswered)
            continue
        if unanswered:
            what = f"Value error, tool calls {unanswered} are not answered before this message"
            problems.append((at, what, "value_error", role))
            unanswered.clear()
        if role == "assistant" and "tool_calls" in message:
            for call_id in _check_tool_calls(problems, at, message["tool_calls"]):
                offered.add(call_id)
                unanswered.append(call_id)
    if unanswered:
        what = f"Value error, tool calls {unanswered} are not answered by tool messages"
        problems.append((f"messages.{len(messages) - 1}", what, "value_error", unanswered))
    return _report(problems) if problems else None


def _need_str(problems: list[Problem], where: str, obj: dict[str, Any], key: str) -> None:
    if key not in obj:
        problems.append((where, "Field required", "missing", obj))
    elif not isinstance(obj[key], str):
        problems.append((where, "Input should be a valid string", "string_type", obj[key]))


def _check_tool_result(
    problems: list[Problem],
    at: str,
    message: dict[str, Any],
    offered: set[str],
    unanswered: list[str],
) -> None:
    _need_str(problems, f"{at}.tool_call_id", message, "tool_call_id")
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        return
    if call_id not in offered:
        what = "Value error, tool_call_id does not answer a tool call of an earlier message"
        problems.append((f"{at}.tool_call_id", what, "value_error", call_id))
    elif call_id in unanswered:
        unanswered.remove(call_id)


def _check_tool_calls(problems: list[Problem], at: str, calls: object) -> list[str]:
    """Problems of an assistant message's `tool_calls`; returns the ids of its calls."""
    if not isinstance(calls, list):
        problems.append((f"{at}.tool_calls", "Input should be a valid list", "list_type", calls))
        return []
    ids: list[str] = []
    for j, call in enumerate(calls):
        where = f"{at}.tool_calls.{j}"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(function, dict):
            problems.append((where, "Input should be a valid dictionary", "dict_type", call))
            continue
        _need_str(problems, f"{where}.id", call, "id")
        if call.get("type") != "function":
            kind = call.get("type")
            problems.append((f"{where}.type", "Input should be 'function'", "literal_error", kind))
        _need_str(problems, f"{where}.function.name", function, "name")
        _need_str(problems, f"{where}.function.arguments", function, "arguments")
        if isinstance(call.get("id"), str):
            ids.append(call["id"])
    return ids


def _report(problems: list[Problem]) -> str:
    plural = "s" if len(problems) > 1 else ""
    lines = [f"{len(problems)} validation error{plural} for CreateChatCompletionRequest"]
    for where, what, kind, value in problems:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        lines.append(where)
        lines.append(
            f"  {what} [type={kind}, input_value={shown}, input_type={type(value).__name__}]"
        )
    return "\n".join(lines)
