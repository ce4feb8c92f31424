"""The retry policy: Retry-After parsing, jittered backoff, when to give up."""

from __future__ import annotations

import random

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.request import ChatError
from evokd_agent.teacher.retry import AttemptFailed, RetryPolicy, parse_retry_after
from tests.teacher.conftest import RecordedSleep


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after({"retry-after": date}, now=lambda: 1445412480.0 - 30) == 30.0
    assert parse_retry_after({"retry-after": date}, now=lambda: 1445412480.0 + 5) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def _policy(**config: object) -> tuple[RetryPolicy, RecordedSleep]:
    sleep = RecordedSleep()
    settings: dict[str, object] = {"base_url": "http://127.0.0.1:1/v1", "backoff_initial": 1.0}
    settings.update(config)
    return RetryPolicy(TeacherConfig(**settings), rng=random.Random(7), sleep=sleep), sleep  # type: ignore[arg-type]


def test_backoff_grows_with_jitter_and_caps() -> None:
    policy, _ = _policy(backoff_initial=1.0, backoff_multiplier=2.0, backoff_max=5.0)
    for retry, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        waits = [policy.backoff(retry) for _ in range(200)]
        assert base / 2 <= min(waits) and max(waits) <= base
        assert max(waits) - min(waits) > base / 4  # jittered, not constant


def _failure(retryable: bool = True, retry_after: float | None = None) -> AttemptFailed:
    return AttemptFailed(
        ChatError("server", "boom", 503), retryable=retryable, retry_after=retry_after
    )


async def test_call_retries_until_success_honouring_retry_after() -> None:
    policy, sleep = _policy()
    outcomes: list[AttemptFailed | str] = [_failure(retry_after=30), _failure(), "ok"]
    seen: list[tuple[int, float]] = []

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, AttemptFailed):
            raise outcome
        return outcome

    result = await policy.call(attempt, lambda n, wait, failed: seen.append((n, wait)))
    assert result == "ok"
    assert [n for n, _ in seen] == [1, 2]
    assert sleep.waits[0] == 30  # Retry-After is a floor
    assert 1.0 <= sleep.waits[1] <= 2.0  # second retry: base 2 s, equal jitter
    assert [w for _, w in seen] == sleep.waits


async def test_call_gives_up_after_max_retries() -> None:
    policy, sleep = _policy(max_retries=3)
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise _failure()

    with pytest.raises(AttemptFailed):
        await policy.call(attempt)
    assert calls == 4 and len(sleep.waits) == 3


async def test_non_retryable_and_fatal_failures_are_raised_at_once() -> None:
    policy, sleep = _policy()
    for failure in [
        _failure(retryable=False),
        AttemptFailed(ChatError("other", "x"), retryable=True, fatal=EvokdError("c", "f")),
    ]:
        calls = 0

        async def attempt(f: AttemptFailed = failure) -> str:
            nonlocal calls
            calls += 1
            raise f

        with pytest.raises(AttemptFailed) as caught:
            await policy.call(attempt)
        assert caught.value is failure and calls == 1
    assert sleep.waits == []


async def test_zero_retries_means_one_attempt() -> None:
    policy, sleep = _policy(max_retries=0)

    async def attempt() -> str:
        raise _failure()

    with pytest.raises(AttemptFailed):
        await policy.call(attempt)
    assert sleep.waits == []
