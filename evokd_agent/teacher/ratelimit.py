"""Requests/min and tokens/min limits: asyncio-throttle for the requests, a token bucket for the
tokens (a throttle counts acquisitions and cannot weigh one request by its tokens)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from asyncio_throttle.throttler import Throttler

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """Refills at `rate` units/s up to `capacity`. A take larger than the capacity waits for a
    full bucket and leaves it in debt, so oversized requests still pass, at the average rate."""

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self.level = capacity
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self, amount: float) -> float:
        """Seconds until `amount` (capped at the capacity) is available."""
        self._refill()
        missing = min(amount, self.capacity) - self.level
        return max(0.0, missing / self.rate)

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount


def request_throttler(requests_per_minute: float, burst_seconds: float) -> Throttler:
    """At most `burst` requests in any window of `burst` / rate seconds, `burst` being
    `burst_seconds` worth of the rate (at least 1): a burst, then the average rate."""
    rate = requests_per_minute / 60.0
    burst = max(1, math.floor(rate * burst_seconds))
    period = burst / rate
    # The throttle polls; only the waiter at the head of the queue does (see RateLimiter).
    return Throttler(rate_limit=burst, period=period, retry_interval=min(0.01, period / burst))


class RateLimiter:
    """Waits before each request until both the request and the token limits allow it (FIFO).

    `clock` and `sleep` drive the token bucket and time the waits; the request limit is
    asyncio-throttle's, on its module's `time.monotonic` and `asyncio.sleep` (tests swap those)."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst_seconds: float = 10.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._throttler = (
            None
            if requests_per_minute is None
            else request_throttler(requests_per_minute, burst_seconds)
        )
        self._bucket: TokenBucket | None = None
        if tokens_per_minute is not None:
            rate = tokens_per_minute / 60.0
            self._bucket = TokenBucket(rate, max(1.0, rate * burst_seconds), clock)
        self._clock = clock
        self._sleep = sleep
        self._lock: asyncio.Lock | None = None
        self.waited = 0.0
        """Total seconds spent waiting for the limits."""

    @property
    def active(self) -> bool:
        return self._throttler is not None or self._bucket is not None

    async def acquire(self, tokens: int) -> float:
        """Wait until one request of `tokens` tokens may go; returns the seconds waited."""
        if not self.active:
            return 0.0
        if self._lock is None:
            self._lock = asyncio.Lock()
        waited = 0.0
        # The lock keeps callers in arrival order, so a large request is not starved by small ones.
        async with self._lock:
            bucket = self._bucket
            if bucket is not None:
                while (delay := bucket.wait_time(tokens)) > 0:
                    await self._sleep(delay)
                    waited += delay
            if self._throttler is not None:  # last: it logs the time the request goes
                start = self._clock()
                async with self._throttler:  # the library's documented use; nothing to hold
                    pass
                waited += self._clock() - start
            if bucket is not None:
                bucket.take(tokens)  # the bucket only filled while the throttle waited
        self.waited += waited
        return waited
