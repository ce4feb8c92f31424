"""Rate limits on a fake clock: the token bucket takes it injected, and asyncio-throttle's module
clock and sleep are swapped for it, so no test really sleeps."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from asyncio_throttle import throttler as throttle_module

from evokd_agent.teacher.ratelimit import RateLimiter, TokenBucket
from tests.teacher.conftest import FakeClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """One fake clock for the token bucket and the request throttle alike."""
    fake = FakeClock()
    monkeypatch.setattr(throttle_module, "time", SimpleNamespace(monotonic=fake))
    monkeypatch.setattr(throttle_module, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


async def test_requests_per_minute_lets_a_burst_through_then_paces(clock: FakeClock) -> None:
    # 10 requests/s with a 0.3 s burst = 3 at once, then never more than 3 in any 0.3 s.
    limiter = RateLimiter(
        requests_per_minute=600, burst_seconds=0.3, clock=clock, sleep=clock.sleep
    )
    start = clock()
    sent = []
    for _ in range(7):
        await limiter.acquire(10)
        sent.append(clock() - start)
    assert sent[2] == 0.0  # the burst
    assert all(later - earlier > 0.29 for earlier, later in zip(sent, sent[3:], strict=False))
    assert limiter.waited > 0.59


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


async def test_both_limits_apply_and_waiters_keep_their_order(clock: FakeClock) -> None:
    limiter = RateLimiter(
        requests_per_minute=600,
        tokens_per_minute=600,
        burst_seconds=0.1,
        clock=clock,
        sleep=clock.sleep,
    )
    order: list[int] = []

    async def go(i: int, tokens: int) -> None:
        await limiter.acquire(tokens)
        order.append(i)

    start = clock()
    await asyncio.gather(*(go(i, 1 if i != 1 else 2) for i in range(4)))
    assert order == [0, 1, 2, 3]
    # Tokens: a bucket of 1 token refilled at 10/s; the 2-token request runs it 1 into debt.
    token_waits = [s for s in clock.slept if s > 0.05]  # the throttle polls in 0.01 s steps
    assert token_waits == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.1)]
    assert clock() - start > 0.29  # requests: one per 0.1 s
    # One clock: the token waits already space the requests 0.1 s apart, so nothing is added.
    assert limiter.waited == pytest.approx(clock() - start)


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
