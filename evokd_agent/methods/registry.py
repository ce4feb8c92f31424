"""The method registry: the built-in methods plus those of the user's modules, by name.

A user method is a module or `.py` file defining `MethodSpec`s (`@method` plan functions) at
top level, named in the config's `extra_methods`, the way `extra_tools` names tool modules.
Loading imports it and collects the specs it defines (nothing registers itself on import); a
module is imported once per process, as Python imports are, however often a config naming it
is validated.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from evokd_agent.errors import EvokdError
from evokd_agent.methods.plans import BUILTIN_METHODS
from evokd_agent.methods.spec import MethodOptions, MethodSpec
from evokd_agent.usermodules import import_user_file, import_user_module


class MethodRegistry(Mapping[str, MethodSpec[Any]]):
    """Methods by name, in the order they were given (built-ins first); immutable."""

    def __init__(self, specs: Iterable[MethodSpec[Any]]) -> None:
        self._specs: dict[str, MethodSpec[Any]] = {}
        for spec in specs:
            if not isinstance(spec, MethodSpec):
                raise TypeError(f"expected a MethodSpec (a plan decorated with @method): {spec!r}")
            if spec.name in self._specs:
                raise EvokdError(
                    f"two methods are named `{spec.name}` ({_origin(self._specs[spec.name])} "
                    f"and {_origin(spec)})",
                    "rename one with @method(name=...) or load only one of the two",
                )
            self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> MethodSpec[Any]:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)

    def option_names(self) -> set[str]:
        """Every `method_options` key some method takes."""
        return {name for spec in self._specs.values() for name in spec.option_names()}

    def check_name(self, name: str) -> None:
        """ValueError naming the methods there are, unless `name` is one of them."""
        if name in self._specs:
            return
        close = difflib.get_close_matches(name, self._specs, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown method {name!r}{hint}; use one of: {', '.join(self._specs)}, "
            "or a method of a module named in extra_methods"
        )

    def parse_options(self, name: str, raw: Mapping[str, Any]) -> MethodOptions:
        """Method `name`'s typed options from `method_options`; ValueError in one line.

        A key of another method is allowed and ignored, so one config serves every method of
        a bench; a key no method takes is an error, as is a bad value of the method's own.
        """
        spec = self[name]
        unknown = sorted(set(raw) - self.option_names())
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)}; {name} takes "
                f"{', '.join(spec.option_names())} (an option of another method is ignored)"
            )
        try:
            options: MethodOptions = spec.parse_options(raw)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            got = "" if first["type"] == "missing" else f", got {first.get('input')!r}"
            raise ValueError(f"{where}: {first['msg']}{got}") from None
        return options


BUILTIN_REGISTRY = MethodRegistry(BUILTIN_METHODS)
"""The built-in methods alone (what a config without `extra_methods` can name)."""


def method_registry(extra_methods: Sequence[str] = ()) -> MethodRegistry:
    """The built-in methods, then those of each entry: a `.py` file path or a module name."""
    if not extra_methods:
        return BUILTIN_REGISTRY
    specs = list(BUILTIN_METHODS)
    for entry in extra_methods:
        specs += load_methods(entry)
    return MethodRegistry(specs)


def load_methods(entry: str) -> list[MethodSpec[Any]]:
    """The methods a user module defines; an `EvokdError` naming the entry otherwise."""
    is_file = entry.endswith(".py") or Path(entry).is_file()
    module = _import_file(Path(entry)) if is_file else import_user_module(entry, "method")
    found = collect_methods(module)
    if not found:
        raise EvokdError(
            f"{'file' if is_file else 'module'} {entry} defines no methods",
            "define a plan function decorated with `@method` (from evokd_agent.methods) "
            "at the module's top level",
        )
    return found


def collect_methods(module: ModuleType) -> list[MethodSpec[Any]]:
    """The `MethodSpec`s defined at the top level of `module` (not those it imports)."""
    found: list[MethodSpec[Any]] = []
    for value in vars(module).values():
        own = isinstance(value, MethodSpec) and value.plan.__module__ == module.__name__
        if own and all(value is not seen for seen in found):
            found.append(value)
    return found


def options_table(registry: MethodRegistry = BUILTIN_REGISTRY) -> str:
    """README's method options table: each option, the methods taking it, default, meaning."""
    takers: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    for spec in registry.values():
        for name, info in spec.options.model_fields.items():
            takers.setdefault(name, []).append(spec.name)
            fields.setdefault(name, info)
    rows = ["| option | methods | default | what it sets |", "| --- | --- | --- | --- |"]
    for name, methods in takers.items():
        who = "all" if len(methods) == len(registry) else ", ".join(f"`{m}`" for m in methods)
        info = fields[name]
        text = " ".join(str(info.description or "").split())
        rows.append(f"| `{name}` | {who} | `{info.default}` | {text} |")
    return "\n".join(rows) + "\n"


def _import_file(path: Path) -> ModuleType:
    file = path.expanduser().resolve()
    if not file.is_file():
        raise EvokdError(f"method file {file} does not exist", "fix the path in extra_methods")
    return import_user_file(file, "method", reuse=True)


def _origin(spec: MethodSpec[Any]) -> str:
    return f"{spec.plan.__module__}.{getattr(spec.plan, '__qualname__', '?')}"
