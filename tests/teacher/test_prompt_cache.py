"""Prompt tokens served from the provider's prefix cache: read from the reply, kept apart in the
ledger (and ledger.json), still charged to the budget, and never counted twice on a cache replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.rundir.durable import write_json_atomic
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.request import ChatRequest
from tests.teacher.conftest import generator_for

# Our post on the HTTP/1.1 pool, and the SDK's create (on its aiohttp transport).
PATHS = [
    pytest.param({}, id="fast"),
    pytest.param({"fast_path": False}, id="sdk"),
]


def request(text: str, phase: Any, round: int) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], max_tokens=16, phase=phase, round=round)


def raw_completion(usage: dict[str, Any]) -> str:
    """A valid chat completion body with exactly this `usage` object."""
    return json.dumps(
        {
            "id": "chatcmpl-raw",
            "object": "chat.completion",
            "created": 0,
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )


@pytest.mark.parametrize("path", PATHS)
async def test_cached_prompt_tokens_reach_ledger_json(path: dict[str, Any], tmp_path: Path) -> None:
    script = [
        FakeReply.text("a", usage=(100, 10), cached_tokens=64),
        FakeReply.text("b", usage=(50, 5)),  # no prompt_tokens_details at all
        FakeReply.text("c", usage=(80, 8), cached_tokens=32),
    ]
    reqs = [request("one", "generation", 1), request("two", "labelling", 1)]
    reqs.append(request("three", "generation", 2))
    with FakeOpenAIServer(script) as srv:
        async with generator_for(srv.base_url, budget=10_000, max_concurrency=1, **path) as gen:
            results = await gen.run(reqs)
    assert [r.usage.cached_prompt_tokens for r in results] == [64, 0, 32]
    # The budget is prompt + completion: cached prompt tokens are charged in full.
    assert gen.ledger.spent == 100 + 10 + 50 + 5 + 80 + 8

    write_json_atomic(tmp_path / "ledger.json", gen.ledger.to_dict())
    saved = json.loads((tmp_path / "ledger.json").read_text())
    assert saved["total"]["cached_prompt_tokens"] == 96
    assert saved["total"]["prompt_tokens"] == 230 and saved["spent"] == 253
    rows = {(r["phase"], r["round"]): r["cached_prompt_tokens"] for r in saved["spend"]}
    assert rows == {("generation", 1): 64, ("labelling", 1): 0, ("generation", 2): 32}
    restored = TokenLedger.from_dict(saved).status()
    assert restored.total.cached_prompt_tokens == 96 and restored.spent == 253
    assert restored.by_phase["generation"].cached_prompt_tokens == 96
    assert "96 prompt tokens served from the provider's prefix cache" in restored.summary()


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens_details": None},
        {"prompt_tokens_details": {}},
        {"prompt_tokens_details": {"cached_tokens": None}},
        {"prompt_tokens_details": {"cached_tokens": "many"}},
        {"prompt_tokens_details": {"cached_tokens": -5}},
    ],
    ids=["null", "empty", "null-count", "not-a-number", "negative"],
)
async def test_missing_or_odd_cached_tokens_count_as_zero(usage: dict[str, Any]) -> None:
    body = raw_completion({"prompt_tokens": 40, "completion_tokens": 4, **usage})
    with FakeOpenAIServer([FakeReply.malformed(body)]) as srv:
        async with generator_for(srv.base_url, budget=1_000) as gen:
            [result] = await gen.run([request("x", "generation", 1)])
    assert result.ok and result.usage.source == "server"
    assert result.usage.cached_prompt_tokens == 0
    assert gen.ledger.status().total.cached_prompt_tokens == 0 and gen.ledger.spent == 44


async def test_a_cached_count_above_the_prompt_is_capped() -> None:
    with FakeOpenAIServer([FakeReply.text("x", usage=(30, 3), cached_tokens=500)]) as srv:
        async with generator_for(srv.base_url, budget=1_000) as gen:
            [result] = await gen.run([request("x", "analysis", 1)])
    assert result.usage.cached_prompt_tokens == 30
    assert gen.ledger.status().total.cached_prompt_tokens == 30


async def test_replays_from_our_response_cache_are_not_counted_twice(tmp_path: Path) -> None:
    reqs = [request(f"item {i}", "generation", 1) for i in range(3)]
    reply = FakeReply.text("ok", usage=(100, 10), cached_tokens=60)
    with FakeOpenAIServer(default=reply) as srv:
        async with generator_for(srv.base_url, cache_dir=tmp_path, budget=10_000) as first:
            await first.run(reqs)
        paid = first.ledger.status()
        assert paid.total.cached_prompt_tokens == 180 and paid.spent == 330

        # A free cache hit costs nothing: no cached prompt tokens either (they are in the saving).
        async with generator_for(srv.base_url, cache_dir=tmp_path, budget=10_000) as again:
            hits = await again.run(reqs)
        free = again.ledger.status()
        assert all(r.cached for r in hits)
        assert [r.usage.cached_prompt_tokens for r in hits] == [60] * 3  # as first reported
        assert free.spent == 0 and free.total.cached_prompt_tokens == 0
        assert free.total.cache_saved_tokens == 330

        # A resumed run's replay (charged, on a fresh ledger) retraces the original spend once.
        replay_ledger = TokenLedger(10_000, charge_cache_hits=True)
        async with generator_for(srv.base_url, cache_dir=tmp_path, ledger=replay_ledger) as resumed:
            await resumed.run(reqs)
        replayed = resumed.ledger.status()
        assert srv.request_count == 3  # nothing was sent after the first run
    assert replayed.spent == paid.spent
    assert replayed.total.cached_prompt_tokens == paid.total.cached_prompt_tokens
