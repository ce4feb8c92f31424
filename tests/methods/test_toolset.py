"""The built-in tools load like user tools, and the README's example tool works as documented."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from evokd_agent.run.toolset import BUILTIN_TOOL_MODULES, build_registry
from evokd_agent.student.data import TextSample

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_tools.py"


def test_builtin_tools_are_all_registered_with_schemas() -> None:
    registry = build_registry()
    assert registry.names() == list(BUILTIN_TOOL_MODULES)
    schemas = {s["function"]["name"]: s["function"] for s in registry.schemas()}
    gen = schemas["generate_samples"]["parameters"]["properties"]
    assert gen["n_hard"]["maximum"] == 32
    assert set(gen["mode"]["enum"]) == {"evokd", "rewrite", "zerogen"}
    assert "weakness" in schemas["generate_samples"]["description"]


async def test_readme_example_tool_clamps_and_counts() -> None:
    registry = build_registry([str(EXAMPLE)])
    assert "class_balance" in registry.names()
    train = [TextSample("a", "pos"), TextSample("b", "pos"), TextSample("c", "neg")]
    ctx: Any = SimpleNamespace(train_set=train)
    outcome = await registry.call("class_balance", {"top": 50}, ctx)
    assert outcome.ok and outcome.value == {"pos": 2, "neg": 1}
    assert any("clamped" in note for note in outcome.notes)
    empty_ctx: Any = SimpleNamespace(train_set=[])
    empty = await registry.call("class_balance", {}, empty_ctx)
    assert not empty.ok and "no labelled sentences" in empty.content
