"""Tools as a user would write them, shared by the agent tests (and loaded as a module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from evokd_agent.agent import RunContext, StopRun, ToolRetry, tool


@dataclass
class Recorder:
    """A stand-in run context: records every tool call it sees."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    budget_left: int = 1_000
    results: dict[str, Any] = field(default_factory=dict)

    def record(self, name: str, **kwargs: Any) -> Any:
        self.calls.append((name, kwargs))
        return self.results.get(name, {"tool": name, **kwargs})


class Report(BaseModel):
    accuracy: float
    errors: list[str]


@tool
async def generate_samples(
    ctx: Recorder,
    n: Annotated[int, Field(ge=1, le=50)] = 10,
    mode: Literal["hard", "easy", "rewrite"] = "hard",
    labels: Annotated[list[str], Field(max_length=3)] | None = None,
) -> dict[str, Any]:
    """Write new training inputs with the teacher.

    Args:
        n: How many inputs to write.
        mode: `hard` for inputs the student likely gets wrong, `easy` for ones it
            gets right, `rewrite` for rewrites of the seeds.
        labels: Only write inputs for these labels.
    """
    result: dict[str, Any] = ctx.record("generate_samples", n=n, mode=mode, labels=labels)
    return result


@tool
async def evaluate_student(ctx: Recorder, split: Literal["dev", "batch"] = "batch") -> Report:
    """Evaluate the student and report accuracy and the wrong predictions.

    Args:
        split: Which data to evaluate on.
    """
    ctx.record("evaluate_student", split=split)
    return Report(accuracy=0.5, errors=["text a"])


@tool
async def sample_errors(ctx: Recorder, k: Annotated[int, Field(ge=1, le=20)] = 5) -> str:
    """Pick up to k wrongly predicted samples for the weakness analysis.

    Args:
        k: Number of errors to pick.
    """
    ctx.record("sample_errors", k=k)
    if ctx.results.get("no_errors"):
        raise ToolRetry("The student made no errors; call generate_samples with mode='hard'.")
    return "picked"


@tool
async def train_student(ctx: Recorder, epochs: Annotated[int, Field(ge=1, le=10)] = 3) -> Any:
    """Train the student on all accepted samples.

    Args:
        epochs: Training epochs.
    """
    ctx.record("train_student", epochs=epochs)
    if ctx.budget_left <= 0:
        raise StopRun("token budget exhausted")
    return ctx.results.get("train_student", {"f1": 0.7})


@tool(name="finish", description="End the run and write the report.")
async def finish_run(ctx: RunContext, summary: str = "") -> dict[str, str]:
    """Ignored: the description above wins.

    Args:
        summary: One line on how the run went.
    """
    return {"finished": summary or "yes"}


@tool
async def crash(ctx: RunContext, what: str = "boom") -> str:
    """A tool with a bug in it.

    Args:
        what: The message of the exception.
    """
    raise ValueError(what)
