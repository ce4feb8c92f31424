"""Progress bar for long teacher batches: requests done/total, tokens spent/budget, rates."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.request import ChatResult

_POSTFIX_EVERY = 0.5  # seconds; formatting the postfix on every result would cost CPU


class Progress:
    """A tqdm bar on stderr; silent when disabled or when stderr is not a terminal."""

    def __init__(
        self,
        total: int | None,
        ledger: TokenLedger,
        *,
        enabled: bool | None = None,
        desc: str = "teacher",
        file: TextIO | None = None,
    ) -> None:
        stream = file if file is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._ledger = ledger
        self._spent0 = ledger.spent
        self._start = time.monotonic()
        self._last = 0.0
        self.errors = 0
        self.cached = 0
        self._bar: tqdm[Any] | None = (
            tqdm(total=total, desc=desc, unit="req", file=stream, dynamic_ncols=True, leave=True)
            if enabled
            else None
        )

    def postfix(self) -> str:
        """Tokens spent of the budget, token rate, cache hits and errors."""
        ledger = self._ledger
        budget = "" if ledger.budget is None else f"/{ledger.budget}"
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = (ledger.spent - self._spent0) / elapsed
        return (
            f"tokens {ledger.spent}{budget} ({rate:,.0f}/s), cached {self.cached}, "
            f"errors {self.errors}" + (", budget exhausted" if ledger.exhausted else "")
        )

    def update(self, result: ChatResult) -> None:
        self.cached += result.cached
        self.errors += result.error is not None
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last >= _POSTFIX_EVERY:
            self._last = now
            self._bar.set_postfix_str(self.postfix(), refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.close()
            self._bar = None
