"""Exceptions a tool may raise, and the one that ends a run when a tool crashes."""

from __future__ import annotations

from evokd_agent.errors import EvokdError


class ToolRetry(Exception):
    """Raised by a tool to send `message` back to the model and let the run go on.

    Use it for problems the model can fix by calling again differently (no errors to sample yet,
    an empty selection); the message is what the model reads.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StopRun(Exception):
    """Raised by a tool to end the run cleanly (budget exhausted, target reached)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ToolError(EvokdError):
    """A tool failed with an unexpected exception; the run ends with the tool's name and cause.

    The original exception is kept as `original` and as `__cause__` (for the traceback).
    """

    def __init__(self, tool_name: str, original: BaseException) -> None:
        if isinstance(original, EvokdError):
            cause, fix = original.cause, original.fix
            self.exit_code = original.exit_code
        else:
            cause = f"{type(original).__name__}: {original}"
            fix = "see the traceback in the run log; fix the tool or the input it was given"
        super().__init__(f"tool `{tool_name}` failed: {cause}", fix)
        self.tool_name = tool_name
        self.original = original
