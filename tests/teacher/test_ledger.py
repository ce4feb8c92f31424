"""Token ledger: reservations, reconciliation, the hard budget, attribution, persistence."""

from __future__ import annotations

import asyncio
import threading

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.ledger import (
    BudgetTooSmall,
    Reservation,
    TokenLedger,
)


async def test_reserve_commit_reconciles_to_real_usage() -> None:
    ledger = TokenLedger(1000)
    res = await ledger.reserve(300, "generation", 1)
    assert isinstance(res, Reservation)
    assert (ledger.reserved, ledger.spent, ledger.remaining) == (300, 0, 700)
    over = ledger.commit(res, 40, 100)
    assert over == 0
    assert (ledger.reserved, ledger.spent, ledger.remaining) == (0, 140, 860)


async def test_usage_above_the_reservation_is_recorded_truthfully() -> None:
    ledger = TokenLedger(1000)
    res = await ledger.reserve(100, "agent", 0)
    assert isinstance(res, Reservation)
    assert ledger.commit(res, 80, 50) == 30
    status = ledger.status()
    assert status.spent == 130 and status.overruns == 1


async def test_release_and_unconfirmed_charge() -> None:
    ledger = TokenLedger(None)
    a = await ledger.reserve(50, "labelling", 2)
    b = await ledger.reserve(70, "labelling", 2)
    assert isinstance(a, Reservation) and isinstance(b, Reservation)
    ledger.release(a)
    ledger.charge_unconfirmed(b)
    assert ledger.spent == 70 and ledger.reserved == 0
    assert ledger.status().by_round[2].unconfirmed_tokens == 70
    with pytest.raises(RuntimeError, match="settled twice"):
        ledger.release(a)


async def test_refusal_marks_exhausted_and_sticks() -> None:
    ledger = TokenLedger(100)
    res = await ledger.reserve(60, "generation", 0)
    assert isinstance(res, Reservation)
    waiter = asyncio.create_task(ledger.reserve(50, "generation", 0))
    await asyncio.sleep(0)
    assert not waiter.done()  # might fit once res settles
    ledger.commit(res, 10, 50)
    assert await waiter is None  # 60 spent + 50 > 100: never
    assert ledger.exhausted
    assert await ledger.reserve(1, "generation", 0) is None  # refusal sticks


def test_budget_too_small_names_budget_and_minimum() -> None:
    ledger = TokenLedger(100)
    with pytest.raises(BudgetTooSmall) as caught:
        ledger.check_fits(300, 44, 256)
    assert isinstance(caught.value, EvokdError)
    assert "100" in caught.value.cause and "300" in caught.value.cause
    assert "at least 300" in caught.value.fix
    ledger.check_fits(100, 10, 90)  # exactly the budget fits


def test_negative_budget_is_rejected() -> None:
    with pytest.raises(EvokdError):
        TokenLedger(-1)


async def test_reserve_waits_for_in_flight_work_then_fits() -> None:
    ledger = TokenLedger(100)
    first = await ledger.reserve(80, "generation", 0)
    assert first is not None
    waiter = asyncio.create_task(ledger.reserve(50, "generation", 0))
    await asyncio.sleep(0.01)
    assert not waiter.done()  # 80 + 50 could pass the budget
    ledger.commit(first, 10, 20)  # real usage 30: now 30 + 50 fits
    second = await asyncio.wait_for(waiter, 1)
    assert second is not None and ledger.reserved == 50


async def test_reserve_gives_up_when_the_budget_is_gone() -> None:
    ledger = TokenLedger(100)
    first = await ledger.reserve(80, "generation", 0)
    assert first is not None
    waiters = [asyncio.create_task(ledger.reserve(50, "generation", 0)) for _ in range(3)]
    await asyncio.sleep(0.01)
    ledger.commit(first, 30, 50)  # 80 spent: 50 more can never fit
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [None, None, None]
    assert ledger.exhausted and ledger.reserved == 0


async def test_attribution_status_and_persistence() -> None:
    ledger = TokenLedger(10_000)
    for phase, rnd, p, c in [
        ("analysis", 1, 100, 50),
        ("generation", 1, 200, 300),
        ("generation", 2, 10, 5),
    ]:
        res = await ledger.reserve(p + c, phase, rnd)  # type: ignore[arg-type]
        assert isinstance(res, Reservation)
        ledger.commit(res, p, c)
    ledger.record_cache_hit("labelling", 2, 42)
    status = ledger.status()
    assert status.by_phase["generation"].total == 515
    assert status.by_phase["analysis"].total == 150
    assert status.by_round[1].total == 650 and status.by_round[2].cache_saved_tokens == 42
    assert status.total.cache_hits == 1 and status.spent == 665
    assert "665 of 10000 tokens spent" in status.summary()
    restored = TokenLedger.from_dict(ledger.to_dict())
    assert restored.spent == 665 and restored.budget == 10_000
    assert restored.status().by_phase == status.by_phase
    assert TokenLedger.from_dict(ledger.to_dict(), budget=20_000).remaining == 20_000 - 665


def test_concurrent_commits_from_threads_add_up() -> None:
    ledger = TokenLedger(None)

    def work() -> None:
        for _ in range(500):
            res = asyncio.run(ledger.reserve(10, "agent", 0))
            assert isinstance(res, Reservation)
            ledger.commit(res, 3, 4)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.spent == 4 * 500 * 7 and ledger.reserved == 0


def test_cache_hits_are_free_or_charged_as_replay() -> None:
    shared = TokenLedger(1000)
    shared.record_cache_hit("generation", 1, 120)
    assert shared.spent == 0
    assert shared.status().total.cache_saved_tokens == 120

    # A run's own cache only holds answers that run paid for: a resumed run charges them again,
    # so its spend retraces the interrupted attempt's (and the budget stays exact).
    own = TokenLedger(1000, charge_cache_hits=True)
    own.record_cache_hit("generation", 1, 120)
    own.record_cache_hit("labelling", 1, 30)
    status = own.status()
    assert own.spent == 150 and own.remaining == 850
    assert status.total.cache_hits == 2 and status.total.cache_saved_tokens == 0
    assert status.by_phase["generation"].replayed_tokens == 120
