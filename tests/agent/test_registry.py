"""Calling tools through the registry: validation, clamping, model-visible errors, loading."""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field

from evokd_agent.agent import (
    OMIT_IF_NONE,
    RunContext,
    StopRun,
    ToolError,
    ToolRegistry,
    ToolResult,
    tool,
)
from evokd_agent.errors import EvokdError
from tests.agent import sample_tools
from tests.agent.sample_tools import Recorder


@pytest.fixture
def registry() -> ToolRegistry[Recorder]:
    return ToolRegistry(
        [
            sample_tools.generate_samples,
            sample_tools.evaluate_student,
            sample_tools.sample_errors,
            sample_tools.train_student,
            sample_tools.finish_run,
            sample_tools.crash,
        ]
    )


@tool
async def bounded(
    ctx: RunContext,
    count: int,
    temperature: Annotated[float, Field(gt=0, lt=2)] = 0.7,
    positive: Annotated[int, Field(gt=0)] = 1,
    scores: list[Annotated[int, Field(le=5)]] | None = None,
) -> dict[str, Any]:
    """Echo the arguments.

    Args:
        count: Anything.
    """
    return {"count": count, "temperature": temperature, "positive": positive, "scores": scores}


async def test_clamps_numbers_into_bounds_and_tells_the_model(
    registry: ToolRegistry[Recorder],
) -> None:
    ctx = Recorder()
    outcome = await registry.call("generate_samples", '{"n": 500, "mode": "easy"}', ctx)
    assert outcome.ok
    assert ctx.calls == [("generate_samples", {"n": 50, "mode": "easy", "labels": None})]
    assert outcome.notes == ("n clamped from 500 to 50",)
    assert outcome.content.startswith("Note: n clamped from 500 to 50.")
    assert outcome.arguments == {"n": 50, "mode": "easy", "labels": None}

    low = await registry.call("generate_samples", {"n": -3}, ctx)
    assert low.arguments is not None and low.arguments["n"] == 1
    as_text = await registry.call("generate_samples", {"n": "99"}, ctx)
    assert as_text.arguments is not None and as_text.arguments["n"] == 50


async def test_clamps_exclusive_bounds_and_nested_items() -> None:
    registry: ToolRegistry[RunContext] = ToolRegistry([bounded])
    raw = {"count": 1, "temperature": 9.5, "positive": -4, "scores": [1, 9, 3]}
    outcome = await registry.call("bounded", raw, object())
    assert outcome.ok, outcome.content
    value = outcome.value
    assert value["temperature"] < 2 and math.isclose(value["temperature"], 2)
    assert value["positive"] == 1
    assert value["scores"] == [1, 5, 3]
    assert "scores[1] clamped from 9 to 5" in outcome.notes


async def test_truncates_long_lists(registry: ToolRegistry[Recorder]) -> None:
    ctx = Recorder()
    labels = ["a", "b", "c", "d", "e"]
    outcome = await registry.call("generate_samples", {"labels": labels}, ctx)
    assert outcome.ok
    assert ctx.calls[0][1]["labels"] == ["a", "b", "c"]
    assert outcome.notes == ("labels truncated from 5 to 3 items",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"n": 5', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"n": "many"}', "n: Input should be a valid integer"),
        ('{"mode": "medium"}', "mode: Input should be 'hard', 'easy' or 'rewrite'"),
        ('{"labels": "pos"}', "labels"),
    ],
)
async def test_invalid_arguments_become_a_message_for_the_model(
    registry: ToolRegistry[Recorder], raw: str, expected: str
) -> None:
    ctx = Recorder()
    outcome = await registry.call("generate_samples", raw, ctx)
    assert not outcome.ok
    assert outcome.status == "invalid_arguments"
    assert outcome.content.startswith("Invalid arguments for `generate_samples`")
    assert expected in outcome.content
    assert outcome.arguments is None
    assert ctx.calls == []  # the tool never ran


async def test_missing_required_argument() -> None:
    outcome = await ToolRegistry([bounded]).call("bounded", {}, object())
    assert outcome.status == "invalid_arguments"
    assert "count: required argument is missing" in outcome.content


@pytest.mark.parametrize("raw", ["", "   ", "null", None, '"{\\"n\\": 7}"'])
async def test_empty_null_and_double_encoded_arguments(
    registry: ToolRegistry[Recorder], raw: str | None
) -> None:
    ctx = Recorder()
    outcome = await registry.call("generate_samples", raw, ctx)
    assert outcome.ok, outcome.content
    assert ctx.calls[0][1]["n"] == (7 if raw and "7" in raw else 10)


async def test_unknown_arguments_are_ignored_with_a_note(registry: ToolRegistry[Recorder]) -> None:
    outcome = await registry.call("train_student", {"epochs": 2, "lr": 0.1}, Recorder())
    assert outcome.ok
    assert outcome.notes == ("ignored unknown argument(s): lr",)


async def test_unknown_tool_lists_the_tools(registry: ToolRegistry[Recorder]) -> None:
    outcome = await registry.call("delete_everything", "{}", Recorder())
    assert outcome.status == "unknown_tool"
    assert "Unknown tool `delete_everything`" in outcome.content
    assert "generate_samples" in outcome.content and "finish" in outcome.content


