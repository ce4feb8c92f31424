"""The request journal: requests in flight at a crash are charged on resume, failures replay as
failures, and a teacher outage stops the run without being replayed (issue 15, items 2-4)."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.journal import JOURNAL_NAME, RequestJournal
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.outage import OutageWatch, TeacherOutage
from evokd_agent.teacher.request import ChatError
from tests.teacher.conftest import generator_for, requests


def _resumed_ledger(budget: int | None) -> TokenLedger:
    """A resumed run's ledger: replayed answers are charged as they were the first time."""
    return TokenLedger(budget, charge_cache_hits=True)


def _content(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"])


def test_the_journal_reads_back_every_outcome_and_skips_a_torn_line(tmp_path: Path) -> None:
    journal = RequestJournal.open(tmp_path)
    a = journal.sent("k1", "generation", 1, 100)
    journal.done(a, ok=False, charged=100)
    b = journal.sent("k1", "generation", 1, 100)
    journal.done(b, ok=False, charged=0)
    journal.final(b, ChatError("server", "boom", 500))
    c = journal.sent("k2", "labelling", 2, 70)  # no outcome: in flight at the "crash"
    journal.close()
    with open(tmp_path / JOURNAL_NAME, "ab") as f:
        f.write(b'{"e":"done","id":')  # torn by the kill

    again = RequestJournal.open(tmp_path)
    assert sorted((h.id, h.charged) for h in again.held()) == [(a, 100), (c, 70)]
    replay = again.replay("k1")
    assert [p.id for p in replay.attempts] == [a, b]
    assert replay.failure == ChatError("server", "boom", 500) and not replay.answered
    orphan = again.replay("k2")
    assert orphan.failure is None and orphan.attempts[0].ok is None
    assert again.replay("k1").attempts == ()  # each occurrence is replayed once
    assert again.sent("k3", "other", 0, 1) == c + 1  # ids go on across lives
    again.close()


async def test_requests_in_flight_at_a_crash_are_charged_on_resume(tmp_path: Path) -> None:
    def first_life(body: dict[str, Any]) -> FakeReply:
        # Two requests are still out when the process is killed.
        return FakeReply.hang(30) if _content(body) in ("item 3", "item 4") else FakeReply.text("a")

    with FakeOpenAIServer(handler=first_life) as srv:
        async with generator_for(srv.base_url, cache_dir=tmp_path, journal=True) as gen:
            assert gen.journal is not None
            answered = []
            async with aclosing(gen.stream(requests(10))) as stream:
                async for result in stream:
                    answered.append(result)
                    if len(answered) == 8:
                        break_at_kill = gen.journal
                        break_at_kill._write = lambda record: None  # type: ignore[method-assign]
                        break  # kill -9: nothing more reaches the journal
            paid = sum(r.usage.total for r in answered)
            reserve = gen.estimate(requests(1)[0])[1]

    with FakeOpenAIServer() as srv:
        async with generator_for(
            srv.base_url, cache_dir=tmp_path, journal=True, ledger=_resumed_ledger(10_000)
        ) as gen:
            assert gen.ledger.held == paid + 2 * reserve
            results = await gen.run(requests(10))
            resent = srv.request_count
    assert all(r.ok for r in results)
    assert resent == 2  # only the two that were never answered
    new = sum(r.usage.total for r in results if not r.cached)
    # The replay charged the first life's answers, the two orphans at their worst case, and
    # the two answers bought again.
    assert gen.ledger.spent == paid + 2 * reserve + new
    assert gen.ledger.held == 0


async def test_a_failure_replays_as_the_same_failure_without_being_sent(tmp_path: Path) -> None:
    def first_life(body: dict[str, Any]) -> FakeReply:
        if _content(body) == "item 1":
            return FakeReply.error(500, "the model crashed")
        if _content(body) == "item 2":
            return FakeReply.malformed()  # probably billed: charged at its reservation
        return FakeReply.text(f"answer to {_content(body)}")

    with FakeOpenAIServer(handler=first_life) as srv:
        async with generator_for(
            srv.base_url, cache_dir=tmp_path, journal=True, max_retries=1
        ) as gen:
            first = await gen.run(requests(5))
            spent = gen.ledger.spent
    assert first[1].error is not None and first[2].error is not None

    with FakeOpenAIServer() as srv:  # the teacher would now answer everything
        async with generator_for(
            srv.base_url,
            cache_dir=tmp_path,
            journal=True,
            max_retries=1,
            ledger=_resumed_ledger(None),
        ) as gen:
            second = await gen.run(requests(5))
            assert srv.request_count == 0
    assert [r.error for r in second] == [r.error for r in first]
    assert [r.text for r in second] == [r.text for r in first]
    assert gen.ledger.spent == spent > 0


async def test_a_teacher_outage_stops_and_a_resume_sends_those_requests_again(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer(default=FakeReply.error(503, "down")) as srv:
        async with generator_for(
            srv.base_url,
            cache_dir=tmp_path,
            journal=True,
            max_retries=1,
            outage_failures=3,
            max_concurrency=1,
        ) as gen:
            with pytest.raises(TeacherOutage) as raised:
                await gen.run(requests(6))
    assert raised.value.exit_code == 3 and "--resume" in raised.value.fix
    assert "3 requests in a row" in raised.value.cause

    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url, cache_dir=tmp_path, journal=True) as gen:
            results = await gen.run(requests(6))
            sent = srv.request_count
    assert all(r.ok for r in results) and sent == 6


def test_an_outage_is_also_failures_for_long_enough() -> None:
    watch = OutageWatch(failures=100, seconds=600)
    error = ChatError("timeout", "no answer within 120s")
    assert watch.gave_up(error, 1, seconds=300) is None
    too_long = ChatError("bad_request", "too long", 400)  # the request's fault, not the endpoint's
    assert watch.gave_up(too_long, 2, seconds=1000) is None
    watch.answered()
    assert watch.gave_up(error, 3, seconds=400) is None  # an answer in between started over
    outage = watch.gave_up(error, 4, seconds=250)
    assert outage is not None and watch.streak == [3, 4] and "650s of trying" in outage.cause
