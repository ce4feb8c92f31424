"""A scriptable fake OpenAI-compatible server: real HTTP on loopback (aiohttp.web), for tests
and benchmarks.

Tests drive it through the real `openai` client, so everything between our code and the wire is
exercised. Replies come from a script (consumed in order) or a handler function; each reply can be
text, tool calls, logprobs, scripted usage (prefix-cached prompt tokens included), an HTTP error
with Retry-After, a delay (for timeouts and latency), or a raw malformed body. The server counts
requests, in-flight requests and their peak.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from evokd_agent.servers.chat_validation import chat_validation_error


@dataclass(frozen=True)
class FakeToolCall:
    """One tool call in a scripted assistant message."""

    name: str
    """Function name the fake model calls."""
    arguments: str
    """Arguments exactly as sent on the wire (a JSON string, or deliberately broken text)."""


@dataclass(frozen=True)
class FakeTokenLogprob:
    """Logprob of one generated token, with its alternatives."""

    token: str
    """The generated token's text."""
    logprob: float
    """Natural-log probability of the generated token."""
    top: Mapping[str, float] = field(default_factory=dict)
    """Alternatives (token -> logprob) reported as `top_logprobs`."""


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer of the fake server."""

    content: str | None = "ok"
    """Assistant message text (None when the reply is only tool calls)."""
    tool_calls: tuple[FakeToolCall, ...] = ()
    """Tool calls in the assistant message."""
    logprobs: tuple[FakeTokenLogprob, ...] | None = None
    """Per-token logprobs, sent only when the request asked for logprobs."""
    status: int = 200
    """HTTP status; anything but 200 sends an OpenAI-style error body."""
    error_message: str = ""
    """Message of the error body when status is not 200."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers, e.g. Retry-After."""
    delay: float = 0.0
    """Seconds to wait before answering (latency, or a hang that trips the client's timeout)."""
    raw_body: str | None = None
    """If set, sent verbatim as the body (malformed JSON and other garbage)."""
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens) to report, verbatim; None estimates them from the
    text (completion tokens at most max_tokens, as a server honouring it counts)."""
    omit_usage: bool = False
    """Leave `usage` out of the response, as some servers do."""
    cached_tokens: int | None = None
    """Prompt tokens to report as served from a prefix cache, sent as
    `usage.prompt_tokens_details.cached_tokens` (as OpenAI and vLLM do); None leaves it out."""

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> FakeReply:
        return cls(content=content, **kwargs)

    @classmethod
    def tool_call(cls, name: str, arguments: Mapping[str, Any] | str, **kwargs: Any) -> FakeReply:
        args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
        return cls(content=None, tool_calls=(FakeToolCall(name, args),), **kwargs)

    @classmethod
    def error(cls, status: int, message: str = "", retry_after: float | None = None) -> FakeReply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(content=None, status=status, error_message=message, headers=headers)

    @classmethod
    def malformed(cls, body: str = '{"id": "broken", "choices": [') -> FakeReply:
        return cls(raw_body=body)

    @classmethod
    def hang(cls, seconds: float) -> FakeReply:
        return cls(delay=seconds)


Handler = Callable[[dict[str, Any]], "FakeReply | Awaitable[FakeReply]"]


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _completion_estimate(text: str, body: Mapping[str, Any]) -> int:
    """Completion tokens of a scripted reply, as a server honouring max_tokens reports them
    (the text itself is sent whole: scripts need not fit their replies to max_tokens)."""
    estimate = _estimate_tokens(text)
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(limit, int) and limit > 0:
        n = body.get("n")
        return min(estimate, limit * (n if isinstance(n, int) and n > 0 else 1))
    return estimate


class FakeOpenAIServer:
    """Serves `/v1/chat/completions`, `/v1/completions` and `/v1/models` on 127.0.0.1 from a
    background thread.

    Use as a context manager: `with FakeOpenAIServer([FakeReply.text("hi")]) as srv:` and point
    the client at `srv.base_url`. When the script runs out, `default` answers.
    """

    def __init__(
        self,
        script: Iterable[FakeReply] = (),
        *,
        handler: Handler | None = None,
        default: FakeReply | None = None,
        models: Iterable[str] = ("fake-model",),
        api_key: str | None = None,
        latency: float = 0.0,
    ) -> None:
        self._script: deque[FakeReply] = deque(script)
        self._handler = handler
        self._default = default or FakeReply.text("ok")
        self.models = tuple(models)
        self._api_key = api_key
        self._latency = latency
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # --- scripting -------------------------------------------------------------------------
    def push(self, *replies: FakeReply) -> None:
        """Append replies to the script."""
        self._script.extend(replies)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def request_count(self) -> int:
        return len(self.requests)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeOpenAIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, started), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, sock: socket.socket, started: threading.Event) -> None:
        # A private event loop in its own thread, so tests can block their own loop freely.
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock, started))
        finally:
            loop.close()

    async def _serve(self, sock: socket.socket, started: threading.Event) -> None:
        self._stopping = asyncio.Event()
        # aiohttp's low-level server: no router or middlewares to pay for, `_dispatch` routes.
        # A handler stops when its client hangs up (as a real server stops generating), and a
        # short shutdown timeout cuts scripted hangs off when the test ends.
        server = web.Server(self._handle, access_log=None, handler_cancellation=True)
        runner = web.ServerRunner(server, shutdown_timeout=0.1)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=4096).start()
        started.set()
        await self._stopping.wait()
        await runner.cleanup()

    # --- HTTP ------------------------------------------------------------------------------
    async def _handle(self, request: web.BaseRequest) -> web.Response:
        body = await request.content.read()  # whole, unlike read(): no 1 MiB cap
        response = await self._dispatch(request.method, request.path, request.headers, body)
        return web.Response(
            status=response.status,
            body=response.body,
            headers={"Content-Type": "application/json", **response.headers},
        )

    async def _dispatch(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        if path == "/v1/chat/completions" and method == "POST":
            return await self._chat(headers, body)
        if path == "/v1/completions" and method == "POST":
            return await self._chat(headers, body, text=True)
        if path == "/v1/models" and method == "GET":
            return self._models(headers)
        return _error(404, f"no route for {method} {path}")

    def _unauthorized(self, headers: Mapping[str, str]) -> _Response | None:
        if self._api_key is None:
            return None
        if headers.get("authorization") == f"Bearer {self._api_key}":
            return None
        return _error(401, "Incorrect API key provided.", "invalid_api_key")

    def _models(self, headers: Mapping[str, str]) -> _Response:
        denied = self._unauthorized(headers)
        if denied is not None:
            return denied
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return _Response(200, json.dumps({"object": "list", "data": data}).encode())

    async def _next_reply(self, body: dict[str, Any]) -> FakeReply:
        if self._handler is not None:
            result = self._handler(body)
            return await result if inspect.isawaitable(result) else result
        return self._script.popleft() if self._script else self._default

    async def _chat(self, headers: Mapping[str, str], raw: bytes, text: bool = False) -> _Response:
        """A chat completion, or with `text` a text completion (`/v1/completions`, `prompt`)."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            denied = self._unauthorized(headers)
            if denied is not None:
                return denied
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, "request body is not JSON")
            self.requests.append(body)
            # Text completions (`prompt`) carry no messages to check.
            invalid = None if "prompt" in body else chat_validation_error(body.get("messages"))
            if invalid is not None:  # refused before the script: a real server generates nothing
                return _validation_failed(invalid)
            if body.get("model") not in self.models:
                return _error(
                    404, f"The model `{body.get('model')}` does not exist.", "model_not_found"
                )
            try:
                reply = await self._next_reply(body)
            except Exception as exc:  # a broken test handler: answer 500 and say why
                logging.getLogger(__name__).exception("fake server handler failed")
                return _error(500, f"handler failed: {exc!r}")
            if self._latency or reply.delay:
                await asyncio.sleep(self._latency + reply.delay)
            if reply.raw_body is not None:
                return _Response(200, reply.raw_body.encode())
            if reply.status != 200:
                error = _error(reply.status, reply.error_message or "scripted error")
                return _Response(error.status, error.body, dict(reply.headers))
            answer = _text_completion(body, reply) if text else _completion(body, reply)
            return _Response(200, json.dumps(answer).encode(), dict(reply.headers))
        finally:
            self.in_flight -= 1


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _error(status: int, message: str, code: str | None = None) -> _Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _Response(status, json.dumps(body).encode())


