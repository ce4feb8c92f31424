"""Requests/min and tokens/min limits as token buckets, with an injectable clock and sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

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


class RateLimiter:
    """Waits before each request until both the request and the token limits allow it (FIFO)."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst_seconds: float = 10.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._buckets: list[tuple[TokenBucket, bool]] = []  # (bucket, counts tokens?)
        if requests_per_minute is not None:
            rate = requests_per_minute / 60.0
            self._buckets.append((TokenBucket(rate, max(1.0, rate * burst_seconds), clock), False))
        if tokens_per_minute is not None:
            rate = tokens_per_minute / 60.0
            self._buckets.append((TokenBucket(rate, max(1.0, rate * burst_seconds), clock), True))
        self._sleep = sleep
        self._lock: asyncio.Lock | None = None
        self.waited = 0.0
        """Total seconds spent waiting for the limits."""

    @property
    def active(self) -> bool:
        return bool(self._buckets)

    async def acquire(self, tokens: int) -> float:
        """Wait until one request of `tokens` tokens may go; returns the seconds waited."""
        if not self._buckets:
            return 0.0
        if self._lock is None:
            self._lock = asyncio.Lock()
        waited = 0.0
        # The lock keeps callers in arrival order, so a large request is not starved by small ones.
        async with self._lock:
            while True:
                delay = max(b.wait_time(tokens if t else 1) for b, t in self._buckets)
                if delay <= 0:
                    break
                await self._sleep(delay)
                waited += delay
            for bucket, counts_tokens in self._buckets:
                bucket.take(tokens if counts_tokens else 1)
        self.waited += waited
        return waited
