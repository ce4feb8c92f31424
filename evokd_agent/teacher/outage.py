"""Telling a teacher outage from bad luck: requests given up in a row, or failing for too long.

A request is given up only after every retry (backoff up to minutes), so several in a row with no
answer in between mean the endpoint is down, not that one item was unlucky. The run then stops
with exit code 3 and stays resumable: the failures that made up the outage are withdrawn from the
request journal, so a resume sends those requests again instead of replaying them as failures.
"""

from __future__ import annotations

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
    """Watches the requests given up: says when they add up to an outage.

    Time counts only while requests are being tried (each give-up adds the seconds from its
    first attempt to its last), so minutes of student training between two failures are not
    taken for minutes of outage."""

    def __init__(self, failures: int, seconds: float) -> None:
        self.failures = failures
        self.seconds = seconds
        self.streak: list[int | None] = []
        """Journal ids of the last attempts of the requests given up since the last answer."""
        self._trying = 0.0

    def answered(self) -> None:
        """A request was answered: the endpoint is up."""
        self.streak.clear()
        self._trying = 0.0

    def gave_up(
        self, error: ChatError, attempt_id: int | None, seconds: float = 0.0
    ) -> TeacherOutage | None:
        """Note a request given up with `error` after `seconds` of trying; returns the outage
        it completes, if any."""
        if error.kind not in OUTAGE_KINDS:
            return None
        self.streak.append(attempt_id)
        self._trying += max(0.0, seconds)
        if len(self.streak) < self.failures and self._trying < self.seconds:
            return None
        return TeacherOutage(
            f"the teacher is not answering: {len(self.streak)} requests in a row failed after "
            f"every retry, {self._trying:.0f}s of trying (last: {error})",
            "nothing is lost: once the teacher answers again, continue with "
            "`evokd run --resume RUN_DIR` (the run directory is printed above)",
        )
