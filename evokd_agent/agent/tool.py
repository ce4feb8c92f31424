"""The `@tool` decorator: a typed async function becomes a tool the model can call.

The JSON schema comes from the type hints (through a pydantic model built from the signature) and
the descriptions from the docstring, which is written for the model: its summary describes the
tool, its `Args:` section the parameters. The first parameter is the run context, never shown.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, ParamSpec, TypeVar, get_args, get_origin

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from evokd_agent.agent.arguments import (
    InvalidArguments,
    ValidatedArguments,
    parse_raw_arguments,
    validate_arguments,
)
from evokd_agent.agent.docstring import parse_docstring
from evokd_agent.agent.errors import StopRun, ToolError, ToolRetry
from evokd_agent.agent.result import ToolResult

CtxT = TypeVar("CtxT")
CtxT_contra = TypeVar("CtxT_contra", contravariant=True)
P = ParamSpec("P")

ToolFunction = Callable[..., Awaitable[Any]]
OutcomeStatus = Literal["ok", "invalid_arguments", "unknown_tool", "retry"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI accepts as a function name
_SCHEMA_KEYS = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one tool call, as the model will see it and as the run records it."""

    tool: str
    """Name the model called (possibly unknown)."""
    status: OutcomeStatus
    """`ok`, or why the call did not produce a result."""
    content: str
    """Text sent back to the model: the result (with notes first), or what to fix."""
    value: Any = None
    """The tool's return value, unrendered (None unless ok)."""
    notes: tuple[str, ...] = ()
    """Changes made to the arguments (clamps, truncations, ignored keys)."""
    arguments: dict[str, Any] | None = None
    """Arguments after validation, JSON-compatible; None when they did not validate."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, eq=False)
class Tool(Generic[CtxT_contra]):
    """A callable the agent may use: name, description and parameter schema for the model."""

    name: str
    """Function name the model calls."""
    description: str
    """What the tool does and when to use it, for the model."""
    fn: ToolFunction
    """The decorated async function; called as `fn(ctx, **arguments)`."""
    args_model: type[BaseModel]
    """Pydantic model of the parameters (without the context); validates the arguments."""
    parameters: dict[str, Any]
    """JSON schema of the parameters, as sent to the model."""

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools=[...]` entry of this tool."""
        function = {"name": self.name, "description": self.description}
        return {"type": "function", "function": {**function, "parameters": self.parameters}}

    def validate(self, raw: str | Mapping[str, Any] | None) -> ValidatedArguments:
        """Parse and validate raw arguments; raises `InvalidArguments` with a model message."""
        return validate_arguments(self.args_model, parse_raw_arguments(raw))

    async def invoke(self, ctx: CtxT_contra, raw: str | Mapping[str, Any] | None) -> ToolOutcome:
        """Validate, call, and render the result; `ToolRetry` and bad arguments become messages.

        `StopRun` passes through; any other exception ends the run as a `ToolError`.
        """
        try:
            args = self.validate(raw)
        except InvalidArguments as exc:
            message = f"Invalid arguments for `{self.name}`:\n{exc.message}\nCall it again "
            message += f"with arguments matching its schema: {_compact(self.parameters)}"
            return ToolOutcome(self.name, "invalid_arguments", message)
        try:
            result = await self.fn(ctx, **args.kwargs)
        except ToolRetry as exc:
            content = _with_notes(exc.message, args.notes)
            return ToolOutcome(self.name, "retry", content, None, args.notes, args.dumped)
        except StopRun:
            raise
        except Exception as exc:
            raise ToolError(self.name, exc) from exc
        content = _with_notes(render_result(result), args.notes)
        return ToolOutcome(self.name, "ok", content, result, args.notes, args.dumped)


class _ToolDecorator(typing.Protocol):
    def __call__(
        self, fn: Callable[typing.Concatenate[CtxT, P], Awaitable[Any]], /
    ) -> Tool[CtxT]: ...


@typing.overload
def tool(fn: Callable[typing.Concatenate[CtxT, P], Awaitable[Any]], /) -> Tool[CtxT]: ...


@typing.overload
def tool(*, name: str | None = None, description: str | None = None) -> _ToolDecorator: ...


