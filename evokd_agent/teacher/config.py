"""Teacher endpoint settings: where to send chat requests, how fast, and how to retry."""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.prices import Prices
from evokd_agent.teacher.simulated_config import SIMULATED, SimulatedTeacherConfig

EMBEDDED = "embedded"
"""`base_url` value that asks the framework to start the embedded llama.cpp teacher."""

# OpenAI-compatible local servers (vLLM, llama.cpp, Ollama) accept any key; the SDK needs one.
_PLACEHOLDER_KEY = "EMPTY"


class TeacherConfig(BaseModel):
    """Connection, concurrency, rate-limit and retry settings of the teacher endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = EMBEDDED
    """OpenAI-compatible root URL (usually ending in /v1), "embedded" for the offline teacher, or
    "simulated" for the corpus-backed SIMULATED teacher (not an LLM; see `simulated`)."""
    model: str = "smollm2-135m-instruct"
    """Model name sent with every request."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (read when `api_key` is not set)."""
    api_key: SecretStr | None = None
    """API key given directly; never logged. Overrides `api_key_env`."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds one attempt may take in total before it is abandoned and retried."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a TCP connection to the endpoint."""
    max_concurrency: int = Field(default=16, ge=1, le=4096)
    """Most requests in flight at once."""
    requests_per_minute: float | None = Field(default=None, gt=0)
    """Request rate limit (asyncio-throttle); None for no limit."""
    tokens_per_minute: float | None = Field(default=None, gt=0)
    """Token rate limit, counted on each request's worst case (prompt + max_tokens); None: none."""
    rate_burst_seconds: float = Field(default=10.0, gt=0)
    """Burst the rate limits allow, in seconds' worth of the per-minute rate: the token bucket's
    capacity, and the requests let through in any window of that length."""
    max_retries: int = Field(default=6, ge=0, le=100)
    """Retries per request after the first attempt (429, 5xx, timeouts, dropped connections)."""
    backoff_initial: float = Field(default=1.0, ge=0)
    """Backoff before the first retry, in seconds (doubled each retry, with jitter)."""
    backoff_max: float = Field(default=60.0, ge=0)
    """Longest backoff between two attempts, in seconds (a longer Retry-After still wins)."""
    backoff_multiplier: float = Field(default=2.0, ge=1.0)
    """Growth factor of the backoff per retry."""
    max_retry_after: float = Field(default=300.0, ge=0)
    """A Retry-After longer than this many seconds fails the request instead of waiting."""
    outage_failures: int = Field(default=8, ge=1)
    """Requests given up in a row (after every retry: server errors, timeouts, dropped
    connections, malformed replies, 429s) that mean the teacher is down: the run stops with exit
    code 3 and `--resume` continues it once the teacher is back."""
    outage_seconds: float = Field(default=900.0, gt=0)
    """Seconds spent trying requests that were all given up, with no answer in between (time
    between requests, such as student training, does not count), that also mean the teacher is
    down."""
    prompt_margin: float = Field(default=0.1, ge=0)
    """Safety margin added to the local prompt-token estimate when reserving budget (0.1 = 10%)."""
    encoding: str = "cl100k_base"
    """tiktoken encoding used to count prompt tokens locally (shipped offline)."""
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """Field carrying the completion limit (newer OpenAI models want max_completion_tokens)."""
    fast_path: bool = True
    """Post requests to plain-HTTP endpoints (no proxy) on the lean HTTP/1.1 pool; False, and for
    https or proxied endpoints: the SDK's `create` on aiohttp (several ms more client CPU per
    request, which only matters at the request rates of local servers)."""
    prices: Prices | None = None
    """US dollars per million tokens (prompt, cached_prompt, completion) for this teacher;
    None: the model's entry in the price table (README "Cost in dollars")."""
    log_content: bool = False
    """Also log prompts and completions (off: logs carry only counts, latencies and statuses)."""
    simulated: SimulatedTeacherConfig | None = None
    """Settings of the simulated teacher; required with, and only with, base_url "simulated"."""

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any) -> Any:
        # Configs saved before the SDK moved to aiohttp carry `fast_transport` (the pool or
        # httpx2 under the SDK's client); it has no meaning left, so resuming them ignores it.
        if isinstance(data, dict) and "fast_transport" in data:
            data = {k: v for k, v in data.items() if k != "fast_transport"}
        return data

    @model_validator(mode="after")
    def _check_url(self) -> TeacherConfig:
        if (self.base_url == SIMULATED) != (self.simulated is not None):
            raise ValueError(
                'teacher.base_url "simulated" and a teacher.simulated block (corpus, noise, ...) '
                "go together: set both or neither"
            )
        if self.base_url not in (EMBEDDED, SIMULATED):
            parsed = urlparse(self.base_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError(
                    f"teacher.base_url {self.base_url!r} is not an http(s) URL "
                    '(e.g. "http://127.0.0.1:8000/v1") nor "embedded" nor "simulated"'
                )
        return self

    @property
    def is_embedded(self) -> bool:
        """True when the framework must start the embedded teacher and substitute its URL."""
        return self.base_url == EMBEDDED

    @property
    def is_simulated(self) -> bool:
        """True when the framework must start the simulated teacher and substitute its URL."""
        return self.base_url == SIMULATED

    def resolve_api_key(self) -> str:
        """The key to send: `api_key`, else the env variable, else a keyless placeholder."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        return os.environ.get(self.api_key_env) or _PLACEHOLDER_KEY

    def has_api_key(self) -> bool:
        """Whether a real key (not the keyless placeholder) is configured."""
        return self.resolve_api_key() != _PLACEHOLDER_KEY

    def require_url(self) -> str:
        """The concrete base URL; "embedded" must have been replaced by the caller first."""
        if self.is_embedded:
            raise EvokdError(
                'teacher.base_url is "embedded" but no embedded teacher was started',
                "start it with evokd_agent.servers.embedded and pass its base_url "
                "(config.model_copy(update={'base_url': url}))",
            )
        if self.is_simulated:
            raise EvokdError(
                'teacher.base_url is "simulated" but no simulated teacher was started',
                "start evokd_agent.servers.simulated.SimulatedTeacher and pass its base_url",
            )
        return self.base_url
