"""The names a user's tool or method imports from `evokd_agent`: pinned, so a move inside the
package cannot break user code without this test saying so."""

from __future__ import annotations

import subprocess
import sys

import evokd_agent

PUBLIC = {
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
}


def test_public_names_are_pinned() -> None:
    assert set(evokd_agent.__all__) == PUBLIC


def test_every_public_name_resolves() -> None:
    for name in PUBLIC:
        assert getattr(evokd_agent, name) is not None, name
    assert evokd_agent.DistillContext.__name__ == "DistillContext"
    assert issubclass(evokd_agent.DistillContext, evokd_agent.ToolContext)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        evokd_agent.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_import_stays_light() -> None:
    # The CLI imports the package for `--help`: torch must wait until a student is needed.
    code = "import sys, evokd_agent; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
