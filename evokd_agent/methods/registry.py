"""The method registry: every method by name, for the config, the runner, bench and docs."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from evokd_agent.errors import EvokdError
from evokd_agent.methods.plans import BUILTIN_METHODS
from evokd_agent.methods.spec import MethodOptions, MethodSpec


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
        raise ValueError(f"unknown method {name!r}{hint}; use one of: {', '.join(self._specs)}")

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
"""The built-in methods."""


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


def _origin(spec: MethodSpec[Any]) -> str:
    return f"{spec.plan.__module__}.{getattr(spec.plan, '__qualname__', '?')}"