def tool(
    fn: Callable[..., Awaitable[Any]] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool[Any] | _ToolDecorator:
    """Make a tool of `async def fn(ctx, ...)`: `@tool` or `@tool(name=..., description=...)`.

    Raises TypeError at decoration time for a sync function, a parameter without annotation, a
    missing docstring (unless `description` is given), or an `Args:` entry naming no parameter.
    """
    if fn is not None:
        return build_tool(fn, name=name, description=description)

    def decorate(f: Callable[..., Awaitable[Any]], /) -> Tool[Any]:
        return build_tool(f, name=name, description=description)

    return decorate


def build_tool(
    fn: Callable[..., Awaitable[Any]], *, name: str | None = None, description: str | None = None
) -> Tool[Any]:
    """The undecorated form of `@tool`."""
    label = getattr(fn, "__qualname__", repr(fn))
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@tool needs an `async def` function; {label} is not async")
    tool_name = name or fn.__name__
    if not _NAME.match(tool_name):
        raise TypeError(f"@tool name {tool_name!r} must match [A-Za-z0-9_-]{{1,64}}")
    doc = inspect.getdoc(fn)
    if not doc and description is None:
        raise TypeError(f"@tool {label} needs a docstring: it is the description the model reads")
    parsed = parse_docstring(doc or "")
    summary = (description or parsed.summary).strip()
    if not summary:
        raise TypeError(f"@tool {label}: the docstring has no summary before its sections")
    params = list(inspect.signature(fn).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in positional:
        raise TypeError(f"@tool {label}: the first parameter must be the run context (ctx)")
    rest = params[1:]
    for param in rest:
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"@tool {label}: parameter {param.name!r} must be a named parameter")
        if param.annotation is inspect.Parameter.empty:
            raise TypeError(f"@tool {label}: parameter {param.name!r} has no type annotation")
    stray = set(parsed.args) - {p.name for p in params}
    if stray:
        raise TypeError(f"@tool {label}: docstring documents unknown parameter(s) {sorted(stray)}")
    hints = _resolve_hints(fn, [p.name for p in rest], label)
    fields: dict[str, Any] = {}
    for param in rest:
        annotation = hints[param.name]
        default = ... if param.default is inspect.Parameter.empty else param.default
        text = parsed.args.get(param.name)
        if text and not _has_description(annotation, default):
            annotation = Annotated[annotation, Field(description=text)]
        fields[param.name] = (annotation, default)
    try:
        model = create_model(
            f"{tool_name}_arguments",
            __config__=ConfigDict(protected_namespaces=()),
            **fields,
        )
        parameters = _clean_schema(model.model_json_schema())
    except Exception as exc:
        raise TypeError(f"@tool {label}: cannot build a JSON schema: {exc}") from exc
    return Tool(tool_name, summary, fn, model, parameters)


def render_result(result: Any) -> str:
    """The text the model reads for a tool's return value."""
    if isinstance(result, str):
        return result
    if result is None:
        return "done"
    if isinstance(result, ToolResult):
        result = result.to_json_fields()
    return pydantic_core.to_json(result, fallback=str).decode()


def _with_notes(text: str, notes: tuple[str, ...]) -> str:
    if not notes:
        return text
    return f"Note: {'; '.join(notes)}.\n{text}"


def _resolve_hints(fn: Callable[..., Any], names: list[str], label: str) -> dict[str, Any]:
    """Evaluate the annotations of `names` only: the context's type may exist for mypy only."""
    target = inspect.unwrap(fn)
    annotations = getattr(target, "__annotations__", {})
    holder = types.SimpleNamespace(__annotations__={n: annotations[n] for n in names})
    localns = dict(inspect.getclosurevars(target).nonlocals) if inspect.isfunction(target) else {}
    try:
        return typing.get_type_hints(
            holder,
            globalns=getattr(target, "__globals__", {}),
            localns=localns,
            include_extras=True,
        )
    except Exception as exc:
        raise TypeError(f"@tool {label}: cannot resolve a parameter annotation: {exc}") from exc


def _has_description(annotation: Any, default: Any) -> bool:
    if isinstance(default, FieldInfo) and default.description:
        return True
    if get_origin(annotation) is Annotated:
        return any(isinstance(m, FieldInfo) and m.description for m in get_args(annotation)[1:])
    return False


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated titles: tokens the model pays for and does not need."""
    out = {k: v for k, v in schema.items() if k != "title"}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _clean_schema(v) for k, v in out["properties"].items()}
    if isinstance(out.get("$defs"), dict):
        out["$defs"] = {k: _clean_schema(v) for k, v in out["$defs"].items()}
    for key in _SCHEMA_KEYS:
        if isinstance(out.get(key), dict):
            out[key] = _clean_schema(out[key])
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_clean_schema(s) if isinstance(s, dict) else s for s in out[key]]
    return out


def _compact(schema: Mapping[str, Any]) -> str:
    return pydantic_core.to_json(schema).decode()
