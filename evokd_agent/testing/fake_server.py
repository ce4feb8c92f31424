"""A scriptable fake OpenAI-compatible server: real HTTP on loopback, for tests and benchmarks.

Tests drive it through the real `openai` client, so everything between our code and the wire is
exercised. Replies come from a script (consumed in order) or a handler function; each reply can be
text, tool calls, logprobs, an HTTP error with Retry-After, a delay (for timeouts and latency), or
a raw malformed body. The server counts requests, in-flight requests and their peak.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


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
    """(prompt_tokens, completion_tokens) to report; None estimates them from the text."""
    omit_usage: bool = False
    """Leave `usage` out of the response, as some servers do."""

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


class FakeOpenAIServer:
    """Serves `/v1/chat/completions` and `/v1/models` on 127.0.0.1 from a background thread.

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
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
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
        config = uvicorn.Config(
            self.app(),
            log_level="warning",
            lifespan="off",
            # Never uvloop: it would replace the event loop policy of the whole test process.
            # httptools (a dev dependency) parses HTTP at a third of h11's CPU cost.
            loop="asyncio",
            timeout_graceful_shutdown=1,
            backlog=4096,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP ------------------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def _unauthorized(self, request: Request) -> Response | None:
        if self._api_key is None:
            return None
        if request.headers.get("authorization") == f"Bearer {self._api_key}":
            return None
        return _error_response(401, "Incorrect API key provided.", "invalid_api_key")

    async def _models(self, request: Request) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _next_reply(self, body: dict[str, Any]) -> FakeReply:
        if self._handler is not None:
            result = self._handler(body)
            return await result if inspect.isawaitable(result) else result
        return self._script.popleft() if self._script else self._default

    async def _chat(self, request: Request) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            denied = self._unauthorized(request)
            if denied is not None:
                return denied
            body = await request.json()
            self.requests.append(body)
            if body.get("model") not in self.models:
                return _error_response(
                    404, f"The model `{body.get('model')}` does not exist.", "model_not_found"
                )
            reply = await self._next_reply(body)
            if self._latency or reply.delay:
                await asyncio.sleep(self._latency + reply.delay)
            if reply.raw_body is not None:
                return Response(reply.raw_body, media_type="application/json")
            if reply.status != 200:
                resp = _error_response(reply.status, reply.error_message or "scripted error")
                resp.headers.update(reply.headers)
                return resp
            return JSONResponse(_completion(body, reply), headers=dict(reply.headers))
        finally:
            self.in_flight -= 1


def _error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status
    )


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
            completion = _estimate_tokens(text)
        out["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return out


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
