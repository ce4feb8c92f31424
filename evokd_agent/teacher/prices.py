"""What teacher tokens cost in dollars: a price per model, and the cost of a request's usage.

The default table ships as `prices.yaml` beside this module (providers' list prices, with their
sources and dates); `teacher.prices` in a config sets one model's prices, `price_table` names a
file of the same layout that adds to or overrides the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evokd_agent.errors import EvokdError

DEFAULT_TABLE = Path(__file__).with_name("prices.yaml")
_MILLION = 1_000_000


class Prices(BaseModel):
    """US dollars per million tokens for one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: float = Field(ge=0)
    """Price of a prompt token."""
    cached_prompt: float | None = Field(default=None, ge=0)
    """Price of a prompt token served from the provider's prefix cache; None: the prompt price."""
    completion: float = Field(ge=0)
    """Price of a completion token."""

    def cost(self, prompt: int, completion: int, cached: int = 0) -> float:
        """Dollars for a request's usage (`cached` of the `prompt` tokens from the cache)."""
        cached = max(0, min(cached, prompt))
        cached_price = self.prompt if self.cached_prompt is None else self.cached_prompt
        return (
            (prompt - cached) * self.prompt + cached * cached_price + completion * self.completion
        ) / _MILLION

    def worst(self, prompt: int, completion: int) -> float:
        """Dollars a reservation of `prompt` + `completion` tokens may cost at most."""
        return (prompt * self.prompt + completion * self.completion) / _MILLION

    def unknown(self, tokens: int) -> float:
        """Dollars for tokens of unknown kind (an attempt whose usage never came back): the
        dearest price, as a hard dollar budget must assume."""
        return tokens * max(self.prompt, self.completion) / _MILLION


def read_table(path: str | os.PathLike[str]) -> dict[str, Prices]:
    """Model name -> prices, from a YAML file laid out as `prices.yaml`."""
    try:
        raw: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise EvokdError(f"cannot read the price table {path}: {exc}", "fix the file") from exc
    if not isinstance(raw, Mapping):
        raise EvokdError(
            f"the price table {path} is not a mapping of model names",
            "write `model-name: {prompt: 0.15, cached_prompt: 0.075, completion: 0.60}` lines",
        )
    table = {}
    for name, entry in raw.items():
        try:
            table[str(name)] = Prices.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise EvokdError(
                f"price table {path}, {name}: {first['msg']} ({'.'.join(map(str, first['loc']))})",
                "give prompt and completion prices in dollars per million tokens",
            ) from None
    return table


def prices_for(
    model: str,
    *,
    override: Prices | None = None,
    table: str | os.PathLike[str] | None = None,
) -> Prices | None:
    """The prices of `model`: `override`, else its entry in `table` or the default table (exact
    name, else the longest entry the name starts with, e.g. "gpt-4o-mini-2024-07-18"); None
    when no entry matches."""
    if override is not None:
        return override
    entries = read_table(DEFAULT_TABLE)
    if table is not None:
        entries.update(read_table(table))
    if model in entries:
        return entries[model]
    matches = [name for name in entries if model.startswith(name)]
    return entries[max(matches, key=len)] if matches else None
