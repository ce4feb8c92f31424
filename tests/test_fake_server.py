"""The fake server speaks the OpenAI wire format well enough for the real `openai` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob


def client_for(server: FakeOpenAIServer, **kwargs: object) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.base_url,
        api_key="test-key",
        max_retries=0,
        **kwargs,  # type: ignore[arg-type]
    )


async def chat(client: openai.AsyncOpenAI, **kwargs: object) -> object:
    return await client.chat.completions.create(  # type: ignore[call-overload]
        model="fake-model", messages=[{"role": "user", "content": "hi"}], **kwargs
    )


async def test_scripted_text_then_default(fake_server: FakeOpenAIServer) -> None:
    fake_server.push(FakeReply.text("first", usage=(11, 3)))
    async with client_for(fake_server) as client:
        first = await chat(client)
        second = await chat(client)
    assert first.choices[0].message.content == "first"  # type: ignore[attr-defined]
    assert first.usage.prompt_tokens == 11  # type: ignore[attr-defined]
    assert first.usage.completion_tokens == 3  # type: ignore[attr-defined]
    assert second.choices[0].message.content == "ok"  # type: ignore[attr-defined]
    assert fake_server.request_count == 2
    assert fake_server.requests[0]["messages"] == [{"role": "user", "content": "hi"}]


async def test_tool_call_round_trips(fake_server: FakeOpenAIServer) -> None:
    fake_server.push(FakeReply.tool_call("train_student", {"epochs": 3}))
    async with client_for(fake_server) as client:
        resp = await chat(client)
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[attr-defined]
    assert call.function.name == "train_student"
    assert json.loads(call.function.arguments) == {"epochs": 3}
    assert resp.choices[0].finish_reason == "tool_calls"  # type: ignore[attr-defined]


async def test_logprobs_only_when_asked(fake_server: FakeOpenAIServer) -> None:
    lp = (FakeTokenLogprob("positive", -0.1, {"positive": -0.1, "negative": -2.4}),)
    fake_server.push(
        FakeReply.text("positive", logprobs=lp), FakeReply.text("positive", logprobs=lp)
    )
    async with client_for(fake_server) as client:
        with_lp = await chat(client, logprobs=True, top_logprobs=2)
        without = await chat(client)
    content = with_lp.choices[0].logprobs.content  # type: ignore[attr-defined]
    assert content[0].token == "positive"
    assert {t.token: t.logprob for t in content[0].top_logprobs} == {
        "positive": -0.1,
        "negative": -2.4,
    }
    assert without.choices[0].logprobs is None  # type: ignore[attr-defined]


async def test_429_carries_retry_after(fake_server: FakeOpenAIServer) -> None:
    fake_server.push(FakeReply.error(429, "slow down", retry_after=1.5))
    async with client_for(fake_server) as client:
        with pytest.raises(openai.RateLimitError) as info:
            await chat(client)
    assert info.value.response.headers["retry-after"] == "1.5"


async def test_500_and_malformed_json(fake_server: FakeOpenAIServer) -> None:
    fake_server.push(FakeReply.error(500), FakeReply.malformed())
    async with client_for(fake_server) as client:
        with pytest.raises(openai.InternalServerError):
            await chat(client)
        with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError, ValueError)):
            await chat(client)


async def test_hang_trips_client_timeout(fake_server: FakeOpenAIServer) -> None:
    fake_server.push(FakeReply.hang(2.0))
    async with client_for(fake_server, timeout=0.2) as client:
        with pytest.raises(openai.APITimeoutError):
            await chat(client)


async def test_counts_requests_in_flight() -> None:
    with FakeOpenAIServer(latency=0.2) as server:
        async with client_for(server) as client:
            await asyncio.gather(*(chat(client) for _ in range(5)))
        assert server.max_in_flight == 5
        assert server.in_flight == 0


async def test_wrong_key_and_unknown_model() -> None:
    with FakeOpenAIServer(api_key="right") as server:
        async with client_for(server) as client:  # sends "test-key"
            with pytest.raises(openai.AuthenticationError):
                await chat(client)
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="right", max_retries=0
        ) as client:
            with pytest.raises(openai.NotFoundError, match="does not exist"):
                await client.chat.completions.create(
                    model="nope", messages=[{"role": "user", "content": "hi"}]
                )


async def test_handler_sees_request_body() -> None:
    def echo(body: dict[str, object]) -> FakeReply:
        return FakeReply.text(f"max={body.get('max_tokens')}")

    with FakeOpenAIServer(handler=echo) as server:
        async with client_for(server) as client:
            resp = await chat(client, max_tokens=7)
    assert resp.choices[0].message.content == "max=7"  # type: ignore[attr-defined]


async def test_plain_http_edges(fake_server: FakeOpenAIServer) -> None:
    """Chunked request bodies, unknown routes, non-JSON bodies and `Connection: close`."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "fake-model", '
        yield b'"messages": [{"role": "user", "content": "hi"}]}'

    async with httpx.AsyncClient(base_url=fake_server.base_url) as http:
        chunked = await http.post("/chat/completions", content=chunks())
        missing = await http.get("/nowhere")
        garbage = await http.post("/chat/completions", content=b"not json")
        closing = await http.get("/models", headers={"Connection": "close"})
    assert chunked.status_code == 200
    assert chunked.json()["choices"][0]["message"]["content"] == "ok"
    assert missing.status_code == 404
    assert garbage.status_code == 400
    assert closing.json()["data"][0]["id"] == "fake-model"


async def test_broken_handler_answers_500() -> None:
    def handler(body: dict[str, object]) -> FakeReply:
        raise KeyError("oops")

    with FakeOpenAIServer(handler=handler) as server:
        async with client_for(server) as client:
            with pytest.raises(openai.InternalServerError, match="handler failed"):
                await chat(client)
