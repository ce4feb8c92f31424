"""`evokd teacher check`: which features of the OpenAI API an endpoint really supports.

Each probe sends one small request and judges the answer, so a user learns up front whether the
`llm` policy (tool calls), JSON replies, logprob confidences (LLKD) and completion scoring of
labels (`labelling.method: scoring`) will work with their teacher.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageFunctionToolCall

from evokd_agent.errors import EvokdError


@dataclass(frozen=True)
class Capability:
    """Outcome of one probe."""

    name: str
    """What was probed (chat, tool calls, JSON output, logprobs)."""
    ok: bool
    """Whether the endpoint did it properly."""
    detail: str
    """What came back, in a few words."""
    seconds: float
    """Latency of the probe request."""


_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
_SENTIMENT_SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"],
}


async def _create(client: AsyncOpenAI, **params: Any) -> ChatCompletion:
    # Plain dicts for parameters: probes send fields (a schema inside json_object) that the
    # SDK's types don't list but OpenAI-compatible servers accept.
    return cast(ChatCompletion, await client.chat.completions.create(**params))


def _short(text: str | None, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _probe_chat(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    resp = await _create(
        client,
        model=model,
        messages=[{"role": "user", "content": "Reply with one word: hello."}],
        max_tokens=16,
        temperature=0,
    )
    text = resp.choices[0].message.content
    return bool(text and text.strip()), f"replied {_short(text)!r}"


async def _probe_tools(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    resp = await _create(
        client,
        model=model,
        messages=[{"role": "user", "content": "What is the weather in Paris? Use the tool."}],
        tools=[_WEATHER_TOOL],
        tool_choice="auto",  # some servers ignore tools unless this is sent
        max_tokens=64,
        temperature=0,
    )
    calls = resp.choices[0].message.tool_calls or []
    if not calls:
        return False, f"answered with text instead: {_short(resp.choices[0].message.content)!r}"
    call = calls[0]
    if not isinstance(call, ChatCompletionMessageFunctionToolCall):
        return False, f"unexpected tool call type {call.type!r}"
    try:
        args = json.loads(call.function.arguments)
    except json.JSONDecodeError:
        return False, f"arguments are not JSON: {_short(call.function.arguments)!r}"
    fn = call.function.name
    good = fn == "get_weather" and isinstance(args, dict) and isinstance(args.get("city"), str)
    return good, f"called {fn}({_short(json.dumps(args), 40)})"


async def _probe_json(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    resp = await _create(
        client,
        model=model,
        messages=[
            {
                "role": "user",
                "content": 'Classify "I loved this film." Answer as JSON: {"sentiment": ...}',
            }
        ],
        # `json_object` with a schema: llama.cpp turns it into a grammar; OpenAI ignores it.
        response_format={"type": "json_object", "schema": _SENTIMENT_SCHEMA},
        max_tokens=32,
        temperature=0,
    )
    text = resp.choices[0].message.content or ""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False, f"not JSON: {_short(text)!r}"
    return isinstance(value, dict), f"returned {_short(text)}"


async def _probe_logprobs(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    resp = await _create(
        client,
        model=model,
        messages=[{"role": "user", "content": "Is 'I loved this film.' positive or negative?"}],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=5,
    )
    lp = resp.choices[0].logprobs
    content = lp.content if lp is not None else None
    if not content:
        return False, "no logprobs in the reply"
    first = content[0]
    return bool(
        first.top_logprobs
    ), f"{len(content)} tokens, {len(first.top_logprobs)} alternatives"


async def _probe_scoring(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    """`/completions` with per-token alternatives: what `labelling.method: scoring` reads."""
    resp = await client.completions.create(
        model=model,
        prompt="Review: I loved this film.\nSentiment: positive\n\n"
        "Review: A dull, tiresome mess.\nSentiment:",
        max_tokens=1,
        temperature=0,
        logprobs=5,
    )
    choice = resp.choices[0] if resp.choices else None
    tops = choice.logprobs.top_logprobs if choice and choice.logprobs else None
    if not tops or not tops[0]:
        return False, "completions answer, but without per-token alternatives"
    words = {t.strip().lower() for t in tops[0]}
    named = sorted(words & {"positive", "negative"})
    return True, f"{len(tops[0])} alternatives ({', '.join(named) or 'no label word'} among them)"


PROBES: tuple[tuple[str, Callable[[AsyncOpenAI, str], Awaitable[tuple[bool, str]]]], ...] = (
    ("chat", _probe_chat),
    ("tool calls", _probe_tools),
    ("JSON output", _probe_json),
    ("logprobs", _probe_logprobs),
    ("completion scoring", _probe_scoring),
)


async def resolve_model(client: AsyncOpenAI, base_url: str, model: str | None) -> str:
    """The model to probe: the one asked for (it must exist) or the server's first."""
    try:
        models = [m.id async for m in client.models.list()]
    except openai.AuthenticationError:
        raise EvokdError(
            f"the endpoint {base_url} refused the API key (HTTP 401)",
            "set the right key in the environment variable named by --api-key-env",
        ) from None
    except openai.APIConnectionError:
        raise EvokdError(
            f"cannot reach the endpoint {base_url}",
            "check the URL and that the server is running (`evokd teacher serve` starts the "
            "embedded one)",
        ) from None
    except openai.APIStatusError:
        models = []  # some servers have no /models; the probes will tell
    if model is not None:
        if models and model not in models:
            raise EvokdError(
                f"model {model!r} is not served by {base_url} (it serves: {', '.join(models)})",
                "pass one of the served names with --model",
            )
        return model
    if not models:
        raise EvokdError(f"{base_url} lists no models", "name the model to probe with --model")
    return models[0]


async def check_endpoint(
    base_url: str, model: str | None, api_key: str | None, *, request_timeout: float = 120.0
) -> tuple[str, list[Capability]]:
    """Run every probe against the endpoint; return the model probed and the outcomes."""
    client = AsyncOpenAI(
        base_url=base_url, api_key=api_key or "not-needed", max_retries=0, timeout=request_timeout
    )
    async with client:
        model = await resolve_model(client, base_url, model)
        results = []
        for name, probe in PROBES:
            start = time.perf_counter()
            try:
                ok, detail = await probe(client, model)
            except openai.APIStatusError as err:
                ok, detail = False, f"HTTP {err.status_code}: {_short(_error_text(err))}"
            except openai.APITimeoutError:
                ok, detail = False, f"no answer within {request_timeout:g} s"
            except openai.APIError as err:
                ok, detail = False, _short(str(err))
            results.append(Capability(name, ok, detail, time.perf_counter() - start))
        return model, results


def _error_text(err: openai.APIStatusError) -> str:
    body: Any = err.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error", {})
        return str(message.get("message") if isinstance(message, dict) else message)
    return str(err.message)


def format_table(base_url: str, model: str, results: list[Capability]) -> str:
    lines = [f"teacher {model} at {base_url}", ""]
    width = max(len(r.name) for r in results)
    lines.append(f"{'capability'.ljust(width)}  ok   time    detail")
    for r in results:
        mark = "yes" if r.ok else "NO "
        lines.append(f"{r.name.ljust(width)}  {mark}  {r.seconds:5.1f}s  {r.detail}")
    return "\n".join(lines)
