"""Reading a YAML/TOML config file and turning validation errors into one clear line."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from evokd_agent.errors import EvokdError
from evokd_agent.textfiles import read_utf8

_MAX_ERRORS = 3


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (plain YAML keeps the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def parse_config_file(file: Path) -> dict[str, Any]:
    """The top-level mapping of a .yaml/.yml/.toml file, or an `EvokdError` naming the file."""
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise EvokdError(f"config file {file} {what}", "check the path to the YAML or TOML config")
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise EvokdError(
            f"config file {file} has extension {suffix!r}",
            "write the config as .yaml, .yml or .toml",
        )
    try:
        text = read_utf8(file)
    except OSError as err:
        raise EvokdError(f"cannot read config file {file}: {err}", "check the file") from None
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise EvokdError(f"{file}: not valid TOML: {err}", "fix the syntax there") from None
    else:
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
        except yaml.YAMLError as err:
            raise EvokdError(
                f"{file}: not valid YAML: {_yaml_problem(err)}", "fix the syntax there"
            ) from None
    if data is None:
        raise EvokdError(f"config file {file} is empty", "see examples/ for a complete config")
    if not isinstance(data, dict):
        raise EvokdError(
            f"{file}: the top level must be a mapping of fields, got {type(data).__name__}",
            "write `field: value` lines (see examples/)",
        )
    return data


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def validation_error(file: Path, err: ValidationError, model: type[BaseModel]) -> EvokdError:
    """One line naming the file, each bad field by its dotted location, and what is wrong."""
    errors = err.errors(include_url=False)
    parts = [_describe(e, model) for e in errors[:_MAX_ERRORS]]
    if len(errors) > _MAX_ERRORS:
        parts.append(f"and {len(errors) - _MAX_ERRORS} more")
    where = format_loc(errors[0]["loc"]) if errors else ""
    return EvokdError(
        f"{file}: invalid config: {'; '.join(parts)}",
        f"correct {where or 'the config'} in {file}",
    )


def format_loc(loc: tuple[int | str, ...]) -> str:
    """pydantic's location as a config path: data.dev, labels[2]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(error: Any, model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    where = format_loc(loc) or "config"
    kind = error["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown field{hint}"
    if kind in ("missing", "missing_keyword_argument"):
        return f"{where}: required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if kind != "value_error" and isinstance(value, str | int | float | bool) and value != "":
        message += f", got {value!r}"
    return f"{where}: {message}"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model or dataclass at `loc`, for did-you-mean hints."""
    current: Any = model
    for part in loc:
        if not isinstance(part, str):
            continue
        fields = _field_types(current)
        if part not in fields:
            return []
        current = fields[part]
    return list(_field_types(current))


def _field_types(tp: Any) -> dict[str, Any]:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: f.annotation for name, f in tp.model_fields.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return {f.name: f.type for f in dataclasses.fields(tp)}
    return {}


def _unwrap(tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    return tp
