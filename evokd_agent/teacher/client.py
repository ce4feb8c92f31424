"""Async teacher client over the `openai` SDK: one attempt per call, failures classified.

SDK retries are off (`max_retries=0`): the generator applies our single retry policy. The key is
registered with the log redactor and never logged.

Two send paths:
- the SDK's `chat.completions.create` / `completions.create` on its aiohttp transport
  (`openai.DefaultAioHttpClient`): https and proxied endpoints, `fast_path=False`, and
  `list_models`;
- plain-HTTP endpoints (local vLLM, SGLang, llama.cpp servers, where request rates are high):
  the JSON body is built here and posted on `transport.H1Pool` with the SDK's headers; an error
  status becomes the SDK's exception for it (`status_error`). Measured at 64 requests in flight
  (README, The teacher side), the SDK's `create` costs about 7 times the client CPU per request
  of this path (mostly its parameter transform), and posting the body with aiohttp directly 1.7
  times: over the 0.5 ms/request target.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterable
from typing import Any

import aiohttp
import openai
import pydantic
from openai.types.chat import ChatCompletion

from evokd_agent.errors import EvokdError
from evokd_agent.logs import redact, register_secret
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.request import ChatError, ChatRequest
from evokd_agent.teacher.retry import AttemptFailed, parse_retry_after
from evokd_agent.teacher.transport import (
    ConnectFailed,
    H1Pool,
    ReadTimedOut,
    TransportError,
    proxied,
)

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# llama-cpp-python answers a request that fails its pydantic validation with HTTP 500; sending
# the same body again fails the same way, so such a 500 is not retried.
_INVALID_REQUEST_MARKERS = ("validation error", "input should be")
# The SDK's exception per status, as its README lists them (>= 500: InternalServerError).
_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


class MalformedResponse(ValueError):
    """The server answered 200 with a body that is not a chat completion."""


def _http_module() -> Any:
    """The HTTP library of this openai SDK version (httpx for 1.x/2.x, httpx2 for later ones)."""
    for base in openai.DefaultAsyncHttpxClient.__mro__:
        if base.__name__ == "AsyncClient":
            return sys.modules[base.__module__.split(".")[0]]
    raise RuntimeError("cannot find the openai SDK's HTTP client library")  # pragma: no cover


def _causes(exc: BaseException | None) -> Iterable[BaseException]:
    """`exc` and its chain of causes (the SDK wraps httpx(2) errors that wrap aiohttp's)."""
    for _ in range(10):
        if exc is None:
            return
        yield exc
        exc = exc.__cause__


def _cause_detail(exc: BaseException) -> str:
    """The transport's own error (ours or aiohttp's), under the SDK's and httpx2's wrappers."""
    wrappers = ("openai", "httpx")
    cause = next((e for e in _causes(exc) if not type(e).__module__.startswith(wrappers)), exc)
    return redact(f"{type(cause).__name__}: {cause}")


def _timed_out(exc: BaseException) -> bool:
    """A timeout, and not a broken connection that the SDK's aiohttp adapter reports as an
    httpx2 ConnectTimeout (so as `APITimeoutError`)."""
    chain = list(_causes(exc))
    if any(isinstance(e, TimeoutError) for e in chain):
        return True
    return isinstance(exc, openai.APITimeoutError) and not any(
        isinstance(e, aiohttp.ClientError) for e in chain
    )


def _never_sent(exc: BaseException) -> bool:
    # Judged on the transport's own error: the SDK's aiohttp adapter reports a refused
    # connection as an httpx2 ConnectTimeout, and a connection dropped after sending as one too.
    return any(
        isinstance(e, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | ConnectFailed)
        for e in _causes(exc)
    )


def status_error(
    status: int, headers: Iterable[tuple[str, str]], body: bytes, request: Any
) -> openai.APIStatusError:
    """The exception the SDK raises for this error response (same class, message and body)."""
    response = _http_module().Response(status, headers=list(headers), content=body, request=request)
    message = f"Error code: {status}"
    data: Any = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        data = json.loads(data)
    error = data.get("error", data) if isinstance(data, dict) else data
    text = error.get("message") if isinstance(error, dict) else None
    if isinstance(text, str) and text:
        message += f" - {text}"
    kind = _STATUS_ERRORS.get(status)
    if kind is None:
        kind = openai.InternalServerError if status >= 500 else openai.APIStatusError
    return kind(message, response=response, body=error)


def parse_completion(body: bytes) -> ChatCompletion:
    """A chat completion from a response body; `MalformedResponse` if it is not one.

    A text completion (`/completions`) is read as a chat completion: each choice's text becomes
    its message, and its logprobs the chat form (one entry per token, alternatives listed).
    """
    try:
        return ChatCompletion.model_validate_json(body)  # fast (pydantic-core)
    except pydantic.ValidationError:
        pass
    # Lenient path for servers that bend the schema, as the SDK itself is lenient.
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedResponse(f"the body is not JSON ({exc}): {body[:200]!r}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise MalformedResponse(f"the body is not a chat completion: {body[:200]!r}")
    if data.get("object") == "text_completion":
        return _from_text_completion(data)
    return ChatCompletion.model_construct(**data)  # the SDK's recursive, lenient build


def _from_text_completion(data: dict[str, Any]) -> ChatCompletion:
    choices = []
    for i, choice in enumerate(data["choices"]):
        if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
            raise MalformedResponse(f"a text completion choice without text: {choice!r:.200}")
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens") or []
        values = logprobs.get("token_logprobs") or []
        tops = logprobs.get("top_logprobs") or [None] * len(tokens)
        content = [
            {
                "token": token,
                "logprob": value if value is not None else -9999.0,
                "bytes": None,
                "top_logprobs": [
                    {"token": t, "logprob": v, "bytes": None} for t, v in (top or {}).items()
                ],
            }
            for token, value, top in zip(tokens, values, tops, strict=False)
        ]
        choices.append(
            {
                "index": choice.get("index", i),
                "finish_reason": choice.get("finish_reason") or "stop",
                "message": {"role": "assistant", "content": choice["text"]},
                "logprobs": {"content": content} if tokens else None,
            }
        )
    converted = {
        "id": data.get("id") or "text-completion",
        "object": "chat.completion",
        "created": data.get("created") or 0,
        "model": data.get("model") or "",
        "choices": choices,
        **({"usage": data["usage"]} if isinstance(data.get("usage"), dict) else {}),
    }
    try:
        return ChatCompletion.model_validate(converted)
    except pydantic.ValidationError as exc:
        raise MalformedResponse(f"unreadable text completion: {exc}") from exc


class TeacherClient:
    """Sends single chat-completion attempts to an OpenAI-compatible endpoint."""

    def __init__(self, config: TeacherConfig) -> None:
        self.config = config
        self.base_url = config.require_url().rstrip("/")
        self.model = config.model
        api_key = config.resolve_api_key()
        register_secret(api_key)
        http = _http_module()
        self._connect_timeout = min(config.connect_timeout, config.timeout)
        # Waiting for a pooled connection is the concurrency cap's job, not a failure: pool=None.
        timeout = http.Timeout(config.timeout, connect=self._connect_timeout, pool=None)
        limits = http.Limits(
            max_connections=config.max_concurrency,
            max_keepalive_connections=config.max_concurrency,
            keepalive_expiry=30.0,
        )
        self.openai = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=0,
            timeout=timeout,
            http_client=openai.DefaultAioHttpClient(timeout=timeout, limits=limits),
        )
        plain = self.base_url.startswith("http://") and not proxied(self.base_url)
        self._pool = H1Pool() if config.fast_path and plain else None
        headers = {k: v for k, v in self.openai.default_headers.items() if isinstance(v, str)}
        headers["Authorization"] = f"Bearer {api_key}"
        self._headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        self._chat_url = f"{self.base_url}/chat/completions"
        self._text_url = f"{self.base_url}/completions"
        self.reached = False
        """True once the endpoint answered at all (until then, unreachable is fatal)."""

    # --- sending ---------------------------------------------------------------------------
    @property
    def times_whole_attempt(self) -> bool:
        """Whether `send` itself ends an attempt after `config.timeout` (the HTTP/1.1 pool
        does; the SDK's timeouts bound each read, so the caller adds a total limit)."""
        return self._pool is not None

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of `request`."""
        body: dict[str, Any] = {"model": self.model}
        if request.prompt is not None:
            body["prompt"] = request.prompt
        else:
            body["messages"] = list(request.messages)
        body.update(request.params())
        if self.config.max_tokens_param != "max_tokens" and request.prompt is None:
            body[self.config.max_tokens_param] = body.pop("max_tokens")
        if request.extra_body:
            body.update(request.extra_body)
        return body

    async def send(self, request: ChatRequest) -> tuple[ChatCompletion, bytes]:
        """One attempt: the parsed completion and the raw response body (for the cache).

        Raises the SDK's exceptions (`openai.APIStatusError`, `APIConnectionError`,
        `APITimeoutError`) or `MalformedResponse`; `classify` says what they mean.
        """
        if self._pool is None:
            return await self._send_sdk(request)
        content = json.dumps(self.payload(request), ensure_ascii=False).encode()
        url = self._text_url if request.prompt is not None else self._chat_url
        try:
            status, headers, body = await self._pool.request(
                "POST",
                url,
                self._headers,
                content,
                connect_timeout=self._connect_timeout,
                read_timeout=self.config.timeout,
                deadline=asyncio.get_running_loop().time() + self.config.timeout,
            )
        except ReadTimedOut as exc:
            raise openai.APITimeoutError(request=self._stub(url)) from exc
        except TransportError as exc:
            raise openai.APIConnectionError(message=str(exc), request=self._stub(url)) from exc
        self.reached = True
        if not 200 <= status < 300:
            pairs = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
            raise status_error(status, pairs, body, self._stub(url))
        return parse_completion(body), body

    def _stub(self, url: str) -> Any:
        """An httpx(2) Request for the SDK's exceptions (built only on failures)."""
        return _http_module().Request("POST", url)

    async def _send_sdk(self, request: ChatRequest) -> tuple[ChatCompletion, bytes]:
        payload = self.payload(request)
        known = {"model", "messages", "prompt", *request.params()}
        if self.config.max_tokens_param != "max_tokens" and request.prompt is None:
            known = (known - {"max_tokens"}) | {self.config.max_tokens_param}
        extra = {k: payload.pop(k) for k in list(payload) if k not in known}
        create = (
            self.openai.completions.with_raw_response.create
            if request.prompt is not None
            else self.openai.chat.completions.with_raw_response.create
        )
        try:
            raw = await create(**payload, extra_body=extra or None)
        except aiohttp.ClientError as exc:  # one the SDK's aiohttp adapter does not map
            url = self._text_url if request.prompt is not None else self._chat_url
            raise openai.APIConnectionError(message=str(exc), request=self._stub(url)) from exc
        self.reached = True
        body: bytes = raw.http_response.content
        return parse_completion(body), body

    async def list_models(self, seconds: float = 5.0) -> list[str]:
        """Model ids the endpoint serves ([] when it can't tell)."""
        try:
            page = await self.openai.models.list(timeout=seconds)
        except Exception:  # only used to enrich an error message
            return []
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        await self.openai.close()
        if self._pool is not None:
            await self._pool.aclose()

    async def __aenter__(self) -> TeacherClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- failures ----------------------------------------------------------------------------
    async def classify(self, exc: BaseException) -> AttemptFailed:
        """What a failed attempt means: retry it, fail the item, or stop the run."""
        if isinstance(exc, openai.APIStatusError):
            self.reached = True
            return await self._status_failure(exc)
        if isinstance(
            exc,
            openai.APIResponseValidationError
            | json.JSONDecodeError
            | pydantic.ValidationError
            | MalformedResponse,
        ):
            # A 200 whose body is not a completion: probably billed, and a retry would pay again.
            return AttemptFailed(
                ChatError("malformed", redact(f"unreadable response: {exc}")[:500]),
                retryable=False,
                billing="unknown",
            )
        if not isinstance(exc, openai.APIConnectionError | TimeoutError):
            raise exc
        detail = _cause_detail(exc)
        if _never_sent(exc):
            fatal = None
            if not self.reached:
                fatal = EvokdError(
                    f"cannot reach the teacher at {self.base_url} ({detail})",
                    "start the teacher server or fix teacher.base_url "
                    '(e.g. "http://127.0.0.1:8000/v1"; "embedded" starts the built-in one)',
                )
            return AttemptFailed(
                ChatError("connection", detail), retryable=True, billing="no", fatal=fatal
            )
        if _timed_out(exc):
            return AttemptFailed(
                ChatError("timeout", f"no answer within {self.config.timeout:g}s"),
                retryable=True,
                billing="unknown",
            )
        return AttemptFailed(ChatError("connection", detail), retryable=True, billing="unknown")

    async def _status_failure(self, exc: openai.APIStatusError) -> AttemptFailed:
        status = exc.status_code
        full_message = _error_message(exc)
        message = redact(full_message)[:500]
        code = getattr(exc, "code", None)
        refused = status >= 500 and any(m in full_message.lower() for m in _INVALID_REQUEST_MARKERS)
        retryable = status in _RETRYABLE_STATUS or (status >= 500 and not refused)
        error_kind = "rate_limit" if status == 429 else "server" if retryable else "bad_request"
        error = ChatError(error_kind, message, status)  # type: ignore[arg-type]
        fatal = None
        if status == 401:
            fatal = EvokdError(
                f"the teacher at {self.base_url} rejected the API key (HTTP 401: {message})",
                f"set a valid key in the environment variable {self.config.api_key_env} "
                "or in teacher.api_key"
                if self.config.has_api_key()
                else f"no API key is set: export {self.config.api_key_env}=<your key> "
                "or set teacher.api_key",
            )
        elif status == 403:
            fatal = EvokdError(
                f"the teacher at {self.base_url} denied access to model {self.model!r} "
                f"(HTTP 403: {message})",
                "use a key with access to this model, or choose another teacher.model",
            )
        elif status == 404:
            fatal = await self._not_found(message, code)
        elif status == 429 and code == "insufficient_quota":
            fatal = EvokdError(
                f"the teacher account has no quota left (HTTP 429 insufficient_quota: {message})",
                "add credit or raise the quota of this key, or use another key or endpoint",
            )
        if fatal is not None:
            return AttemptFailed(error, retryable=False, fatal=fatal)
        retry_after = parse_retry_after(exc.response.headers)
        if retryable and retry_after is not None and retry_after > self.config.max_retry_after:
            error = ChatError(
                error.kind,
                f"server asked to retry after {retry_after:g}s, more than teacher.max_retry_after "
                f"({self.config.max_retry_after:g}s): {message}",
                status,
            )
            retryable = False
        return AttemptFailed(error, retryable=retryable, retry_after=retry_after)

    async def _not_found(self, message: str, code: object) -> EvokdError:
        if code == "model_not_found" or "model" in message.lower():
            models = await self.list_models()
            served = f"; the server serves: {', '.join(models[:10])}" if models else ""
            return EvokdError(
                f"model {self.model!r} not found at {self.base_url} (HTTP 404: {message})",
                f"set teacher.model to a model the server serves{served}",
            )
        return EvokdError(
            f"{self.base_url}/chat/completions does not exist (HTTP 404: {message})",
            "point teacher.base_url at the OpenAI-compatible root, which usually ends in /v1",
        )


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    return exc.message
