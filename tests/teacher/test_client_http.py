"""`TeacherClient` on both send paths against a raw asyncio server scripted byte by byte: what
reaches the wire, odd but valid responses, and how each way of failing is classified."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.client import TeacherClient
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.request import ChatRequest
from tests.teacher.conftest import closed_port
from tests.teacher.test_transport import raw_server as transport_raw_server

Respond = Callable[[int, bytes], bytes | None]  # (request number, raw request) -> raw response

# Our post on the HTTP/1.1 pool, and the SDK's create on its aiohttp transport.
PATHS = [pytest.param(True, id="fast"), pytest.param(False, id="sdk")]

COMPLETION = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
    }
).encode()
REQUEST = ChatRequest([{"role": "user", "content": "hello"}], max_tokens=5)


@asynccontextmanager
async def raw_server(respond: Respond, close_after: bool = False) -> AsyncIterator[str]:
    """The transport tests' scripted raw server; yields the base URL (".../v1")."""
    async with transport_raw_server(respond, close_after) as (url, _):
        yield url.removesuffix("/chat")


def ok(body: bytes = COMPLETION) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def client(url: str, fast: bool, **settings: Any) -> TeacherClient:
    config = TeacherConfig(base_url=url, model="fake-model", fast_path=fast, **settings)
    return TeacherClient(config)


@pytest.mark.parametrize("fast", PATHS)
async def test_the_request_on_the_wire(fast: bool) -> None:
    seen: list[bytes] = []

    def respond(n: int, raw: bytes) -> bytes:
        seen.append(raw)
        return ok()

    async with raw_server(respond) as url, client(url, fast, api_key="sk-test-key-123") as teacher:
        completion, body = await teacher.send(REQUEST)
    assert completion.choices[0].message.content == "hi" and body == COMPLETION
    head, _, sent = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    lines = head.lower().split(b"\r\n")
    assert b"authorization: bearer sk-test-key-123" in lines
    assert b"content-type: application/json" in lines
    assert any(line.startswith(b"user-agent: asyncopenai/") for line in lines)
    assert json.loads(sent) == {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 5,
        "temperature": 0.0,
    }


@pytest.mark.parametrize("fast", PATHS)
async def test_a_chunked_error_after_an_interim_response(fast: bool) -> None:
    parts = [b'{"error": {"message": "slow', b' down", "code": "busy"}', b"}"]
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\nRetry-After: 2\r\n\r\n"
        + b"".join(b"%x;x=y\r\n%s\r\n" % (len(p), p) for p in parts)
        + b"0\r\n\r\n"
    )
    async with raw_server(lambda n, raw: reply) as url, client(url, fast) as teacher:
        with pytest.raises(openai.RateLimitError) as caught:
            await teacher.send(REQUEST)
        failed = await teacher.classify(caught.value)
    # What the SDK itself raises: the same class, message, body and code on both paths.
    assert str(caught.value) == "Error code: 429 - slow down"
    assert caught.value.body == {"message": "slow down", "code": "busy"}
    assert caught.value.code == "busy"
    assert failed.error.kind == "rate_limit" and failed.retry_after == 2.0 and failed.retryable


@pytest.mark.parametrize("fast", PATHS)
async def test_failures_are_classified(fast: bool) -> None:
    async with raw_server(lambda n, raw: None) as url, client(url, fast, timeout=0.2) as teacher:
        with pytest.raises(openai.APITimeoutError) as timed_out:
            await teacher.send(REQUEST)
        failed = await teacher.classify(timed_out.value)
    assert (failed.error.kind, failed.billing, failed.retryable) == ("timeout", "unknown", True)
    for reply in (b"SPAM\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"):

        def respond(n: int, raw: bytes, reply: bytes = reply) -> bytes:
            return reply

        async with raw_server(respond, close_after=True) as url, client(url, fast) as teacher:
            with pytest.raises(openai.APIConnectionError) as broken:
                await teacher.send(REQUEST)
            failed = await teacher.classify(broken.value)
        assert (failed.error.kind, failed.billing, failed.fatal) == ("connection", "unknown", None)
    async with client(f"http://127.0.0.1:{closed_port()}/v1", fast) as teacher:
        with pytest.raises(openai.APIConnectionError) as refused:
            await teacher.send(REQUEST)
        failed = await teacher.classify(refused.value)
    assert (failed.error.kind, failed.billing) == ("connection", "no")
    assert isinstance(failed.fatal, EvokdError) and "cannot reach" in failed.fatal.cause
    assert "Connect" in failed.error.message  # the transport's own words, not the SDK's


async def test_a_proxied_endpoint_goes_through_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []

    def respond(n: int, raw: bytes) -> bytes:
        seen.append(raw)
        return ok()

    async with raw_server(respond) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.removesuffix("/v1"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with client("http://teacher.invalid:8000/v1", True) as teacher:
            await teacher.send(REQUEST)
    assert seen[0].startswith(b"POST http://teacher.invalid:8000/v1/chat/completions HTTP/1.1")
