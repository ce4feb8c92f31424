"""Reading teacher replies: JSON somewhere in the text, lists of inputs, labels, entities.

Weak teachers wrap JSON in prose or code fences, or skip JSON altogether; each parser returns
None (or an empty list) instead of raising, and the caller records the rejection.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from evokd_agent.jsontext import first_json


def extract_json(text: str | None) -> Any:
    """The first JSON object or array in `text`, or None."""
    return first_json(text)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                text = item.get("text") or item.get("sentence") or item.get("input")
                if isinstance(text, str):
                    out.append(text)
        return out
    return []


def parse_texts(text: str | None, keys: Iterable[str]) -> dict[str, list[str]]:
    """Lists of strings under `keys` of a JSON reply; a bare JSON list counts for the first key."""
    keys = list(keys)
    value = extract_json(text)
    if isinstance(value, list):
        return {keys[0]: [s.strip() for s in _strings(value) if s.strip()]}
    if not isinstance(value, dict):
        return {}
    return {k: [s.strip() for s in _strings(value.get(k)) if s.strip()] for k in keys}


def parse_label(text: str | None, labels: Sequence[str]) -> str | None:
    """The label a reply names: `{"label": ...}` or, failing that, the only label word in it.

    Returns the raw string when it is not in `labels`, so the caller can reject it by name.
    """
    value = extract_json(text)
    raw_value = value.get("label") if isinstance(value, dict) else None
    if isinstance(raw_value, str):
        raw = raw_value.strip()
        for label in labels:
            if raw.lower() == label.lower():
                return label
        return raw
    words = set(re.findall(r"[\w-]+", (text or "").lower()))
    found = [label for label in labels if label.lower() in words]
    return found[0] if len(found) == 1 else None


def parse_entities(text: str | None) -> list[tuple[str, str]] | None:
    """(surface, type) pairs from `{"entities": [{"text": ..., "type": ...}]}`, or None."""
    value = extract_json(text)
    if isinstance(value, dict):
        value = value.get("entities")
    if not isinstance(value, list):
        return None
    out: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, dict):
            surface, kind = item.get("text"), item.get("type")
            if isinstance(surface, str) and isinstance(kind, str):
                surface = html.unescape(surface).strip()  # small models emit &#34; for quotes
                if surface:
                    out.append((surface, kind.strip()))
    return out
