"""Token-bucket rate limits with an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from evokd_agent.teacher.ratelimit import RateLimiter, TokenBucket
from tests.teacher.conftest import FakeClock


async def test_requests_per_minute_paces_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=60, burst_seconds=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert await limiter.acquire(10) == 0.0  # a burst of 3 s worth = 3 requests
    waits = [await limiter.acquire(10) for _ in range(4)]
    assert waits == [pytest.approx(1.0)] * 4  # then one per second
    assert clock.now - 1000.0 == pytest.approx(4.0)


async def test_tokens_per_minute_counts_request_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=6000, burst_seconds=1, clock=clock, sleep=clock.sleep)
    assert await limiter.acquire(100) == 0.0  # bucket of 100 tokens, 100 tokens/s
    assert await limiter.acquire(50) == pytest.approx(0.5)
    assert await limiter.acquire(100) == pytest.approx(1.0)


async def test_a_request_larger_than_the_bucket_still_passes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, burst_seconds=1, clock=clock, sleep=clock.sleep)
    assert await limiter.acquire(50) == 0.0  # bucket holds 10
    # The oversized request left the bucket 40 in debt: the next waits for it to be repaid.
    assert await limiter.acquire(10) == pytest.approx(5.0)


async def test_both_limits_apply_and_waiters_keep_their_order() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        requests_per_minute=60,
        tokens_per_minute=600,
        burst_seconds=1,
        clock=clock,
        sleep=clock.sleep,
    )
    order: list[int] = []

    async def go(i: int, tokens: int) -> None:
        await limiter.acquire(tokens)
        order.append(i)

    await asyncio.gather(*(go(i, 10 if i != 1 else 5) for i in range(4)))
    assert order == [0, 1, 2, 3]
    assert limiter.waited == pytest.approx(3.0)


async def test_no_limits_never_waits() -> None:
    limiter = RateLimiter()
    assert not limiter.active
    assert await limiter.acquire(10**9) == 0.0


def test_bucket_refills_up_to_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=4.0, clock=clock)
    bucket.take(4)
    assert bucket.wait_time(2) == pytest.approx(1.0)
    clock.now += 100
    assert bucket.wait_time(4) == 0.0
    bucket.take(1)
    assert bucket.level == pytest.approx(3.0)
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1, clock=clock)
