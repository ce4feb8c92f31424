"""evokd-agent: distil a large language model into a small, fast student model.

The names below are the public API, what a user's tool or method imports (`from evokd_agent
import tool, ToolContext`); everything else may move between releases. `ToolContext` and
`DistillContext` load torch on first use, so `import evokd_agent` stays fast for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evokd_agent.agent import Action, StopRun, ToolError, ToolResult, ToolRetry, tool
from evokd_agent.methods import MethodOptions, MethodSpec, Plan, PlanInput, method
from evokd_agent.student.data import NerSample, Sample, TextSample

if TYPE_CHECKING:
    from evokd_agent.distill.context import DistillContext, ToolContext

__version__ = "0.1.0"

__all__ = [
    "Action",
    "DistillContext",
    "MethodOptions",
    "MethodSpec",
    "NerSample",
    "Plan",
    "PlanInput",
    "Sample",
    "StopRun",
    "TextSample",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "ToolRetry",
    "method",
    "tool",
]

# Public names whose modules import torch: resolved on first access.
_LAZY = {
    "DistillContext": "evokd_agent.distill.context",
    "ToolContext": "evokd_agent.distill.context",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
