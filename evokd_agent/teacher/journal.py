"""The request journal: a write-ahead record of every attempt sent to the teacher, and its outcome.

One JSON object per line in `RUN_DIR/cache/journal.jsonl`, each synced to disk before the
generator goes on:
- `{"e": "sent", "id", "key", "phase", "round", "reserved"}` before the request's bytes leave;
- `{"e": "done", "id", "ok", "charged"}` when its outcome is known (`charged`: tokens the ledger
  counted for it: the reported usage, its reservation when the cost is unknown, 0 when unbilled);
- `{"e": "final", "id", "error"}` when the generator gave that request up (retries spent) and
  returned the failure to its caller;
- `{"e": "void", "id"}` when such a failure is withdrawn (a teacher outage stops the run: those
  requests are sent again on resume).

On resume the journal answers two questions:
- What the crashed run spent but never recorded: attempts sent with no outcome (in flight at the
  crash) are charged at their reservation.
- What each request's outcome was, failures included, so the replay retraces the original run
  exactly: a request that failed then fails again, without being sent, instead of succeeding and
  changing every later prompt.

Everything the journal holds is "held" in the ledger from the start of a resume (it counts against
the budget, not yet as spent), and moves to spent as the replay reaches it, so the budget the
agent sees during the replay is the one it saw the first time, and a live request can never spend
what the crashed run already did. What the replay never reaches is charged when the run ends.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from evokd_agent.teacher.request import ChatError, ErrorKind

JOURNAL_NAME = "journal.jsonl"

# fdatasync where the OS has it (Linux); macOS and Windows have only fsync.
_sync = getattr(os, "fdatasync", os.fsync)


@dataclass
class PastAttempt:
    """One attempt the journal recorded in an earlier life of the run."""

    id: int
    key: str
    phase: str
    round: int
    reserved: int
    ok: bool | None = None
    """True: answered (its body is in the cache); False: failed; None: no outcome (crash)."""
    charged: int = 0
    """Tokens the ledger counted for it (for a crash orphan: its reservation)."""
    reserved_usd: float | None = None
    """Its reservation's worst case in dollars (None in journals written without prices)."""
    charged_usd: float | None = None
    """Dollars the ledger counted for it (for a crash orphan: `reserved_usd`)."""
    error: ChatError | None = None
    """Set when the request was given up with this failure (the caller saw it)."""
    voided: bool = False


@dataclass(frozen=True)
class Replay:
    """What the journal says about the next occurrence of a request."""

    attempts: tuple[PastAttempt, ...] = ()
    """Its attempts, in order, up to the one that decided it (if any)."""

    @property
    def answered(self) -> bool:
        """The last attempt was answered: the cache holds the answer."""
        return bool(self.attempts) and self.attempts[-1].ok is True

    @property
    def failure(self) -> ChatError | None:
        """The failure the original run returned for this request, if it gave it up."""
        last = self.attempts[-1] if self.attempts else None
        return None if last is None or last.voided else last.error


@dataclass
class RequestJournal:
    """Appends attempts to the journal file and replays the ones an earlier life recorded."""

    path: Path
    past: dict[str, deque[PastAttempt]] = field(default_factory=dict)
    """Attempts of earlier lives not yet replayed, per request key, in the order sent."""
    _file: BinaryIO | None = None
    _next_id: int = 0

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> RequestJournal:
        """Open (or create) the journal in `directory` and read what earlier lives recorded."""
        path = Path(directory) / JOURNAL_NAME
        journal = cls(path)
        attempts = _read(path)
        for attempt in attempts.values():
            if attempt.ok is None:  # in flight at the crash: assume the server billed it
                attempt.charged = attempt.reserved
                attempt.charged_usd = attempt.reserved_usd
            journal.past.setdefault(attempt.key, deque()).append(attempt)
        journal._next_id = max(attempts, default=-1) + 1
        path.parent.mkdir(parents=True, exist_ok=True)
        journal._file = open(path, "ab")  # noqa: SIM115 - closed by close()
        return journal

    def held(self) -> list[PastAttempt]:
        """Every past attempt whose tokens the ledger must hold from the start of a resume."""
        return [a for queue in self.past.values() for a in queue if a.charged]

    def replay(self, key: str) -> Replay:
        """Take the recorded attempts of the next occurrence of request `key` (none: send it)."""
        queue = self.past.get(key)
        taken: list[PastAttempt] = []
        while queue:
            attempt = queue.popleft()
            taken.append(attempt)
            if attempt.ok is True or (attempt.error is not None and not attempt.voided):
                break
        return Replay(tuple(taken))

    # --- writing ---------------------------------------------------------------------------
    def sent(
        self, key: str, phase: str, round: int, reserved: int, reserved_usd: float = 0.0
    ) -> int:
        """Record an attempt about to be sent; returns its id. Durable when this returns."""
        attempt_id = self._next_id
        self._next_id += 1
        self._write(
            {
                "e": "sent",
                "id": attempt_id,
                "key": key,
                "phase": phase,
                "round": round,
                "reserved": reserved,
                "reserved_usd": reserved_usd,
            }
        )
        return attempt_id

    def done(self, attempt_id: int, *, ok: bool, charged: int, charged_usd: float = 0.0) -> None:
        """Record an attempt's outcome and the tokens (and dollars) charged for it."""
        self._write(
            {"e": "done", "id": attempt_id, "ok": ok, "charged": charged, "usd": charged_usd}
        )

    def final(self, attempt_id: int, error: ChatError) -> None:
        """Record that the request ended with `error` after this attempt."""
        self._write(
            {
                "e": "final",
                "id": attempt_id,
                "error": {"kind": error.kind, "message": error.message, "status": error.status},
            }
        )

    def void(self, attempt_id: int) -> None:
        """Withdraw a recorded final failure: a resume sends that request again."""
        self._write({"e": "void", "id": attempt_id})

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError("the request journal is closed")
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        _sync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read(path: Path) -> dict[int, PastAttempt]:
    """Attempts recorded in `path` by id; a torn last line (a crash mid-write) is skipped."""
    attempts: dict[int, PastAttempt] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return attempts
    for line in lines:
        try:
            record = json.loads(line)
            attempt_id = int(record["id"])
            kind = record["e"]
        except (ValueError, KeyError, TypeError):
            continue
        if kind == "sent":
            attempts[attempt_id] = PastAttempt(
                attempt_id,
                str(record["key"]),
                str(record["phase"]),
                int(record["round"]),
                int(record["reserved"]),
                reserved_usd=_dollars(record.get("reserved_usd")),
            )
            continue
        attempt = attempts.get(attempt_id)
        if attempt is None:
            continue
        if kind == "done":
            attempt.ok = bool(record["ok"])
            attempt.charged = int(record["charged"])
            attempt.charged_usd = _dollars(record.get("usd"))
        elif kind == "final":
            error = record.get("error") or {}
            kind_: ErrorKind = error.get("kind", "other")
            attempt.error = ChatError(kind_, str(error.get("message", "")), error.get("status"))
        elif kind == "void":
            attempt.voided = True
    return attempts


def _dollars(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
