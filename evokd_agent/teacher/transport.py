"""A lean HTTP/1.1 keep-alive connection pool on asyncio streams: the one hand-written HTTP
left, kept because it is measured to matter.

`TeacherClient` posts requests to plain-HTTP endpoints (local vLLM, SGLang, llama.cpp servers:
where request rates are high) on it; everything else goes through the `openai` SDK on aiohttp.
At 64 requests in flight against the fake server (`scripts/bench_generator.py`), the SDK's
`create` costs about 7 times the client CPU per request of this pool, and even a direct aiohttp
post 1.7 times: over the 0.5 ms/request target (README, The teacher side). It speaks plain
HTTP/1.1 only (Content-Length or chunked bodies, keep-alive): no TLS, proxies, redirects or
compression (none is asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

_MAX_HEADER_BYTES = 1 << 20
_CLOSE_WAIT_S = 1.0
_HEAD_END = b"\r\n\r\n"

Headers = list[tuple[bytes, bytes]]


class TransportError(Exception):
    """Base of the pool's failures."""


class ConnectFailed(TransportError):
    """No connection could be opened: the request was never sent."""


class ConnectTimedOut(ConnectFailed):
    """Opening the connection took longer than the connect timeout: never sent."""


class ReadTimedOut(TransportError):
    """The request was sent but the response did not arrive in time."""


class ConnectionLost(TransportError):
    """The connection broke after the request was sent, or the response was not HTTP."""


def proxied(url: str) -> bool:
    """True when the environment configures a proxy for `url` (the pool can't use proxies)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0


class H1Pool:
    """Keep-alive HTTP/1.1 connections per origin, reused last-in first-out.

    No cap of its own: each request holds exactly one connection, so the callers' concurrency
    cap bounds the connections.
    """

    def __init__(self, *, keepalive_expiry: float = 30.0) -> None:
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._expiry = keepalive_expiry
        self._loop: asyncio.AbstractEventLoop | None = None

    async def request(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        deadline: float | None = None,
    ) -> tuple[int, Headers, bytes]:
        """Send one request; (status, headers, body) of the response.

        `deadline` (the event loop's clock): the whole request, connecting included, ends by
        then; each wait is cut to what is left of it.
        """
        loop = asyncio.get_running_loop()

        def left(limit: float | None) -> float | None:
            if deadline is None:
                return limit
            rest = max(0.0, deadline - loop.time())
            return rest if limit is None else min(limit, rest)

        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        if scheme != "http":
            raise ValueError(f"H1Pool speaks plain HTTP only, not {scheme!r}")
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port)
        head = [f"{method} {target} HTTP/1.1\r\n".encode()]
        has_host = False
        for name, value in headers:
            lname = name.lower()
            if lname in (b"content-length", b"transfer-encoding"):
                continue  # the body is always sent whole, with its length
            has_host = has_host or lname == b"host"
            head += (name, b": ", value, b"\r\n")
        if not has_host:
            netloc = host if parts.port is None else f"{host}:{port}"
            head.append(f"Host: {netloc}\r\n".encode())
        head.append(f"Content-Length: {len(body)}\r\n\r\n".encode())
        data = b"".join(head) + body
        for fresh in (False, True):
            conn = None if fresh else self._checkout(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(host, port, left(connect_timeout))
            keep = False
            try:
                conn.writer.write(data)
                try:
                    status, resp_headers, content, keep = await _within(
                        _read_response(conn.reader, method), left(read_timeout)
                    )
                except asyncio.IncompleteReadError as exc:
                    if reused and not exc.partial:
                        continue  # the server had closed this idle connection: use a fresh one
                    raise ConnectionLost("the server closed the connection mid-response") from exc
                except ConnectionError as exc:
                    if reused:
                        continue
                    raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc
                except TimeoutError as exc:
                    raise ReadTimedOut(f"no response within {read_timeout}s") from exc
                except (ValueError, asyncio.LimitOverrunError) as exc:
                    raise ConnectionLost(f"the response is not valid HTTP/1.1: {exc}") from exc
                return status, resp_headers, content
            finally:
                if keep:
                    conn.idle_since = time.monotonic()
                    self._idle.setdefault(key, []).append(conn)
                else:  # errors, cancellation, Connection: close
                    await _close(conn)
        raise ConnectionLost("the connection was lost twice")  # pragma: no cover

    def _checkout(self, key: tuple[str, str, int]) -> _Conn | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._idle.clear()
            self._loop = loop
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self._expiry and not conn.reader.at_eof():
                return conn
            conn.writer.close()
        return None

    async def _connect(self, host: str, port: int, seconds: float | None) -> _Conn:
        try:
            reader, writer = await _within(
                asyncio.open_connection(host, port, limit=_MAX_HEADER_BYTES), seconds
            )
        except TimeoutError as exc:
            raise ConnectTimedOut(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Conn(reader, writer)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.writer.close()
        self._idle.clear()


async def _close(conn: _Conn) -> None:
    """Close a connection and wait until it is closed (at most a second): the caller keeps its
    concurrency slot meanwhile, so a timed-out request is gone, for a server that stops work on
    disconnect, before the next one takes its place."""
    conn.writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.writer.wait_closed(), _CLOSE_WAIT_S)


async def _within(awaitable: Awaitable[T], seconds: float | None) -> T:
    async with asyncio.timeout(seconds):
        return await awaitable


async def _read_response(
    reader: asyncio.StreamReader, method: str
) -> tuple[int, Headers, bytes, bool]:
    """(status, headers, body, keep-alive?) of one HTTP/1.1 response."""
    while True:
        raw = await reader.readuntil(_HEAD_END)
        lines = raw[:-4].split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
            raise ValueError(f"malformed status line {lines[0][:80]!r}")
        status = int(status_line[1])
        if status >= 200 or status == 101:
            break  # 1xx informational responses come before the real one
    version = status_line[0]
    headers: Headers = []
    length: int | None = None
    chunked = False
    keep = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        value = value.strip()
        headers.append((name, value))
        lname = name.lower()
        if lname == b"content-length":
            length = int(value)
        elif lname == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lname == b"connection":
            tokens = value.lower()
            keep = b"close" not in tokens if version == b"HTTP/1.1" else b"keep-alive" in tokens
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif chunked:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                break
            chunks.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(chunks)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()
        keep = False
    return status, headers, body, keep
