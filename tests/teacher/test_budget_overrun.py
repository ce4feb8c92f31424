"""A budget that holds against servers that count more than we reserved (issue 15, item 1).

The guarantee: never over the budget while the server honours max_tokens and counts prompts
within the learnt margin; otherwise sending stops at once and the excess (at most the requests
already in flight) is recorded as overruns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.ledger import Reservation, TokenLedger
from evokd_agent.teacher.tokens import TokenCounter
from tests.teacher.conftest import generator_for, requests


async def test_a_reply_past_max_tokens_stops_sending_at_once() -> None:
    ledger = TokenLedger(10_000)
    res = await ledger.reserve(150, "generation", 1, prompt=50)
    other = await ledger.reserve(150, "generation", 1, prompt=50)
    assert isinstance(res, Reservation) and isinstance(other, Reservation)
    assert ledger.commit(res, 40, 400) == 290  # 400 completion tokens under max_tokens 100
    assert ledger.stopped is not None and "max_tokens" in ledger.stopped
    assert await ledger.reserve(10, "generation", 1) is None  # nothing more is sent
    ledger.commit(other, 40, 60)  # what was already out is still recorded
    status = ledger.to_dict()
    assert status["spent"] == 540 and status["stopped"] == ledger.stopped
    assert status["total"]["overruns"] == 1 and status["total"]["overrun_tokens"] == 290


async def test_an_estimated_completion_count_never_stops_sending() -> None:
    # No usage from the server: our tokenizer may count more than its max_tokens allowed.
    ledger = TokenLedger(10_000)
    res = await ledger.reserve(150, "generation", 1, prompt=50)
    assert isinstance(res, Reservation)
    ledger.commit(res, 50, 130, reported=False)
    assert ledger.stopped is None and not ledger.exhausted


async def test_a_prompt_overrun_rebounds_the_requests_in_flight() -> None:
    ledger = TokenLedger(1_000)
    first = await ledger.reserve(200, "labelling", 0, prompt=100)
    second = await ledger.reserve(200, "labelling", 0, prompt=100)
    assert isinstance(first, Reservation) and isinstance(second, Reservation)
    # The server counts the prompt 2x: the second request, still out, may cost 100 more.
    assert ledger.commit(first, 200, 50) == 50
    assert ledger.reserved == 300 and ledger.stopped is None
    assert ledger.commit(second, 200, 100) == 0  # within its re-bounded reservation
    assert ledger.reserved == 0 and ledger.spent == 550


async def test_a_prompt_overrun_that_the_budget_cannot_cover_stops_sending() -> None:
    ledger = TokenLedger(1_000)
    held = [await ledger.reserve(200, "labelling", 0, prompt=100) for _ in range(4)]
    assert all(isinstance(r, Reservation) for r in held)
    # 5x the prompt estimate: the three still out could now cost 3 x 600; stop.
    ledger.commit(held[0], 500, 10)  # type: ignore[arg-type]
    assert ledger.stopped is not None and "in flight" in ledger.stopped
    assert await ledger.reserve(1, "labelling", 0) is None


def _prompt_tokens(body: dict[str, Any], counter: TokenCounter) -> int:
    return counter.count_messages(body["messages"])


async def test_a_server_counting_three_times_our_estimate_stays_within_budget() -> None:
    counter = TokenCounter()

    def handler(body: dict[str, Any]) -> FakeReply:
        prompt = 3 * _prompt_tokens(body, counter)
        return FakeReply.text("ok", usage=(prompt, body["max_tokens"]), delay=0.01)

    budget = 400
    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, budget=budget, max_concurrency=8) as gen:
            results = await gen.run(requests(40))
        billed = srv.request_count
    assert gen.ledger.spent <= budget
    # The first request went alone and taught the ratio: no other reply passed its reservation.
    assert gen.ledger.status().overruns == 1
    assert billed == sum(r.ok for r in results) > 1


def nth_reply(reply: Callable[[int], FakeReply]) -> Callable[[dict[str, Any]], FakeReply]:
    """A server handler answering the n-th request it receives (counting from 1) with reply(n)."""
    lock = threading.Lock()
    calls = 0

    def handler(body: dict[str, Any]) -> FakeReply:
        nonlocal calls
        with lock:
            calls += 1
            n = calls
        return reply(n)

    return handler


async def test_random_huge_usage_stops_at_once_and_is_reported() -> None:
    # Sane for a while, then one reply reports 50k completion tokens.
    handler = nth_reply(
        lambda n: FakeReply.text("ok", usage=(10, 50_000) if n == 5 else (10, 5), delay=0.02)
    )

    budget = 20_000
    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, budget=budget, max_concurrency=4) as gen:
            results = await gen.run(requests(200))
        billed = srv.request_count
    ledger = gen.ledger
    assert ledger.stopped is not None and ledger.exhausted
    # Sending stopped at once: only the requests already out when the big reply came were sent.
    assert billed <= 5 + 3
    assert sum(r.error is not None and r.error.kind == "budget" for r in results) >= 190
    status = ledger.status()
    assert status.overruns == 1 and ledger.spent > budget
    assert "stopped" in status.summary()


async def test_requests_waiting_for_a_slot_are_not_sent_after_a_stop() -> None:
    import asyncio

    def reply(n: int) -> FakeReply:
        if n == 2:  # ignores max_tokens: sending stops when this reply lands
            return FakeReply.text("ok", usage=(10, 50_000), delay=0.05)
        return FakeReply.text("ok", usage=(10, 5), delay=0.3 if n > 1 else 0.0)

    handler = nth_reply(reply)

    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, budget=10**6, max_concurrency=2) as gen:
            # Two batches share the 2 slots: 4 workers hold reservations, 2 of them wait.
            await gen.run(requests(1, prefix="first"))
            both = await asyncio.gather(
                gen.run(requests(2, prefix="a")), gen.run(requests(2, prefix="b"))
            )
        sent = srv.request_count
    assert gen.ledger.stopped is not None
    assert sent == 3  # the first, the huge one, and the one beside it: none after the stop
    refused = [r for batch in both for r in batch if r.error is not None]
    assert len(refused) == 2 and all(r.error.kind == "budget" for r in refused)  # type: ignore[union-attr]