async def test_tool_retry_is_model_visible(registry: ToolRegistry[Recorder]) -> None:
    ctx = Recorder(results={"no_errors": True})
    outcome = await registry.call("sample_errors", {"k": 99}, ctx)
    assert outcome.status == "retry"
    assert not outcome.ok
    assert "The student made no errors" in outcome.content
    assert "k clamped from 99 to 20" in outcome.content


async def test_other_exceptions_end_the_run_with_the_cause(
    registry: ToolRegistry[Recorder],
) -> None:
    with pytest.raises(ToolError) as info:
        await registry.call("crash", {"what": "disk full"}, Recorder())
    err = info.value
    assert err.tool_name == "crash"
    assert isinstance(err.original, ValueError)
    assert err.__cause__ is err.original
    assert "tool `crash` failed: ValueError: disk full" in str(err)


async def test_evokd_error_inside_a_tool_keeps_its_fix() -> None:
    @tool
    async def needs_config(ctx: RunContext) -> str:
        """Fails like a misconfigured run."""
        raise EvokdError("no labels in the config", "add `labels:`")

    with pytest.raises(ToolError) as info:
        await ToolRegistry([needs_config]).call("needs_config", {}, object())
    assert info.value.fix == "add `labels:`"
    assert "no labels in the config" in info.value.cause


async def test_stop_run_propagates(registry: ToolRegistry[Recorder]) -> None:
    with pytest.raises(StopRun, match="budget"):
        await registry.call("train_student", {}, Recorder(budget_left=0))


async def test_results_are_rendered_for_the_model(registry: ToolRegistry[Recorder]) -> None:
    report = await registry.call("evaluate_student", {}, Recorder())
    assert json.loads(report.content) == {"accuracy": 0.5, "errors": ["text a"]}
    assert report.value.accuracy == 0.5
    as_dict = await registry.call("finish", {"summary": "good"}, Recorder())
    assert json.loads(as_dict.content) == {"finished": "good"}


@dataclass(frozen=True, kw_only=True)
class Counted(ToolResult):
    written: int
    extra: float | None = field(default=None, metadata={OMIT_IF_NONE: True})
    stop: bool
    reason: str | None = None


@tool
async def counted(ctx: RunContext, extra: float | None = None) -> Counted:
    """Count something.

    Args:
        extra: Shown only when given.
    """
    return Counted(written=3, extra=extra, stop=True)


async def test_typed_results_render_their_fields_in_order() -> None:
    registry: ToolRegistry[RunContext] = ToolRegistry([counted])
    plain = await registry.call("counted", {}, object())
    assert plain.content == '{"written":3,"stop":true,"reason":null}'
    assert isinstance(plain.value, Counted) and plain.value.stop
    extra = await registry.call("counted", {"extra": 0.5}, object())
    assert extra.content == '{"written":3,"extra":0.5,"stop":true,"reason":null}'


def test_registry_names_schemas_and_duplicates(registry: ToolRegistry[Recorder]) -> None:
    assert registry.names()[:2] == ["generate_samples", "evaluate_student"]
    assert [s["function"]["name"] for s in registry.schemas()] == registry.names()
    assert registry.get("finish") is sample_tools.finish_run
    assert registry.get("nope") is None
    with pytest.raises(EvokdError, match="two tools are named `finish`"):
        registry.add(sample_tools.finish_run)
    with pytest.raises(TypeError, match="expected a Tool"):
        registry.add(print)  # type: ignore[arg-type]


USER_TOOL = textwrap.dedent(
    '''
    from dataclasses import dataclass
    from typing import Annotated

    from pydantic import Field

    from evokd_agent.agent import RunContext, tool
    from tests.agent.sample_tools import finish_run  # imported, so not collected here


    @dataclass
    class Weights:
        factor: int


    @tool
    async def shout(ctx: RunContext, text: str, times: Annotated[int, Field(le=3)] = 1) -> str:
        """Repeat text loudly.

        Args:
            text: What to shout.
            times: How often.
        """
        return " ".join([text.upper()] * times)
    '''
)


async def test_load_file_collects_the_files_own_tools(tmp_path: Path) -> None:
    path = tmp_path / "my_tools.py"
    path.write_text(USER_TOOL)
    registry: ToolRegistry[RunContext] = ToolRegistry()
    loaded = registry.load_file(path)
    assert [t.name for t in loaded] == ["shout"]
    assert registry.names() == ["shout"]
    outcome = await registry.call("shout", '{"text": "hi", "times": 7}', object())
    assert outcome.content == "Note: times clamped from 7 to 3.\nHI HI HI"
    with pytest.raises(EvokdError, match="two tools are named `shout`"):
        registry.load_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("x = 1\n", "defines no tools"),
        ("def broken(:\n", "failed to import: SyntaxError"),
    ],
)
def test_load_file_errors_name_cause_and_fix(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "user_tools.py"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvokdError, match=message) as info:
        ToolRegistry[RunContext]().load_file(path)
    assert info.value.fix


def test_load_module() -> None:
    registry: ToolRegistry[Recorder] = ToolRegistry()
    registry.load_module("tests.agent.sample_tools")
    assert set(registry.names()) == {
        "generate_samples",
        "evaluate_student",
        "sample_errors",
        "train_student",
        "finish",
        "crash",
    }
    with pytest.raises(EvokdError, match=r"cannot import tool module `no_such_pkg\.tools`"):
        registry.load_module("no_such_pkg.tools")
