"""The method registry: built-in facts and plans, typed options, user modules, and the docs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from evokd_agent.agent import EVOKD_ROUND, Action
from evokd_agent.bench.cells import DEFAULT_METHODS
from evokd_agent.errors import EvokdError
from evokd_agent.methods import MethodOptions, MethodSpec, Plan, PlanInput
from evokd_agent.methods.plans import BUILTIN_METHODS
from evokd_agent.methods.registry import (
    BUILTIN_REGISTRY,
    MethodRegistry,
    load_methods,
    method_registry,
    options_table,
)

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "examples" / "user_method" / "zerogen_checked.py"
RUN = PlanInput("classification", ("negative", "positive"), hard=3, easy=2, n_seeds=2)


def test_builtin_methods_and_their_facts() -> None:
    assert BUILTIN_REGISTRY.names() == [
        "evokd", "evokd_init", "llkd", "zerogen", "auggpt", "eda", "seeds_only", "full_shot"
    ]  # fmt: skip
    facts = BUILTIN_REGISTRY.values()
    assert {s.name for s in facts if not s.uses_teacher} == {"seeds_only", "full_shot", "eda"}
    assert {s.name for s in facts if s.llm_policy_allowed} == {"evokd", "evokd_init"}
    assert {s.name for s in facts if s.trains_on == "train"} == {"full_shot"}
    assert {s.name for s in facts if s.needs_pool} == {"llkd"}
    assert {s.name for s in facts if s.pool_selection} == {"llkd"}
    assert tuple(BUILTIN_REGISTRY.names()[:-1]) == DEFAULT_METHODS  # all but full_shot


def _plan(name: str, **options: Any) -> Plan:
    spec = BUILTIN_REGISTRY[name]
    plan: Plan = spec.plan(RUN, BUILTIN_REGISTRY.parse_options(name, options))
    return plan


def test_builtin_plans() -> None:
    generate = {"generate_samples": {"n_hard": 3, "n_easy": 2}}
    assert _plan("evokd") == Plan(EVOKD_ROUND, generate)
    init = _plan("evokd_init", rewrites_per_seed=2)
    assert init.round_steps == EVOKD_ROUND and init.arguments == generate
    assert init.prelude == (
        Action("generate_samples", {"n_hard": 2, "mode": "rewrite"}),
        Action("label_samples", {}),
        Action("train_student", {}),
    )
    assert len(_plan("evokd_init").prelude[0].arguments or {}) == 2  # default 4 rewrites
    assert _plan("evokd_init").prelude[0].arguments == {"n_hard": 4, "mode": "rewrite"}
    hints = {"label_samples": {"keep_hints": True}}
    batch = ("generate_samples", "label_samples")
    assert _plan("zerogen") == Plan(
        (*batch * 4, "train_student"),
        {"generate_samples": {"n_hard": 3, "mode": "zerogen"}, **hints},  # ceil(5 / 2 labels)
    )
    assert _plan("auggpt", batches_per_round=0) == Plan(
        (*batch, "train_student"),  # at least one batch
        {"generate_samples": {"n_hard": 3, "mode": "rewrite"}, **hints},  # ceil(5 / 2 seeds)
    )
    assert _plan("eda") == Plan(("eda_augment", "train_student"), {"eda_augment": {"per_seed": 3}})
    llkd = {"source": "pool", "limit": 5}
    assert _plan("llkd") == Plan(("score_confidence", "train_student"), {"score_confidence": llkd})
    assert _plan("llkd", pool_per_round=999).arguments["score_confidence"]["limit"] == 256
    assert _plan("seeds_only") == _plan("full_shot") == Plan((), rounds=0)


def test_options_are_typed_and_checked() -> None:
    llkd = BUILTIN_REGISTRY.parse_options("llkd", {"ema": "0.5", "batches_per_round": "x"})
    assert llkd.model_dump() == {"json_mode": "auto", "pool_per_round": None, "ema": 0.5}
    with pytest.raises(ValueError, match=r"unknown option\(s\) emma; llkd takes json_mode"):
        BUILTIN_REGISTRY.parse_options("llkd", {"emma": 0.5})
    with pytest.raises(ValueError, match=r"ema: Input should be less than 1, got 1\.0"):
        BUILTIN_REGISTRY.parse_options("llkd", {"ema": 1.0})
    with pytest.raises(ValueError, match="rewrites_per_seed: Input should be a valid integer"):
        BUILTIN_REGISTRY.parse_options("evokd_init", {"rewrites_per_seed": 2.5})
    with pytest.raises(ValueError, match="json_mode: Input should be 'auto', 'schema'"):
        BUILTIN_REGISTRY.parse_options("eda", {"json_mode": "xml"})


def test_readme_lists_exactly_the_registry_s_methods_and_options() -> None:
    table = options_table()
    assert table in README, f"README's method options table is out of date; it is:\n{table}"
    methods = README.split("\n## Methods\n", 1)[1].split("\n#", 1)[0]
    header, *listed = re.findall(r"^\| `(\w+)` \|", methods, flags=re.MULTILINE)
    assert header == "method" and listed == BUILTIN_REGISTRY.names()


def test_readme_shows_the_example_user_method() -> None:
    code = EXAMPLE.read_text(encoding="utf-8")
    body = code.split('"""\n', 1)[1]  # after the module docstring
    assert body.strip() in README


