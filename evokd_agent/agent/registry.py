"""The tool registry: the tools a run offers, their schemas, and calling them by name.

User tools are plain modules or files defining `@tool` functions at top level; loading imports
them and collects the `Tool` objects (no registration happens as an import side effect).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from evokd_agent.agent.context import RunContext
from evokd_agent.agent.errors import StopRun, ToolError, ToolRetry
from evokd_agent.agent.tool import Tool, ToolOutcome, build_tool, tool
from evokd_agent.errors import EvokdError
from evokd_agent.usermodules import import_user_file, import_user_module

__all__ = [
    "RunContext",
    "StopRun",
    "Tool",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "ToolRetry",
    "build_tool",
    "collect_tools",
    "tool",
]

CtxT = TypeVar("CtxT")


class ToolRegistry(Generic[CtxT]):
    """Tools by name, in the order they were added (the order the model sees them)."""

    def __init__(self, tools: Iterable[Tool[CtxT]] = ()) -> None:
        self._tools: dict[str, Tool[CtxT]] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool[CtxT]) -> None:
        """Add one tool; a second tool with the same name is a user error."""
        if not isinstance(item, Tool):
            raise TypeError(f"expected a Tool (a function decorated with @tool), got {item!r}")
        if item.name in self._tools:
            other = self._tools[item.name].fn
            raise EvokdError(
                f"two tools are named `{item.name}` ({_origin(other)} and {_origin(item.fn)})",
                "rename one of them with @tool(name=...) or load only one of the two",
            )
        self._tools[item.name] = item

    def get(self, name: str) -> Tool[CtxT] | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI `tools=[{"type": "function", "function": {...}}]`."""
        return [item.schema() for item in self._tools.values()]

    async def call(
        self, name: str, raw_arguments: str | Mapping[str, Any] | None, ctx: CtxT
    ) -> ToolOutcome:
        """Call tool `name`. Unknown names, bad arguments and `ToolRetry` give a not-ok outcome
        whose content tells the model what to do; `StopRun` and `ToolError` propagate."""
        item = self._tools.get(name)
        if item is None:
            known = ", ".join(self._tools) or "(none)"
            content = f"Unknown tool `{name}`. Call one of: {known}."
            return ToolOutcome(name, "unknown_tool", content)
        return await item.invoke(ctx, raw_arguments)

    def load_module(self, module_name: str) -> list[Tool[Any]]:
        """Import `module_name` and add every tool defined at its top level."""
        module = import_user_module(module_name, "tool")
        return self._add_all(collect_tools(module), source=f"module `{module_name}`")

    def load_file(self, path: str | Path) -> list[Tool[Any]]:
        """Execute the Python file at `path` as a module and add every tool defined in it."""
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise EvokdError(
                f"tool file {file} does not exist", "fix the path in the config's tool files"
            )
        return self._add_all(
            collect_tools(
                import_user_file(
                    file, "tool", fix="fix the error in that file (its traceback is in the run log)"
                )
            ),
            source=f"file {file}",
        )

    def _add_all(self, found: list[Tool[Any]], *, source: str) -> list[Tool[Any]]:
        if not found:
            raise EvokdError(
                f"{source} defines no tools",
                "define async functions decorated with `@tool` (from evokd_agent.agent) at the "
                "module's top level",
            )
        for item in found:
            self.add(item)
        return found


def collect_tools(module: ModuleType) -> list[Tool[Any]]:
    """The `Tool` objects defined at the top level of `module` (not those it imports)."""
    found: list[Tool[Any]] = []
    for value in vars(module).values():
        own = isinstance(value, Tool) and getattr(value.fn, "__module__", None) == module.__name__
        if own and all(value is not seen for seen in found):
            found.append(value)
    return found


def _origin(fn: object) -> str:
    module = getattr(fn, "__module__", "?")
    return f"{module}.{getattr(fn, '__qualname__', '?')}"
