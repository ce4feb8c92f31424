"""Helpers for fake teachers in tests: read a batched request, answer it item by item.

Batched requests (`evokd_agent.distill.batch`) ask for `{"items": [{"id": 1, ...}, ...]}`:
generation requests name the item count in the schema's `maxItems` (or the prompt's plan),
labelling requests list their texts as numbered lines under "Texts:" / "Sentences:".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from evokd_agent.servers.fake import FakeReply
from evokd_agent.servers.simulated_request import PLAN, numbered


def prompt_of(body: Mapping[str, Any]) -> str:
    """The last message's text."""
    return str((body.get("messages") or [{}])[-1].get("content") or "")


def is_generation(body: Mapping[str, Any]) -> bool:
    """A request to write inputs (a JSON list of items with a "text")."""
    hint = prompt_of(body).rsplit('{"items"', 1)
    return len(hint) == 2 and '"text"' in hint[1] and '"entities"' not in hint[1]


def is_batch_labelling(body: Mapping[str, Any]) -> bool:
    """A request to label numbered texts."""
    return bool(numbered_texts(prompt_of(body)))


def item_count(body: Mapping[str, Any]) -> int:
    """How many items a generation request asks for."""
    fmt = body.get("response_format") or {}
    schema = fmt.get("schema") or {}
    items = (schema.get("properties") or {}).get("items") or {}
    if items.get("maxItems"):
        return int(items["maxItems"])
    plan = PLAN.findall(prompt_of(body))
    if plan:
        return len(plan)
    match = re.search(r"JSON with (\d+) items", prompt_of(body))
    return int(match.group(1)) if match else 1


def plan(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label or type, "HARD"/"EASY") per plan line of an EvoKD generation request."""
    return [(name, level) for _, name, level in PLAN.findall(prompt_of(body))]


def numbered_texts(prompt: str) -> list[str]:
    """The numbered texts under the last "Texts:"/"Sentences:" line."""
    return numbered(prompt)


def items_reply(items: Sequence[Mapping[str, Any]], **kwargs: Any) -> FakeReply:
    """`{"items": [{"id": 1, **items[0]}, ...]}` as a reply (kwargs go to `FakeReply.text`)."""
    listed = [{"id": i, **item} for i, item in enumerate(items, 1)]
    return FakeReply.text(json.dumps({"items": listed}, ensure_ascii=False), **kwargs)