def test_user_modules_add_methods(tmp_path: Path) -> None:
    registry = method_registry(["tests.methods.sample_methods", str(EXAMPLE)])
    assert registry.names() == [*BUILTIN_REGISTRY.names(), "eda_fixed", "zerogen_checked"]
    assert method_registry([str(EXAMPLE)])["zerogen_checked"] is registry["zerogen_checked"]
    assert not registry["eda_fixed"].uses_teacher
    options = registry.parse_options("zerogen_checked", {"per_label": 3, "edits": 2})
    plan = registry["zerogen_checked"].plan(RUN, options)
    assert plan.arguments == {"generate_samples": {"n_hard": 3, "mode": "zerogen"}}
    assert "edits" in registry.option_names() and "edits" not in BUILTIN_REGISTRY.option_names()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("x = 1\n", "defines no methods"),
        ("def broken(:\n", "failed to import: SyntaxError"),
        ("from evokd_agent.methods.plans import evokd\n", "defines no methods"),
    ],
)
def test_bad_method_files_are_clear_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "methods_of_mine.py"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvokdError, match=message) as info:
        load_methods(str(path))
    assert info.value.fix


def test_a_second_method_of_one_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "again.py"
    path.write_text(
        "from evokd_agent.methods import MethodOptions, Plan, method\n\n"
        "@method(options=MethodOptions)\n"
        "def evokd(run, options):\n"
        "    return Plan(())\n"
    )
    with pytest.raises(EvokdError, match="two methods are named `evokd`"):
        method_registry([str(path)])
    with pytest.raises(EvokdError, match=r"cannot import method module `no\.such\.module`"):
        method_registry(["no.such.module"])


def _plan_fn(run: PlanInput, options: MethodOptions) -> Plan:
    return Plan(())


class _NotOptions:
    pass


def test_a_spec_is_checked_when_made() -> None:
    with pytest.raises(TypeError, match="must match"):
        MethodSpec("Bad-Name", MethodOptions, _plan_fn)
    bad: Any = _NotOptions
    with pytest.raises(TypeError, match="options must subclass MethodOptions"):
        MethodSpec("fine", bad, _plan_fn)
    with pytest.raises(ValidationError):
        MethodOptions.model_validate({"other": 1})  # a model on its own forbids unknown keys
    assert MethodRegistry(BUILTIN_METHODS).names() == BUILTIN_REGISTRY.names()
