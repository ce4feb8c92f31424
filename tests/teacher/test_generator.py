"""The generator against the fake server, through the real openai client and HTTP."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from contextlib import aclosing
from typing import Any

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.ledger import BudgetTooSmall, TokenLedger
from evokd_agent.teacher.ratelimit import RateLimiter
from evokd_agent.teacher.request import ChatRequest
from evokd_agent.teacher.tokens import TokenCounter
from tests.teacher.conftest import RecordedSleep, closed_port, generator_for, requests

# The two ways a request can travel: our post on the HTTP/1.1 pool, and the SDK's create (on its
# aiohttp transport).
PATHS = [
    pytest.param({}, id="fast"),
    pytest.param({"fast_path": False}, id="sdk"),
]


@pytest.mark.parametrize("path", PATHS)
async def test_results_carry_index_and_run_keeps_order(path: dict[str, Any]) -> None:
    def echo(body: dict[str, Any]) -> FakeReply:
        return FakeReply.text("re: " + body["messages"][0]["content"], delay=random.random() / 50)

    with FakeOpenAIServer(handler=echo) as srv:
        async with generator_for(srv.base_url, **path) as gen:
            streamed = [r async for r in gen.stream(requests(30))]
            ordered = await gen.run(requests(30))
    assert sorted(r.index for r in streamed) == list(range(30))
    for r in streamed:
        assert r.text == f"re: item {r.index}"
    assert [r.text for r in ordered] == [f"re: item {i}" for i in range(30)]
    assert all(r.usage.source == "server" and r.usage.total > 0 for r in ordered)


async def test_concurrency_cap_is_respected_and_reached() -> None:
    with FakeOpenAIServer(latency=0.03) as srv:
        async with generator_for(srv.base_url, max_concurrency=7) as gen:
            results = await gen.run(requests(60))
    assert all(r.ok for r in results)
    assert srv.max_in_flight == 7


@pytest.mark.parametrize("path", PATHS)
async def test_429_is_retried_after_retry_after(path: dict[str, Any], sleep: RecordedSleep) -> None:
    script = [FakeReply.error(429, "slow down", retry_after=7), FakeReply.text("done")]
    with FakeOpenAIServer(script) as srv:
        async with generator_for(srv.base_url, sleep=sleep, **path) as gen:
            [result] = await gen.run(requests(1))
    assert result.text == "done"
    assert result.retries == 1
    assert sleep.waits == [pytest.approx(7.0)]  # Retry-After beats the 10 ms backoff
    assert srv.request_count == 2


async def test_500_then_success(sleep: RecordedSleep) -> None:
    script = [FakeReply.error(500), FakeReply.error(503), FakeReply.text("fine")]
    with FakeOpenAIServer(script) as srv:
        async with generator_for(srv.base_url, sleep=sleep) as gen:
            [result] = await gen.run(requests(1))
    assert result.text == "fine"
    assert result.retries == 2
    assert len(sleep.waits) == 2
    assert all(0.005 <= w <= 0.05 for w in sleep.waits)  # jittered backoff within its bounds


async def test_retries_exhausted_gives_a_per_item_error(sleep: RecordedSleep) -> None:
    with FakeOpenAIServer(default=FakeReply.error(502, "bad gateway")) as srv:
        async with generator_for(srv.base_url, sleep=sleep, max_retries=3) as gen:
            [result] = await gen.run(requests(1))
        assert srv.request_count == 4
    assert result.error is not None
    assert result.error.kind == "server" and result.error.status == 502
    assert result.retries == 3
    assert gen.ledger.spent == 0  # refused attempts are not billed


async def test_too_long_retry_after_fails_the_item_without_waiting(sleep: RecordedSleep) -> None:
    with FakeOpenAIServer([FakeReply.error(429, retry_after=3600)]) as srv:
        async with generator_for(srv.base_url, sleep=sleep, max_retry_after=60) as gen:
            [result] = await gen.run(requests(1))
    assert result.error is not None and result.error.kind == "rate_limit"
    assert "3600" in result.error.message
    assert sleep.waits == []


@pytest.mark.parametrize("path", PATHS)
async def test_timeout_is_retried_then_reported(path: dict[str, Any], sleep: RecordedSleep) -> None:
    with FakeOpenAIServer(default=FakeReply.hang(0.7)) as srv:
        async with generator_for(
            srv.base_url, sleep=sleep, timeout=0.2, max_retries=1, budget=10_000, **path
        ) as gen:
            [result] = await gen.run(requests(1, max_tokens=50))
            status = gen.ledger.status()
    assert result.error is not None and result.error.kind == "timeout"
    assert result.retries == 1
    assert 0.2 <= result.latency < 0.7
    # The server may have billed both attempts: a hard budget counts their worst case.
    reserve = gen.estimate(requests(1, max_tokens=50)[0])[1]
    assert status.total.unconfirmed_tokens == 2 * reserve
    assert status.reserved == 0


@pytest.mark.parametrize("path", PATHS)
async def test_malformed_json_is_a_per_item_error(path: dict[str, Any]) -> None:
    def handler(body: dict[str, Any]) -> FakeReply:
        if body["messages"][0]["content"] == "item 3":
            return FakeReply.malformed()
        return FakeReply.text("ok")

    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, **path) as gen:
            results = await gen.run(requests(6))
        assert srv.request_count == 6  # not retried: a retry would pay again
    assert [r.ok for r in results] == [True, True, True, False, True, True]
    assert results[3].error is not None and results[3].error.kind == "malformed"


async def test_one_bad_request_does_not_kill_the_batch() -> None:
    def handler(body: dict[str, Any]) -> FakeReply:
        if body["messages"][0]["content"] == "item 5":
            return FakeReply.error(400, "context length exceeded")
        return FakeReply.text("ok")

    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url) as gen:
            results = await gen.run(requests(20))
    errors = [r for r in results if r.error]
    assert [r.index for r in errors] == [5]
    assert errors[0].error is not None
    assert errors[0].error.kind == "bad_request" and errors[0].error.status == 400
    assert "context length" in errors[0].error.message
    assert sum(r.ok for r in results) == 19


async def test_missing_usage_is_estimated_locally() -> None:
    with FakeOpenAIServer([FakeReply.text("four words right here", omit_usage=True)]) as srv:
        async with generator_for(srv.base_url) as gen:
            [result] = await gen.run(requests(1))
    assert result.usage.source == "estimate"
    assert result.usage.completion_tokens == TokenCounter().count_text("four words right here")
    assert gen.ledger.spent == result.usage.total > 0


# --- errors that stop the run --------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
async def test_bad_api_key_is_one_clear_error(
    path: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-wrong-key-000")
    with FakeOpenAIServer(api_key="sk-right-key-111") as srv:
        async with generator_for(srv.base_url, api_key_env="MY_TEACHER_KEY", **path) as gen:
            with pytest.raises(EvokdError) as caught:
                await gen.run(requests(50))
        assert srv.request_count <= 8  # stopped at once, not after 50 requests
    assert "401" in caught.value.cause
    assert "MY_TEACHER_KEY" in caught.value.fix
    assert "sk-wrong-key-000" not in str(caught.value)


async def test_missing_api_key_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(api_key="sk-right-key-111") as srv:
        async with generator_for(srv.base_url) as gen:
            with pytest.raises(EvokdError, match="no API key is set"):
                await gen.run(requests(3))


async def test_unknown_model_lists_the_served_ones() -> None:
    with FakeOpenAIServer(models=["fake-model", "other-model"]) as srv:
        async with generator_for(srv.base_url, model="gpt-nope") as gen:
            with pytest.raises(EvokdError) as caught:
                await gen.run(requests(5))
    assert "gpt-nope" in caught.value.cause and "404" in caught.value.cause
    assert "fake-model" in caught.value.fix and "other-model" in caught.value.fix


async def test_wrong_base_path_points_at_v1() -> None:
    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url.removesuffix("/v1")) as gen:
            with pytest.raises(EvokdError) as caught:
                await gen.run(requests(2))
    assert "does not exist" in caught.value.cause
    assert "/v1" in caught.value.fix


@pytest.mark.parametrize("path", PATHS)
async def test_unreachable_endpoint_is_one_clear_error(
    path: dict[str, Any], sleep: RecordedSleep
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    async with generator_for(url, sleep=sleep, budget=100_000, **path) as gen:
        with pytest.raises(EvokdError) as caught:
            await gen.run(requests(20))
        assert gen.ledger.spent == 0 and gen.ledger.reserved == 0  # never sent: never billed
    assert "cannot reach the teacher" in caught.value.cause
    assert "base_url" in caught.value.fix
    assert sleep.waits == []  # no pointless backoff before telling the user


async def test_connection_refused_after_success_is_retried(sleep: RecordedSleep) -> None:
    srv = FakeOpenAIServer().start()
    try:
        async with generator_for(srv.base_url, sleep=sleep, max_retries=2) as gen:
            [first] = await gen.run(requests(1))
            srv.stop()
            [second] = await gen.run(requests(1))
    finally:
        srv.stop()
    assert first.ok
    assert second.error is not None and second.error.kind == "connection"
    assert second.retries == 2 and len(sleep.waits) == 2


# --- budget --------------------------------------------------------------------------------
async def test_budget_below_one_request_is_one_clear_error() -> None:
    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url, budget=100) as gen:
            with pytest.raises(BudgetTooSmall) as caught:
                await gen.run(requests(3, max_tokens=256))
        assert srv.request_count == 0
    assert "100" in caught.value.cause and "256 max_tokens" in caught.value.cause
    assert isinstance(caught.value, EvokdError)


class CheckedLedger(TokenLedger):
    """Asserts the budget invariant at every reservation."""

    def _try_locked(self, tokens: int, phase: Any, round: int, prompt: int) -> Any:
        got = super()._try_locked(tokens, phase, round, prompt)
        assert self.budget is not None
        assert self._spent + self._reserved <= self.budget
        return got


async def test_budget_is_never_exceeded_over_1000_requests_with_random_usage() -> None:
    counter = TokenCounter()
    rng = random.Random(1234)
    lock = threading.Lock()

    def handler(body: dict[str, Any]) -> FakeReply:
        prompt = counter.count_messages(body["messages"])
        with lock:
            usage = (rng.randint(1, prompt), rng.randint(0, body["max_tokens"]))
        return FakeReply.text("x", usage=usage)

    reqs = [
        ChatRequest(
            [{"role": "user", "content": "label this " * (i % 7) + str(i)}],
            max_tokens=20 + i % 50,
            phase="labelling",
            round=i % 3,
        )
        for i in range(1000)
    ]
    budget = 25_000
    ledger = CheckedLedger(budget)
    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, ledger=ledger, max_concurrency=16) as gen:
            results = await gen.run(reqs)
        sent = srv.request_count
    ok = [r for r in results if r.ok]
    refused = [r for r in results if r.error is not None]
    assert len(results) == 1000
    assert ledger.spent <= budget
    assert ledger.spent == sum(r.usage.total for r in ok)
    assert all(r.usage.total <= r.usage.reserved for r in ok)
    assert 0 < len(ok) < 1000 and sent == len(ok)  # refused requests were never sent
    assert all(r.error is not None and r.error.kind == "budget" for r in refused)
    # It stopped only when the next request's worst case no longer fitted.
    assert budget - ledger.spent < max(r.usage.reserved for r in ok)
    assert ledger.exhausted and ledger.reserved == 0
    status = ledger.status()
    assert set(status.by_phase) == {"labelling"}
    assert sum(s.total for s in status.by_round.values()) == ledger.spent


# --- resilience ----------------------------------------------------------------------------
async def test_429_storm_loses_nothing(sleep: RecordedSleep) -> None:
    # Every item is refused once, then served: deterministic, whatever order the requests
    # interleave in (a global odd/even rule could starve one item past max_retries).
    refused: set[str] = set()

    def handler(body: dict[str, Any]) -> FakeReply:
        content = body["messages"][0]["content"]
        if content not in refused:
            refused.add(content)
            return FakeReply.error(429, "rate limited", retry_after=0.01)
        return FakeReply.text("ok:" + content)

    n = 300
    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(
            srv.base_url, sleep=sleep, max_retries=20, max_concurrency=16, budget=10**7
        ) as gen:
            results = await gen.run(requests(n))
        assert srv.request_count == 2 * n
    assert [r.text for r in results] == [f"ok:item {i}" for i in range(n)]
    assert sum(r.retries for r in results) == len(sleep.waits) == n
    assert min(sleep.waits) >= 0.01
    assert gen.ledger.status().total.requests == n


async def test_cache_makes_a_repeated_run_free(tmp_path: Any) -> None:
    reqs = requests(12) + requests(3, temperature=0.9, sample_index=1)
    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url, cache_dir=tmp_path, budget=10**6) as first:
            paid = await first.run(reqs)
        assert srv.request_count == 15
        async with generator_for(srv.base_url, cache_dir=tmp_path, budget=10**6) as second:
            again = await second.run(reqs)
        assert srv.request_count == 15  # nothing sent the second time
    assert all(r.cached for r in again) and not any(r.cached for r in paid)
    assert [r.text for r in again] == [r.text for r in paid]
    status = second.ledger.status()
    assert status.spent == 0
    assert status.total.cache_hits == 15
    assert status.total.cache_saved_tokens == first.ledger.spent > 0


async def test_cache_survives_a_corrupt_entry(tmp_path: Any) -> None:
    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url, cache_dir=tmp_path) as gen:
            await gen.run(requests(2))
            assert gen.cache is not None
            victim = next((tmp_path / "v1").glob("??/*.json"))
            victim.write_bytes(b'{"id": "trunc')  # as if half-written by something else
            results = await gen.run(requests(2))
        assert srv.request_count == 3
    assert all(r.ok for r in results)
    assert sum(r.cached for r in results) == 1
    assert gen.cache.corrupt == 1


async def test_cancelling_the_consumer_cleans_up() -> None:
    with FakeOpenAIServer(latency=0.3) as srv:
        async with generator_for(srv.base_url, budget=10**6, max_concurrency=4) as gen:
            before = asyncio.all_tasks()
            seen: list[int] = []

            async def consume() -> None:
                async with aclosing(gen.stream(requests(40))) as stream:
                    async for result in stream:
                        seen.append(result.index)

            task = asyncio.create_task(consume())
            for _ in range(500):  # the server counts in another thread: poll it
                if srv.in_flight >= 4:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0)
            leaked = asyncio.all_tasks() - before
            status = gen.ledger.status()
    assert leaked == set()
    assert status.reserved == 0
    # The 4 requests out at cancel time may be billed: charged at worst case, not forgotten.
    reserve = gen.estimate(requests(1)[0])[1]
    assert status.total.unconfirmed_tokens == 4 * reserve
    assert seen == [0]  # the first request went alone (calibration) and was answered


async def test_breaking_out_early_cancels_in_flight_work() -> None:
    with FakeOpenAIServer(latency=0.05) as srv:
        async with generator_for(srv.base_url, max_concurrency=4) as gen:
            before = asyncio.all_tasks()
            async with aclosing(gen.stream(requests(100))) as stream:
                async for _ in stream:
                    break
            assert asyncio.all_tasks() - before == set()
        assert srv.request_count < 20


async def test_rate_limiter_paces_requests() -> None:
    limiter = RateLimiter(requests_per_minute=600, burst_seconds=0.1)
    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url) as gen:
            gen.limiter = limiter
            start = time.monotonic()
            results = await gen.run(requests(6))
            elapsed = time.monotonic() - start
    assert all(r.ok for r in results)
    # One request per 0.1 s (asyncio-throttle, real clock): 5 of the 6 waited.
    assert elapsed > 0.49 and limiter.waited > 0.45


async def test_progress_bar_reports_requests_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer() as srv:
        async with generator_for(srv.base_url, budget=5000) as gen:
            gen.progress = True
            await gen.run(requests(5))
    err = capsys.readouterr().err
    assert "5/5" in err
    assert f"tokens {gen.ledger.spent}/5000" in err


async def test_reservations_grow_when_the_server_counts_more_prompt_tokens() -> None:
    counter = TokenCounter()

    def handler(body: dict[str, Any]) -> FakeReply:
        # A teacher whose tokenizer splits prompts into 3x as many tokens as cl100k does.
        return FakeReply.text("ok", usage=(3 * counter.count_messages(body["messages"]), 1))

    with FakeOpenAIServer(handler=handler) as srv:
        async with generator_for(srv.base_url, budget=10**6, max_concurrency=1) as gen:
            before = gen.estimate(requests(1)[0])[1]
            results = await gen.run(requests(5))
            after = gen.estimate(requests(1)[0])[1]
            status = gen.ledger.status()
    assert status.overruns == 1  # only the first request, reserved before anything was learnt
    assert all(r.usage.total <= r.usage.reserved for r in results[1:])
    assert after > before
    assert gen.prompt_scale == pytest.approx(3 * 1.1)


@pytest.mark.parametrize("path", PATHS)
async def test_tools_logprobs_and_extra_fields_reach_the_server(path: dict[str, Any]) -> None:
    from evokd_agent.servers.fake import FakeTokenLogprob

    tool = {"type": "function", "function": {"name": "label", "parameters": {"type": "object"}}}
    script = [
        FakeReply.tool_call("label", {"label": "positive"}),
        FakeReply.text(
            "positive", logprobs=(FakeTokenLogprob("positive", -0.1, {"negative": -2.5}),)
        ),
    ]
    reqs = [
        ChatRequest([{"role": "user", "content": "a"}], tools=[tool], seed=3),
        ChatRequest(
            [{"role": "user", "content": "b"}],
            logprobs=True,
            top_logprobs=2,
            response_format={"type": "json_object"},
            extra_body={"top_k": 5},
            max_tokens=7,
        ),
    ]
    with FakeOpenAIServer(script) as srv:
        async with generator_for(srv.base_url, max_concurrency=1, **path) as gen:
            first, second = await gen.run(reqs)
        sent = srv.requests
    assert sent[0]["tools"] == [tool] and sent[0]["tool_choice"] == "auto" and sent[0]["seed"] == 3
    assert sent[1]["logprobs"] is True and sent[1]["top_logprobs"] == 2
    assert sent[1]["response_format"] == {"type": "json_object"} and sent[1]["top_k"] == 5
    assert sent[1]["max_tokens"] == 7 and sent[1]["model"] == "fake-model"
    assert first.response is not None
    calls = first.response.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "label"  # type: ignore[union-attr]
    assert second.response is not None
    logprobs = second.response.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert logprobs.content[0].top_logprobs[0].token == "negative"


@pytest.mark.parametrize("path", PATHS)
async def test_max_completion_tokens_spelling(path: dict[str, Any]) -> None:
    with FakeOpenAIServer() as srv:
        async with generator_for(
            srv.base_url, max_tokens_param="max_completion_tokens", **path
        ) as gen:
            [result] = await gen.run(requests(1, max_tokens=9))
        [sent] = srv.requests
    assert result.ok
    assert sent["max_completion_tokens"] == 9 and "max_tokens" not in sent


@pytest.mark.parametrize("path", PATHS)
async def test_a_timed_out_request_keeps_its_slot_until_its_connection_is_closed(
    path: dict[str, Any],
) -> None:
    # The fake server cancels a request's work when its client disconnects (as llama.cpp and
    # vLLM do): at no moment may it work on more requests than the cap, retries included.
    with FakeOpenAIServer([FakeReply.text("ok")], default=FakeReply.hang(0.5)) as srv:
        async with generator_for(
            srv.base_url,
            max_concurrency=4,
            timeout=0.1,
            max_retries=2,
            outage_failures=100,
            **path,
        ) as gen:
            results = await gen.run(requests(12))
    assert sum(r.error is not None and r.error.kind == "timeout" for r in results) == 11
    # (On a loaded machine an attempt may time out before it reaches the server: at most 34.)
    assert srv.request_count <= 1 + 11 * 3 and srv.max_in_flight <= 4
