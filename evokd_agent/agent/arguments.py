"""Turn the model's argument text into validated keyword arguments, clamping what can be clamped.

Weak teachers send `n=500` where the limit is 50, or eleven items where five are allowed; failing
those calls would waste a paid turn, so out-of-range numbers are clamped into their bounds and
over-long lists truncated, and the tool result tells the model what was changed. Everything else
that does not validate (wrong type, missing argument, broken JSON) becomes a message for the model.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_MAX_FIX_PASSES = 5
_BOUND_ERRORS = {
    "greater_than_equal": "ge",
    "less_than_equal": "le",
    "greater_than": "gt",
    "less_than": "lt",
}


class InvalidArguments(Exception):
    """The arguments cannot be used; `message` explains why, for the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ValidatedArguments:
    """Arguments ready for the tool function."""

    kwargs: dict[str, Any]
    """Validated values, passed to the tool as keyword arguments."""
    dumped: dict[str, Any]
    """The same values as JSON-compatible data (events, run log)."""
    notes: tuple[str, ...]
    """What was changed on the way (clamps, truncations, ignored keys), told to the model."""


def parse_raw_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Decode the arguments a model sent: a JSON object, as text or already decoded."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    text = raw.strip()
    if not text:
        return {}  # models often send "" for a tool without parameters
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArguments(
            f"the arguments are not valid JSON ({exc.msg} at character {exc.pos}); "
            'send one JSON object such as {"name": value}'
        ) from None
    if isinstance(value, str):  # double-encoded: "{\"n\": 3}"
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArguments(
            f"the arguments must be a JSON object, not {type(value).__name__} {_short(value)}"
        )
    return value


def validate_arguments(model: type[BaseModel], raw: Mapping[str, Any]) -> ValidatedArguments:
    """Validate `raw` against `model`, clamping bounds and truncating lists first."""
    data = copy.deepcopy(dict(raw))
    notes: list[str] = []
    unknown = [key for key in data if key not in model.model_fields]
    for key in unknown:
        del data[key]
    if unknown:
        notes.append(f"ignored unknown argument(s): {', '.join(unknown)}")
    errors: list[ErrorDetails] = []
    for _ in range(_MAX_FIX_PASSES):
        try:
            validated = model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            fixes = [note for err in errors if (note := _fix_in_place(data, err)) is not None]
            if not fixes:
                break
            notes.extend(fixes)
            continue
        kwargs = {name: getattr(validated, name) for name in model.model_fields}
        dumped = validated.model_dump(mode="json")
        return ValidatedArguments(kwargs=kwargs, dumped=dumped, notes=tuple(notes))
    raise InvalidArguments("\n".join(_describe(err) for err in errors))


def _fix_in_place(data: dict[str, Any], err: ErrorDetails) -> str | None:
    """Repair one bound or length error inside `data`; returns the note, None if not fixable."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind not in _BOUND_ERRORS and kind != "too_long":
        return None
    located = _locate(data, err["loc"])
    if located is None:
        return None
    container, key, path = located
    current = container[key]
    if current is not err["input"] and current != err["input"]:
        return None  # the error is about a value we cannot see (e.g. inside a coercion)
    if kind == "too_long":
        limit = ctx.get("max_length")
        if not isinstance(current, list) or not isinstance(limit, int):
            return None
        container[key] = current[:limit]
        return f"{path} truncated from {len(current)} to {limit} items"
    new = _clamped(current, _BOUND_ERRORS[kind], ctx.get(_BOUND_ERRORS[kind]))
    if new is None:
        return None
    container[key] = new
    return f"{path} clamped from {_short(current)} to {new}"


def _clamped(current: Any, bound_kind: str, bound: Any) -> int | float | None:
    number = _as_number(current)
    if number is None or not isinstance(bound, int | float) or isinstance(bound, bool):
        return None
    if bound_kind in ("ge", "le"):
        return bound
    if isinstance(number, int):  # the nearest integer strictly inside the bound
        return math.floor(bound) + 1 if bound_kind == "gt" else math.ceil(bound) - 1
    return math.nextafter(float(bound), math.inf if bound_kind == "gt" else -math.inf)


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        for parse in (int, float):
            try:
                return parse(value.strip())
            except ValueError:
                continue
    return None


def _locate(data: Any, loc: tuple[int | str, ...]) -> tuple[Any, int | str, str] | None:
    """Find the container and key that `loc` points at; trailing union tags are skipped."""
    parent: Any = None
    key: int | str | None = None
    node = data
    walked: list[str] = []
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            parent, key, node = node, part, node[part]
        else:
            break  # e.g. ('n', 'int') for a union member: the value is already reached
        walked.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    if parent is None or key is None:
        return None
    return parent, key, "".join(walked).lstrip(".")


def _describe(err: ErrorDetails) -> str:
    where = ".".join(str(part) for part in err["loc"]) or "arguments"
    if err["type"] == "missing":
        return f"- {where}: required argument is missing"
    return f"- {where}: {err['msg']} (got {_short(err['input'])})"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