def _validation_failed(message: str) -> _Response:
    # llama-cpp-python answers a request that fails validation with HTTP 500 and this body.
    body = {"error": {"message": message, "type": "internal_server_error", "param": None}}
    return _Response(500, json.dumps(body).encode())


def _completion(body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments},
            }
            for i, tc in enumerate(reply.tool_calls)
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": "tool_calls" if reply.tool_calls else "stop",
        "logprobs": None,
    }
    if body.get("logprobs") and reply.logprobs is not None:
        choice["logprobs"] = {
            "content": [
                {
                    "token": t.token,
                    "logprob": t.logprob,
                    "bytes": list(t.token.encode()),
                    "top_logprobs": [
                        {"token": k, "logprob": v, "bytes": list(k.encode())}
                        for k, v in t.top.items()
                    ],
                }
                for t in reply.logprobs
            ]
        }
    out: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", ""),
        "choices": [choice],
    }
    if not reply.omit_usage:
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            prompt = _estimate_tokens(json.dumps(body.get("messages", [])))
            text = (reply.content or "") + "".join(tc.arguments for tc in reply.tool_calls)
            completion = _completion_estimate(text, body)
        out["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if reply.cached_tokens is not None:
            out["usage"]["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return out


def _text_completion(body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
    """What `/v1/completions` answers: the reply's text, its logprobs in the completions form
    (`logprobs: N` asks for the top N alternatives of each token)."""
    choice: dict[str, Any] = {
        "index": 0,
        "text": reply.content or "",
        "finish_reason": "length",
        "logprobs": None,
    }
    if body.get("logprobs") and reply.logprobs is not None:
        offsets, at = [], len(body.get("prompt", ""))
        for t in reply.logprobs:
            offsets.append(at)
            at += len(t.token)
        choice["logprobs"] = {
            "tokens": [t.token for t in reply.logprobs],
            "token_logprobs": [t.logprob for t in reply.logprobs],
            "top_logprobs": [dict(t.top) for t in reply.logprobs],
            "text_offset": offsets,
        }
    prompt, completion = reply.usage or (
        _estimate_tokens(str(body.get("prompt", ""))),
        _completion_estimate(reply.content or "", body),
    )
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 0,
        "model": body.get("model", ""),
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def main(argv: list[str] | None = None) -> None:
    """Run the fake server in the foreground (for benchmarks in a separate process)."""
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server (tests/benches).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--model", default="fake-model")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(models=[args.model], latency=args.latency).start(args.port)
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
