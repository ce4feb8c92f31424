"""What the generator is asked to send (`ChatRequest`) and what it hands back (`ChatResult`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.chat import ChatCompletion

Phase = Literal["analysis", "generation", "labelling", "agent", "other"]
"""What a request is for; the ledger attributes spend to it."""

ErrorKind = Literal[
    "rate_limit",  # 429 still after all retries, or a Retry-After longer than allowed
    "server",  # 5xx / 408 / 409 still after all retries
    "timeout",  # no answer within `timeout`, on every attempt
    "connection",  # connection dropped, on every attempt
    "bad_request",  # refused as invalid (400, 413, 422..., or a validation 500): not retried
    "malformed",  # the server answered 200 with a body that is not a chat completion
    "budget",  # not sent: the token budget could not cover its worst case
    "other",
]


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to send. Everything but `phase` and `round` is part of the cache key."""

    messages: Sequence[Mapping[str, Any]]
    """OpenAI chat messages."""
    max_tokens: int = 256
    """Completion limit; the ledger reserves prompt + max_tokens (x n) before sending."""
    temperature: float = 0.0
    """Sampling temperature."""
    tools: Sequence[Mapping[str, Any]] | None = None
    """OpenAI tool (function) schemas."""
    tool_choice: str | Mapping[str, Any] | None = None
    """Tool choice; defaults to "auto" when tools are given (llama.cpp ignores tools otherwise)."""
    response_format: Mapping[str, Any] | None = None
    """E.g. {"type": "json_object"} (optionally with a "schema")."""
    logprobs: bool = False
    """Ask for per-token logprobs."""
    top_logprobs: int | None = None
    """How many alternatives per token with `logprobs`."""
    n: int = 1
    """Choices per request."""
    seed: int | None = None
    """Sampling seed, passed through."""
    phase: Phase = "other"
    """Spend attribution; not part of the cache key."""
    round: int = 0
    """Spend attribution (distillation round); not part of the cache key."""
    template_version: str = ""
    """Version of the prompt template that built `messages`; changing it invalidates the cache."""
    sample_index: int = 0
    """Distinguishes k samples of the same prompt (k cache entries instead of one)."""
    extra_body: Mapping[str, Any] | None = None
    """Server-specific fields merged into the request body (e.g. vLLM's guided_json)."""
    prompt: str | None = None
    """Plain-text prompt: sent to `/completions` (no `messages`, tools or response format); the
    reply is read as a chat completion whose message is the completed text (see
    `client.parse_completion`)."""

    def params(self) -> dict[str, Any]:
        """Generation parameters as sent (without model and messages), None values dropped."""
        out: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.prompt is not None:
            # The completions API asks for logprobs as a count of alternatives per token.
            if self.logprobs:
                out["logprobs"] = self.top_logprobs or 1
            if self.n != 1:
                out["n"] = self.n
            if self.seed is not None:
                out["seed"] = self.seed
            return out
        if self.tools:
            out["tools"] = [dict(t) for t in self.tools]
            out["tool_choice"] = self.tool_choice if self.tool_choice is not None else "auto"
        elif self.tool_choice is not None:
            out["tool_choice"] = self.tool_choice
        if self.response_format is not None:
            out["response_format"] = dict(self.response_format)
        if self.logprobs:
            out["logprobs"] = True
            if self.top_logprobs is not None:
                out["top_logprobs"] = self.top_logprobs
        if self.n != 1:
            out["n"] = self.n
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class Usage:
    """Tokens one request cost (or, for a cache hit, would have cost)."""

    prompt_tokens: int = 0
    """Prompt tokens, cached ones included."""
    completion_tokens: int = 0
    """Completion tokens."""
    reserved: int = 0
    """Worst case reserved before sending (0 for cache hits)."""
    source: Literal["server", "estimate", "cache", "none"] = "none"
    """Where the counts come from: the server's `usage`, a local tiktoken count, the cache."""
    cached_prompt_tokens: int = 0
    """Share of `prompt_tokens` the server served from its prefix cache
    (`usage.prompt_tokens_details.cached_tokens`); 0 when it does not say."""

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatError:
    """Why one request has no response."""

    kind: ErrorKind
    message: str
    status: int | None = None
    """HTTP status of the last attempt, when there was one."""

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.kind}{status}: {self.message}"


@dataclass(frozen=True)
class ChatResult:
    """Outcome of one request: a response or an error, never both."""

    index: int
    """Position of the request in the submitted batch."""
    request: ChatRequest
    response: ChatCompletion | None = None
    error: ChatError | None = None
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    """Answered from the disk cache: no tokens spent."""
    retries: int = 0
    """Attempts after the first one."""
    latency: float = 0.0
    """Seconds from first attempt to outcome (excluding time queued behind the concurrency cap)."""

    @property
    def ok(self) -> bool:
        return self.response is not None

    @property
    def text(self) -> str | None:
        """Content of the first choice, or None (error, or a tool-call-only answer)."""
        if self.response is None or not self.response.choices:
            return None
        return self.response.choices[0].message.content


def cached_prompt_tokens(completion: ChatCompletion) -> int:
    """Prompt tokens the server says it served from its prefix cache
    (`usage.prompt_tokens_details.cached_tokens`, as OpenAI and vLLM report them); 0 when the
    field is absent, null or not a count. Never more than the prompt tokens."""
    usage = completion.usage
    details = getattr(usage, "prompt_tokens_details", None)
    # A body read leniently (`parse_completion`) may keep the details as a plain dict.
    value = details.get("cached_tokens") if isinstance(details, dict) else None
    if value is None:
        value = getattr(details, "cached_tokens", None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    prompt = getattr(usage, "prompt_tokens", None)
    limit = int(prompt) if isinstance(prompt, int | float) else 0
    return max(0, min(int(value), limit))
