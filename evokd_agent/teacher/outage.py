"""Telling a teacher outage from bad luck: requests given up in a row, or failing for too long.

A request is given up only after every retry (backoff up to minutes), so several in a row with no
answer in between mean the endpoint is down, not that one item was unlucky. The run then stops
with exit code 3 and stays resumable: the failures that made up the outage are withdrawn from the
request journal, so a resume sends those requests again instead of replaying them as failures.
"""

from __future__ import annotations

from collections.abc import Callable

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.request import ChatError, ErrorKind

OUTAGE_KINDS: frozenset[ErrorKind] = frozenset(
    {"rate_limit", "server", "timeout", "connection", "malformed"}
)
"""Failures that say something about the endpoint (not about the one request, like a 400)."""


class TeacherOutage(EvokdError):
    """The teacher stopped answering; the run stops, and `--resume` continues it later."""

    exit_code = 3


class OutageWatch:
    """Watches the requests given up: says when they add up to an outage."""

    def __init__(self, failures: int, seconds: float, clock: Callable[[], float]) -> None:
        self.failures = failures
        self.seconds = seconds
        self._clock = clock
        self.streak: list[int | None] = []
        """Journal ids of the last attempts of the requests given up since the last answer."""
        self._since: float | None = None

    def answered(self) -> None:
        """A request was answered: the endpoint is up."""
        self.streak.clear()
        self._since = None

    def gave_up(self, error: ChatError, attempt_id: int | None) -> TeacherOutage | None:
        """Note a request given up with `error`; returns the outage it completes, if any."""
        if error.kind not in OUTAGE_KINDS:
            return None
        now = self._clock()
        if self._since is None:
            self._since = now
        self.streak.append(attempt_id)
        failing_for = now - self._since
        if len(self.streak) < self.failures and failing_for < self.seconds:
            return None
        return TeacherOutage(
            f"the teacher is not answering: {len(self.streak)} requests in a row failed after "
            f"every retry over {failing_for:.0f}s (last: {error})",
            "nothing is lost: once the teacher answers again, continue with "
            "`evokd run --resume RUN_DIR` (the run directory is printed above)",
        )
