"""Our one retry policy (the SDK's own retries are off): exponential backoff with jitter,
never shorter than the server's Retry-After. Sleep and randomness are injected for tests."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.request import ChatError

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

Billing = Literal["no", "unknown"]
"""Whether a failed attempt may have been billed: "no" (refused, or never sent), "unknown"."""


class AttemptFailed(Exception):
    """One attempt failed; carries what the generator needs to decide what happens next."""

    def __init__(
        self,
        error: ChatError,
        *,
        retryable: bool,
        billing: Billing = "no",
        retry_after: float | None = None,
        fatal: EvokdError | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.billing = billing
        self.retry_after = retry_after
        self.fatal = fatal
        """Set when the failure makes the whole run pointless (bad key, unknown model...)."""


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, `retry-after` (seconds or an
    HTTP date), or None."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


OnRetry = Callable[[int, float, AttemptFailed], None]
"""Called before each retry with (retry number, seconds about to be waited, the failure)."""


class RetryPolicy:
    """Retry `AttemptFailed(retryable=True)` up to `max_retries` times, waiting
    max(Retry-After, backoff) with backoff = b * uniform(0.5, 1) and
    b = min(backoff_max, backoff_initial * backoff_multiplier ** (retry - 1)).

    The first attempt runs outside tenacity: its bookkeeping costs more CPU than the rest of a
    request, and most requests succeed at once. Retries run in a tenacity loop."""

    def __init__(
        self,
        config: TeacherConfig,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.sleep = sleep

    def backoff(self, retry: int) -> float:
        """Jittered backoff before retry number `retry` (1-based)."""
        c = self.config
        base = min(c.backoff_max, c.backoff_initial * c.backoff_multiplier ** (retry - 1))
        # "Equal jitter": spreads a herd of retries while keeping a floor under each wait.
        return base * (0.5 + 0.5 * self.rng.random())

    def delay(self, retry: int, failure: BaseException | None) -> float:
        """Seconds to wait before retry number `retry`, honouring the failure's Retry-After."""
        delay = self.backoff(retry)
        if isinstance(failure, AttemptFailed) and failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        return delay

    async def call(self, attempt: Callable[[], Awaitable[T]], on_retry: OnRetry | None = None) -> T:
        """`await attempt()` until it succeeds, fails for good (raises that `AttemptFailed`) or
        retries run out (raises the last one). Other exceptions pass through at once."""
        try:
            return await attempt()
        except AttemptFailed as failed:
            if not is_retryable(failed) or self.config.max_retries == 0:
                raise
            delay = self.delay(1, failed)
            if on_retry is not None:
                on_retry(1, delay, failed)
            await self.sleep(delay)

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            return self.delay(state.attempt_number + 1, failure)

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome is not None else None
            if on_retry is not None and isinstance(failure, AttemptFailed):
                on_retry(state.attempt_number + 1, state.upcoming_sleep, failure)

        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=stop_after_attempt(self.config.max_retries),
            wait=wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )

        async def again() -> T:  # a coroutine function, so tenacity awaits it
            return await attempt()

        result: T = await retrying(again)
        return result


def is_retryable(exc: BaseException) -> bool:
    """A failure worth another attempt (not one that must stop the run)."""
    return isinstance(exc, AttemptFailed) and exc.retryable and exc.fatal is None
