"""Async teacher client over the `openai` SDK: one attempt per call, failures classified.

SDK retries are off (`max_retries=0`): the generator applies our single retry policy. The key is
registered with the log redactor and never logged.

Hot path (`fast_path`, default): the JSON body is built here and posted on `transport.H1Pool`
(a lean HTTP/1.1 keep-alive pool) with the SDK's default headers; error statuses become the
SDK's own exceptions through the SDK's status mapping. This skips the SDK's per-request
parameter transform and httpcore/anyio, together ~2 ms of CPU per request at 64 in flight when
the rest of the client costs ~0.2 ms. Behind a proxy, or with `fast_transport=False`, the body
goes through the SDK's HTTP client instead. `fast_path=False` calls `chat.completions.create`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openai
import pydantic
from openai.types.chat import ChatCompletion

from evokd_agent.errors import EvokdError
from evokd_agent.logs import redact, register_secret
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.request import ChatError, ChatRequest
from evokd_agent.teacher.retry import AttemptFailed, parse_retry_after
from evokd_agent.teacher.transport import (
    H1Pool,
    ReadTimedOut,
    TransportError,
    make_transport,
    proxied,
)

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# llama-cpp-python answers a request that fails its pydantic validation with HTTP 500; sending
# the same body again fails the same way, so such a 500 is not retried.
_INVALID_REQUEST_MARKERS = ("validation error", "input should be")
# Raised by httpx / httpx2 (whichever the SDK version uses) when no connection could be opened.
_NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "ConnectFailed"})


class MalformedResponse(ValueError):
    """The server answered 200 with a body that is not a chat completion."""


def _http_module() -> Any:
    """The HTTP library of this openai SDK version (httpx for 1.x, httpx2 for later ones)."""
    for base in openai.DefaultAsyncHttpxClient.__mro__:
        if base.__name__ == "AsyncClient":
            return sys.modules[base.__module__.split(".")[0]]
    raise RuntimeError("cannot find the openai SDK's HTTP client library")  # pragma: no cover


def _never_sent(exc: BaseException | None) -> bool:
    return exc is not None and any(c.__name__ in _NOT_SENT for c in type(exc).__mro__)


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
    return ChatCompletion.construct(**data)


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
        http = self._httplib = _http_module()
        # Waiting for a pooled connection is the concurrency cap's job, not a failure: pool=None.
        timeout = http.Timeout(
            config.timeout, connect=min(config.connect_timeout, config.timeout), pool=None
        )
        self._pool: H1Pool | None = None
        pool: dict[str, Any] = {
            "limits": http.Limits(
                max_connections=config.max_concurrency,
                max_keepalive_connections=config.max_concurrency,
                keepalive_expiry=30.0,
            )
        }
        # Plain-HTTP servers (vLLM, llama.cpp, Ollama on a LAN) are where request rates are high
        # enough for client overhead to matter; TLS endpoints keep the SDK's httpx stack.
        if (
            config.fast_transport
            and self.base_url.startswith("http://")
            and not proxied(self.base_url)
        ):
            self._pool = H1Pool()
            pool = {"transport": make_transport(http, self._pool)}
        self._http = openai.DefaultAsyncHttpxClient(timeout=timeout, **pool)
        self.openai = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=0,
            timeout=timeout,
            http_client=self._http,
        )
        self._chat_url = f"{self.base_url}/chat/completions"
        self._text_url = f"{self.base_url}/completions"
        headers = {k: v for k, v in self.openai.default_headers.items() if isinstance(v, str)}
        headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        self.reached = False
        """True once the endpoint answered at all (until then, unreachable is fatal)."""

    # --- sending ---------------------------------------------------------------------------
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
        if not self.config.fast_path:
            return await self._send_sdk(request)
        content = json.dumps(self.payload(request), ensure_ascii=False).encode()
        url = self._text_url if request.prompt is not None else self._chat_url
        if self._pool is None:
            return await self._send_httpx(content, url)
        try:
            status, headers, body = await self._pool.request(
                "POST",
                url,
                self._raw_headers,
                content,
                connect_timeout=min(self.config.connect_timeout, self.config.timeout),
                read_timeout=self.config.timeout,
            )
        except ReadTimedOut as exc:
            raise openai.APITimeoutError(request=self._request_stub()) from exc
        except TransportError as exc:
            raise openai.APIConnectionError(message=str(exc), request=self._request_stub()) from exc
        self.reached = True
        if not 200 <= status < 300:
            http = self._httplib
            response = http.Response(status, headers=headers, content=body)
            response.request = self._request_stub()
            raise self._status_error(response)
        return parse_completion(body), body

    async def _send_httpx(self, content: bytes, url: str) -> tuple[ChatCompletion, bytes]:
        http = self._httplib
        try:
            response = await self._http.post(url, content=content, headers=self._headers)
        except http.TimeoutException as exc:
            raise openai.APITimeoutError(request=exc.request) from exc
        except http.RequestError as exc:
            raise openai.APIConnectionError(request=exc.request) from exc
        self.reached = True
        if not response.is_success:
            raise self._status_error(response)
        body: bytes = response.content
        return parse_completion(body), body

    def _request_stub(self) -> Any:
        """An httpx(2) Request for the SDK's exceptions (built only on failures)."""
        return self._httplib.Request("POST", self._chat_url)

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
        raw = await create(**payload, extra_body=extra or None)
        self.reached = True
        body: bytes = raw.http_response.content
        return parse_completion(body), body

    def _status_error(self, response: Any) -> openai.APIStatusError:
        make = getattr(self.openai, "_make_status_error_from_response", None)
        if make is not None:  # the SDK's own mapping (401 -> AuthenticationError, ...)
            error: openai.APIStatusError = make(response)
            return error
        return openai.APIStatusError(  # pragma: no cover - SDKs without that helper
            f"Error code: {response.status_code}", response=response, body=None
        )

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
        if isinstance(exc, openai.APITimeoutError | TimeoutError):
            return AttemptFailed(
                ChatError("timeout", f"no answer within {self.config.timeout:g}s"),
                retryable=True,
                billing="unknown",
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            detail = redact(f"{type(cause).__name__}: {cause}" if cause else str(exc))
            never_sent = _never_sent(cause)
            fatal = None
            if never_sent and not self.reached:
                fatal = EvokdError(
                    f"cannot reach the teacher at {self.base_url} ({detail})",
                    "start the teacher server or fix teacher.base_url "
                    '(e.g. "http://127.0.0.1:8000/v1"; "embedded" starts the built-in one)',
                )
            return AttemptFailed(
                ChatError("connection", detail),
                retryable=True,
                billing="no" if never_sent else "unknown",
                fatal=fatal,
            )
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
        raise exc

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
