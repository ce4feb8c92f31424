"""The log event of one teacher request (the generator writes one per request)."""

from __future__ import annotations

from typing import Any

from structlog.typing import FilteringBoundLogger

from evokd_agent.teacher.request import ChatResult


def log_result(
    log: FilteringBoundLogger, result: ChatResult, key: str | None, *, log_content: bool
) -> None:
    """One `teacher.request` event: counts, latency, status; prompts and replies only with
    `log_content`."""
    request = result.request
    usage = result.usage
    error = result.error
    fields: dict[str, Any] = {
        "index": result.index,
        "phase": request.phase,
        "round": request.round,
        "status": "cached" if result.cached else "ok" if error is None else error.kind,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_prompt_tokens": usage.cached_prompt_tokens,
        "reserved": usage.reserved,
        "usage_source": usage.source,
        "latency_ms": round(result.latency * 1000.0, 2),
        "retries": result.retries,
        "cached": result.cached,
        "key": key[:16] if key else None,
    }
    if error is not None:
        fields["http_status"] = error.status
        fields["error"] = error.message
    if log_content:
        if request.prompt is not None:
            fields["prompt"] = request.prompt
        else:
            fields["messages"] = [dict(m) for m in request.messages]
        if result.response is not None:
            fields["response"] = [c.message.model_dump() for c in result.response.choices]
    if error is None or error.kind == "budget":
        log.info("teacher.request", **fields)
    else:
        log.warning("teacher.request", **fields)
