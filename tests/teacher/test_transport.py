"""The HTTP/1.1 pool against a raw asyncio server scripted byte by byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from evokd_agent.teacher.transport import (
    ConnectFailed,
    ConnectionLost,
    H1Pool,
    ReadTimedOut,
    proxied,
)

Respond = Callable[[int, bytes], bytes | None]  # (request number, raw request) -> raw response


@asynccontextmanager
async def raw_server(
    respond: Respond, close_after: bool = False
) -> AsyncIterator[tuple[str, list[int]]]:
    """Serves scripted raw responses; yields (url, connection count box)."""
    count = 0
    connections = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        connections[0] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                count += 1
                reply = respond(count, head + body)
                if reply is None:
                    await asyncio.sleep(10)
                    return
                writer.write(reply)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat", connections
    finally:
        server.close()


def ok(body: bytes = b'{"a": 1}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_keep_alive_reuses_one_connection() -> None:
    seen: list[bytes] = []

    def respond(n: int, raw: bytes) -> bytes:
        seen.append(raw)
        return ok(b"reply %d" % n)

    async with raw_server(respond) as (url, connections):
        pool = H1Pool()
        for i in range(3):
            status, _, body = await pool.request("POST", url, [(b"X-Test", b"1")], b"{}")
            assert (status, body) == (200, b"reply %d" % (i + 1))
        await pool.aclose()
    assert connections[0] == 1
    assert seen[0].startswith(b"POST /v1/chat HTTP/1.1\r\n")
    assert b"X-Test: 1\r\n" in seen[0] and b"Content-Length: 2\r\n" in seen[0]
    assert b"Host: 127.0.0.1:" in seen[0]


async def test_chunked_body_and_interim_response() -> None:
    body = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\nRetry-After: 2\r\n\r\n"
        b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
    )
    async with raw_server(lambda n, raw: body) as (url, _):
        pool = H1Pool()
        status, headers, content = await pool.request("POST", url, [], b"")
        await pool.aclose()
    assert status == 429 and content == b"hello world"
    assert (b"Retry-After", b"2") in headers


async def test_connection_close_and_server_side_idle_close_are_survived() -> None:
    async with raw_server(lambda n, raw: ok(extra=b"Connection: close\r\n"), close_after=True) as (
        url,
        connections,
    ):
        pool = H1Pool()
        for _ in range(3):
            assert (await pool.request("POST", url, [], b"x"))[0] == 200
        await pool.aclose()
    assert connections[0] == 3
    # Server closes after each response without saying so: the stale connection is replaced.
    async with raw_server(lambda n, raw: ok(), close_after=True) as (url, connections):
        pool = H1Pool()
        for _ in range(3):
            assert (await pool.request("POST", url, [], b"x"))[0] == 200
            await asyncio.sleep(0.01)
        await pool.aclose()
    assert connections[0] == 3


async def test_failures_map_to_transport_errors() -> None:
    async with raw_server(lambda n, raw: None) as (url, _):
        pool = H1Pool()
        with pytest.raises(ReadTimedOut):
            await pool.request("POST", url, [], b"", read_timeout=0.1)
        await pool.aclose()
    async with raw_server(lambda n, raw: b"SPAM\r\n\r\n") as (url, _):
        with pytest.raises(ConnectionLost, match="not valid HTTP"):
            await H1Pool().request("POST", url, [], b"")
    async with raw_server(
        lambda n, raw: b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", close_after=True
    ) as (url, _):
        with pytest.raises(ConnectionLost, match="mid-response"):
            await H1Pool().request("POST", url, [], b"")
    with pytest.raises(ConnectFailed):
        await H1Pool().request("POST", "http://127.0.0.1:1/v1", [], b"")


def test_proxy_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert not proxied("http://example.com/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert proxied("https://api.openai.com/v1")
    assert not proxied("http://example.com/v1")
    assert not proxied("https://127.0.0.1:8000/v1")


async def test_a_deadline_ends_the_whole_request_before_a_longer_read_timeout() -> None:
    async with raw_server(lambda n, raw: None) as (url, _):  # never answers
        pool = H1Pool()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ReadTimedOut):
            await pool.request("POST", url, [], b"", read_timeout=30.0, deadline=started + 0.2)
        assert loop.time() - started < 5.0  # the deadline, not the 30 s read timeout
        await pool.aclose()
