"""`@tool`: schema from type hints and docstring, and rejection of unusable functions."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

from evokd_agent.agent import RunContext, Tool, build_tool, tool
from evokd_agent.agent.docstring import parse_docstring
from tests.agent.sample_tools import evaluate_student, finish_run, generate_samples


def test_schema_from_hints_bounds_literal_defaults_and_lists() -> None:
    params = generate_samples.parameters
    assert set(params["properties"]) == {"n", "mode", "labels"}  # ctx is not a parameter
    assert params["type"] == "object"
    assert "required" not in params  # every parameter has a default
    n = params["properties"]["n"]
    assert n == {
        "type": "integer",
        "minimum": 1,
        "maximum": 50,
        "default": 10,
        "description": "How many inputs to write.",
    }
    mode = params["properties"]["mode"]
    assert mode["enum"] == ["hard", "easy", "rewrite"]
    assert mode["default"] == "hard"
    # continuation lines of an Args entry are joined into one description
    assert mode["description"] == (
        "`hard` for inputs the student likely gets wrong, `easy` for ones it gets right, "
        "`rewrite` for rewrites of the seeds."
    )
    labels = params["properties"]["labels"]
    array = next(s for s in labels["anyOf"] if s.get("type") == "array")
    assert array == {"type": "array", "items": {"type": "string"}, "maxItems": 3}
    assert labels["description"] == "Only write inputs for these labels."


def test_description_is_docstring_summary_and_openai_shape() -> None:
    assert generate_samples.name == "generate_samples"
    assert generate_samples.description == "Write new training inputs with the teacher."
    schema = evaluate_student.schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "evaluate_student"
    assert schema["function"]["description"].startswith("Evaluate the student")
    assert schema["function"]["parameters"]["properties"]["split"]["enum"] == ["dev", "batch"]


def test_decorator_with_arguments_overrides_name_and_description() -> None:
    assert isinstance(finish_run, Tool)
    assert finish_run.name == "finish"
    assert finish_run.description == "End the run and write the report."
    props = finish_run.parameters["properties"]
    assert props["summary"]["description"] == "One line on how the run went."


def test_required_parameters_and_no_titles_but_a_field_named_title() -> None:
    @tool
    async def label(ctx: RunContext, texts: list[str], title: str, limit: int = 3) -> str:
        """Label texts.

        Args:
            texts: Inputs to label.
            title: A parameter that happens to be called title.
        """
        return "x"

    params = label.parameters
    assert params["required"] == ["texts", "title"]
    assert set(params["properties"]) == {"texts", "title", "limit"}

    def titles(node: Any) -> int:
        if isinstance(node, dict):
            own = 1 if isinstance(node.get("title"), str) else 0
            return own + sum(titles(v) for v in node.values())
        if isinstance(node, list):
            return sum(titles(v) for v in node)
        return 0

    assert titles(params) == 0
    assert params["properties"]["limit"] == {"type": "integer", "default": 3}


def test_explicit_field_description_wins_over_docstring() -> None:
    @tool
    async def pick(
        ctx: RunContext, k: Annotated[int, Field(ge=0, description="from Field")] = 1
    ) -> str:
        """Pick things.

        Args:
            k: from the docstring
        """
        return "x"

    assert pick.parameters["properties"]["k"]["description"] == "from Field"


def test_explicit_description_makes_the_docstring_optional() -> None:
    @tool(description="Count things.")
    async def count(ctx: RunContext, k: int = 1) -> int:
        return k

    assert count.description == "Count things."
    assert count.parameters["properties"]["k"] == {"type": "integer", "default": 1}


def test_context_annotation_need_not_resolve() -> None:
    async def probe(ctx: RunContext, a: int) -> str:
        """Probe."""
        return str(a)

    probe.__annotations__["ctx"] = "OnlyKnownToMypy"
    assert set(build_tool(probe).parameters["properties"]) == {"a"}


async def _documented(ctx: RunContext, a: int) -> str:
    """Doc."""
    return ""


def _sync(ctx: RunContext, a: int) -> str:
    """Doc."""
    return ""


async def _no_doc(ctx: RunContext, a: int) -> str:
    return ""


async def _unannotated(ctx: RunContext, a) -> str:  # type: ignore[no-untyped-def]
    """Doc."""
    return ""


async def _stray_doc(ctx: RunContext, a: int) -> str:
    """Doc.

    Args:
        b: Not a parameter.
    """
    return ""


async def _varargs(ctx: RunContext, *a: int) -> str:
    """Doc."""
    return ""


async def _no_ctx() -> str:
    """Doc."""
    return ""


@pytest.mark.parametrize(
    ("fn", "kwargs", "message"),
    [
        (_sync, {}, "not async"),
        (_no_doc, {}, "needs a docstring"),
        (_unannotated, {}, "'a' has no type annotation"),
        (_stray_doc, {}, r"unknown parameter\(s\) \['b'\]"),
        (_varargs, {}, "must be a named parameter"),
        (_no_ctx, {}, "first parameter must be the run context"),
        (_documented, {"name": "bad name!"}, "must match"),
    ],
)
def test_rejects_unusable_functions(fn: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        build_tool(fn, **kwargs)


def test_parse_docstring_sections() -> None:
    parsed = parse_docstring(
        """Summary line.

        More about it.

        Args:
            alpha (int): First
                and more.
            beta: Second.

        Returns:
            gamma: not an argument.
        """
    )
    assert parsed.summary == "Summary line.\n\nMore about it."
    assert parsed.args == {"alpha": "First and more.", "beta": "Second."}
