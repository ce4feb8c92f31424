"""A dollar budget (`budget_usd`) holds as the token budget does: random usage, retries, resume."""

from __future__ import annotations

import random
import threading
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.cli.main import main
from evokd_agent.errors import EvokdError
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.prices import Prices
from evokd_agent.teacher.request import ChatRequest
from evokd_agent.teacher.tokens import TokenCounter
from tests.methods.test_baselines import make_config
from tests.teacher.conftest import generator_for, requests

PRICES = Prices(prompt=2.0, cached_prompt=0.5, completion=8.0)


def test_a_dollar_budget_needs_prices() -> None:
    with pytest.raises(EvokdError, match="prices"):
        TokenLedger(None, budget_usd=1.0)


async def test_the_dollar_budget_is_never_passed_over_1000_requests_with_random_usage() -> None:
    counter = TokenCounter()
    rng = random.Random(99)
    lock = threading.Lock()

    def handler(body: dict[str, Any]) -> FakeReply:
        prompt = counter.count_messages(body["messages"])
        with lock:
            usage = (rng.randint(1, prompt), rng.randint(0, body["max_tokens"]))
            cached = rng.randint(0, usage[0])
        return FakeReply.text("x", usage=usage, cached_tokens=cached)

    reqs = [
        ChatRequest([{"role": "user", "content": "label this " * (i % 9) + str(i)}], max_tokens=40)
        for i in range(1000)
    ]
    budget = 0.05  # dollars: ~100-200 of these requests
    ledger = TokenLedger(None, prices=PRICES, budget_usd=budget)
    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, ledger=ledger, max_concurrency=16) as gen:
            results = await gen.run(reqs)
        sent = srv.request_count
    ok = [r for r in results if r.ok]
    assert ledger.spent_usd <= budget and ledger.exhausted
    assert ledger.spent_usd == pytest.approx(
        sum(
            PRICES.cost(
                r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_prompt_tokens
            )
            for r in ok
        )
    )
    assert 0 < len(ok) == sent < 1000
    assert all(r.error is not None and r.error.kind == "budget" for r in results if not r.ok)
    assert "of $0.05" in ledger.status().summary()


async def test_attempts_of_unknown_cost_count_at_their_worst_case(tmp_path: Path) -> None:
    # Every first attempt times out (maybe billed), every retry is answered.
    seen: set[str] = set()

    def handler(body: dict[str, Any]) -> FakeReply:
        text = body["messages"][0]["content"]
        if text not in seen:
            seen.add(text)
            return FakeReply.hang(1.0)
        return FakeReply.text("ok", usage=(10, 5))

    budget = 0.004
    ledger = TokenLedger(None, prices=PRICES, budget_usd=budget)
    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(
            srv.base_url, ledger=ledger, timeout=0.1, max_retries=1, max_concurrency=4
        ) as gen:
            results = await gen.run(requests(40, max_tokens=20))
    status = ledger.status()
    assert status.total.unconfirmed_tokens > 0 and ledger.spent_usd <= budget
    answered = [r for r in results if r.ok]
    unconfirmed = ledger.spent_usd - len(answered) * PRICES.cost(10, 5)
    # Each timed-out attempt costs its reservation's worst case: between all its tokens at the
    # prompt price and all at the completion price.
    tokens = status.total.unconfirmed_tokens
    assert PRICES.prompt * tokens / 1e6 < unconfirmed < PRICES.unknown(tokens)


async def test_a_resumed_run_holds_what_the_crashed_life_spent_in_dollars(tmp_path: Path) -> None:
    def first_life(body: dict[str, Any]) -> FakeReply:
        hang = body["messages"][0]["content"] in ("item 5", "item 6")
        return FakeReply.hang(30) if hang else FakeReply.text("a", usage=(20, 10))

    budget = 0.0025
    with FakeOpenAIServer(handler=first_life) as srv:
        ledger = TokenLedger(None, prices=PRICES, budget_usd=budget, charge_cache_hits=True)
        async with generator_for(
            srv.base_url, cache_dir=tmp_path, journal=True, ledger=ledger
        ) as gen:
            assert gen.journal is not None
            got = 0
            async with aclosing(gen.stream(requests(40))) as stream:
                async for _ in stream:
                    got += 1
                    if got == 10:
                        gen.journal._write = lambda record: None  # type: ignore[method-assign]
                        break  # kill -9

    with FakeOpenAIServer(default=FakeReply.text("b", usage=(20, 10))) as srv:
        ledger = TokenLedger(None, prices=PRICES, budget_usd=budget, charge_cache_hits=True)
        async with generator_for(
            srv.base_url, cache_dir=tmp_path, journal=True, ledger=ledger
        ) as gen:
            assert ledger.held > 0
            await gen.run(requests(40))
    ledger.settle_holds()
    # The orphans were charged at the dearest price of their reservations, and still the run
    # as a whole stayed within its dollar budget.
    assert ledger.status().total.unconfirmed_tokens > 0
    assert ledger.spent_usd <= budget and ledger.exhausted


def test_a_run_with_a_dollar_budget_but_no_price_stops_with_one_line(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(
        tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, "zerogen", budget_usd=1.0
    )
    assert main(["run", str(config), "--no-progress"]) == 2
    assert "a dollar budget needs the teacher's prices" in capsys.readouterr().err
