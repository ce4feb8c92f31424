"""Typed tool results: a dataclass whose fields are the JSON object the model reads.

A tool may return any JSON-able value (a dict, a list, a string); the built-in tools return a
`ToolResult` dataclass instead, so their results have a checked shape and carry the typed
`stop` signal that ends the rounds of a scripted loop.
"""

from __future__ import annotations

import dataclasses
from typing import Any

OMIT_IF_NONE = "omit_if_none"
"""Field metadata key: a field marked `field(metadata={OMIT_IF_NONE: True})` is left out of
the model's JSON while it is None (a key only some runs have)."""


class ToolResult:
    """Base of a typed tool result; subclass it as a frozen dataclass.

    The fields, in declaration order, are the JSON object the model reads. `stop` is the typed
    signal that the run should end its rounds now (token budget spent, round limit, no more
    progress): a scripted loop then trains on what was paid for and finishes. A result class
    that can say so declares `stop: bool` as one of its fields, where the model reads it too;
    the others inherit False. (To end the run at once instead, raise `StopRun`.)

    The base is not a dataclass itself, so that a subclass places `stop` where it likes.
    """

    stop: bool = False

    def to_json_fields(self) -> dict[str, Any]:
        """The fields the model reads, by name, in declaration order."""
        if not dataclasses.is_dataclass(self):
            raise TypeError(f"{type(self).__name__} must be a dataclass to be a ToolResult")
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.metadata.get(OMIT_IF_NONE):
                continue
            out[field.name] = value
        return out


def says_stop(value: Any) -> bool:
    """Whether a tool's return value carries the typed stop signal (see `ToolResult`)."""
    return isinstance(value, ToolResult) and value.stop
