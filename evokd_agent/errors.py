"""The one exception type users see: a cause and the fix, printed on one line by the CLI."""

from __future__ import annotations


class EvokdError(Exception):
    """A problem the user can act on. `cause` says what went wrong, `fix` what to do about it."""

    exit_code = 2
    """The CLI's exit status for it (README "Exit codes")."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(cause, fix)
        self.cause = cause
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.cause} (fix: {self.fix})"
