"""The run context every tool receives first; the registry depends only on this protocol."""

from __future__ import annotations

from typing import Protocol


class RunContext(Protocol):
    """What the registry needs from a run context: nothing, so any object satisfies it.

    The concrete context (student, data, generator, ledger, run store) is defined by the run
    that builds it. A tool that only passes the context along annotates `ctx: RunContext`; a tool
    that uses its attributes annotates the concrete type, and the registry is generic over it
    (`ToolRegistry[MyContext]` accepts tools taking `RunContext` or `MyContext`).
    """
