"""Split a Google-style docstring into the summary the model reads and per-argument text."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "returns",
        "return",
        "raises",
        "yields",
        "examples",
        "example",
        "note",
        "notes",
        "see also",
    }
)
_ARG_SECTIONS = frozenset({"args", "arguments", "parameters", "params"})
_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class ParsedDocstring:
    """A docstring cut into what goes into a tool's schema."""

    summary: str
    """Everything before the first section header: the tool's description for the model."""
    args: dict[str, str] = field(default_factory=dict)
    """Parameter name -> description, from the `Args:` section."""


def parse_docstring(doc: str) -> ParsedDocstring:
    """Parse `doc`; continuation lines of an argument are joined with single spaces."""
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    entry_indent: int | None = None
    for line in lines:
        header = _HEADER.match(line)
        if header and header.group(1).strip().lower() in _SECTIONS:
            section = header.group(1).strip().lower()
            current, entry_indent = None, None
            continue
        if section is None:
            summary.append(line)
            continue
        if section not in _ARG_SECTIONS or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ENTRY.match(line.strip())
        if entry and (entry_indent is None or indent <= entry_indent):
            entry_indent = indent
            current = entry.group(1)
            args[current] = entry.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return ParsedDocstring(summary="\n".join(summary).strip(), args=args)
