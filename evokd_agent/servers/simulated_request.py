"""Reading a request to the SIMULATED teacher: which step it is and what it asks for.

The simulated teacher (`servers.simulated`) reads the step from the JSON schema, else from the
prompt's JSON hint, and the targets from the prompt's lines: "Text:"/"Sentence:" (a rewrite's
seed or a text to label), `- "..."` quotes (tested inputs), numbered plan lines
(`1. label "x", HARD`) and numbered texts under "Texts:"/"Sentences:" (a labelling batch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from evokd_agent.servers.fake import FakeReply, FakeTokenLogprob

QUOTED = re.compile(r'^\s*- "(.*)"(?= ->| \(|\s*$)', re.M)
FOCUS = re.compile(r"^\s*(?:Text|Sentence):\s*(.+?)\s*$", re.M)
WRONG = re.compile(r'^\s*- "(.*)" -> (.*) \(guessed: (.*)\)\s*$', re.M)


def content(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


Part = str | tuple[str, dict[str, float]]
"""Reply text, or one token's text with the distribution its logprobs report."""
Reply = tuple[str | FakeReply, tuple[FakeTokenLogprob, ...] | None]
"""Content (or an error reply) and its logprobs."""


def spread(chosen: str, c: float, names: Sequence[str]) -> dict[str, float]:
    """Probability c on `chosen`, 1 - c shared equally by the other names."""
    rest = (1 - c) / max(len(names) - 1, 1)
    return {x: c if x == chosen else rest for x in names}


def escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def schema(body: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema of `response_format` (llama.cpp or OpenAI style), or {}."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return {}
    schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema")
    return dict(schema) if isinstance(schema, Mapping) else {}


PLAN = re.compile(r'^\s*(\d+)\.\s+(?:label|type)\s+"([^"]+)",\s+(HARD|EASY)\s*$', re.M)
NUMBERED = re.compile(r"^\s*\d+\.\s+(.+?)\s*$", re.M)
LIST_HEAD = re.compile(r"^(?:Texts|Sentences):\s*$", re.M)
WRITE_N = re.compile(r"\b(?:in|write)\s+(\d+)\s", re.I)


def numbered(text: str) -> list[str]:
    """The numbered lines under the last "Texts:"/"Sentences:" header (a labelling batch)."""
    heads = list(LIST_HEAD.finditer(text))
    return NUMBERED.findall(text[heads[-1].end() :]) if heads else []


def count(prompt: str) -> int:
    match = WRITE_N.search(prompt)
    return int(match.group(1)) if match else 0


def item_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(mapping(mapping(props.get("items")).get("items")).get("properties"))


def enum(props: Mapping[str, Any], key: str) -> list[str]:
    return [str(x) for x in mapping(props.get(key)).get("enum") or []]


def entity_types(props: Mapping[str, Any]) -> list[str]:
    """The type enum of an `"entities": [{"text", "type"}]` schema property (or [])."""
    entity = mapping(mapping(props.get("entities")).get("items")).get("properties")
    return enum(mapping(entity), "type")


def length_limits(spec: Any) -> tuple[int, int]:
    spec = mapping(spec)
    return int(spec.get("minLength", 0)), int(spec.get("maxLength", 10**9))


def max_tokens(body: Mapping[str, Any]) -> int:
    return int(body.get("max_tokens") or body.get("max_completion_tokens") or 10**9)


def batch_kind(props: Mapping[str, Any], prompt: str) -> str | None:
    """ "generate", "label" or "entities" for a batched request (items list), else None."""
    if "items" in props:
        item = item_props(props)
        keys = set(item)
    elif not props and '{"items"' in prompt:
        hint = prompt[prompt.rfind('{"items"') :]
        keys = {k for k in ("entities", "text", "label") if f'"{k}"' in hint}
    else:
        return None
    if "entities" in keys:
        return "entities"
    if "text" in keys:
        return "generate"
    return "label" if "label" in keys else None
