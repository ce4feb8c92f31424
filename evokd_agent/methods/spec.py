"""A distillation method as one object: name, typed options, teacher use, policy, and plan.

Every fact the config, the runner, the bench and the docs need about a method lives on its
`MethodSpec`, so a method (built in or the user's) is added by writing one module. A plan is
the scripted procedure over the run's tools: a prelude run once before round 1, then the tools
called every round with fixed arguments. The plan sees the run through `PlanInput`, not
`RunConfig`: the config validates against the method registry, so methods sit below it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from evokd_agent.agent import Action

JsonMode = Literal["auto", "schema", "object", "off"]
TrainsOn = Literal["seeds", "train"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class MethodOptions(BaseModel):
    """Options every method takes; a method's own options model subclasses it.

    Each field's docstring is its one-line documentation (README's options table is built
    from it), so keep it a sentence a user can act on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    json_mode: JsonMode = "auto"
    """How JSON replies are requested: "schema", "object" or "off"; "auto": "object" on
    api.openai.com (it rejects unknown response_format fields), "schema" elsewhere."""


OptionsT = TypeVar("OptionsT", bound=MethodOptions)


@dataclass(frozen=True)
class PlanInput:
    """What a plan may read of the run: the run's sizes, not its whole config."""

    task: str
    """"classification" or "ner"."""
    labels: tuple[str, ...]
    """Label names (NER: entity types)."""
    hard: int
    """`samples_per_round.hard`."""
    easy: int
    """`samples_per_round.easy`."""
    n_seeds: int
    """Labelled samples the run starts from (full_shot: the train set)."""

    @property
    def per_round(self) -> int:
        """N: new samples per round (hard + easy), at least 1."""
        return max(1, self.hard + self.easy)


@dataclass(frozen=True)
class Plan:
    """What a scripted policy does for one method."""

    round_steps: tuple[str, ...]
    """Tools called, in order, every round."""
    arguments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Fixed arguments per tool."""
    prelude: tuple[Action, ...] = ()
    """Actions run once before round 1."""
    rounds: int | None = None
    """Rounds to run; None means the config's `max_rounds`."""

    def tools(self) -> set[str]:
        """Every tool the plan calls."""
        return {*self.round_steps, *(a.tool for a in self.prelude if a.tool is not None)}


PlanFn = Callable[[PlanInput, OptionsT], Plan]


@dataclass(frozen=True, eq=False)
class MethodSpec(Generic[OptionsT]):
    """One distillation method; see `method` for the decorator that builds one."""

    name: str
    """`method:` in the config (lower case letters, digits, _)."""
    options: type[OptionsT]
    """Its `method_options` model (a `MethodOptions` subclass; defaults are the method's)."""
    plan: PlanFn[OptionsT]
    """The scripted procedure for a run's sizes and the validated options."""
    uses_teacher: bool = True
    """False: no teacher endpoint is started or contacted (the bench runs it once, at b0)."""
    llm_policy_allowed: bool = False
    """Whether `policy: llm` / `json` may drive it; otherwise it is a fixed procedure and
    always runs scripted."""
    trains_on: TrainsOn = "seeds"
    """What round 0 trains on: the labelled seeds, or the whole gold `data.train`."""
    needs_pool: str | None = None
    """What it does with `data.pool`, which it then requires (the message when missing)."""
    pool_selection: Callable[[OptionsT], float] | None = None
    """Train with LLKD's adaptive selection of pseudo-labelled samples, at the EMA momentum
    this returns; None: every sample trains at weight 1."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise TypeError(f"method name {self.name!r} must match [a-z][a-z0-9_]{{0,63}}")
        if not (isinstance(self.options, type) and issubclass(self.options, MethodOptions)):
            raise TypeError(f"method {self.name}: options must subclass MethodOptions")
        if not callable(self.plan):
            raise TypeError(f"method {self.name}: plan must be callable")

    def option_names(self) -> list[str]:
        """Its `method_options` keys."""
        return list(self.options.model_fields)

    def parse_options(self, raw: Mapping[str, Any]) -> OptionsT:
        """Its options from `method_options`; keys it does not have are not looked at (the
        registry rejects keys no method has). Raises pydantic's ValidationError."""
        own = {k: v for k, v in raw.items() if k in self.options.model_fields}
        return self.options.model_validate(own)


def method(
    *,
    options: type[OptionsT],
    name: str | None = None,
    uses_teacher: bool = True,
    llm_policy_allowed: bool = False,
    trains_on: TrainsOn = "seeds",
    needs_pool: str | None = None,
    pool_selection: Callable[[OptionsT], float] | None = None,
) -> Callable[[PlanFn[OptionsT]], MethodSpec[OptionsT]]:
    """Make a method of its plan function: `@method(options=MyOptions)` over
    `def my_method(run: PlanInput, options: MyOptions) -> Plan`; the name defaults to the
    function's. The module's top-level `MethodSpec`s are what `extra_methods` loads."""

    def decorate(plan: PlanFn[OptionsT]) -> MethodSpec[OptionsT]:
        return MethodSpec(
            name=name or plan.__name__,
            options=options,
            plan=plan,
            uses_teacher=uses_teacher,
            llm_policy_allowed=llm_policy_allowed,
            trains_on=trains_on,
            needs_pool=needs_pool,
            pool_selection=pool_selection,
        )

    return decorate
