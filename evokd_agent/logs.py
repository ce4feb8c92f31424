"""Structured JSON-lines event log (structlog) in the run directory, with secrets redacted.

Every event is one JSON object per line: timestamp, level, component, event name and fields. API
keys never reach the file: fields named like credentials are masked, and any string containing a
registered secret (the teacher client registers its key) has it replaced. Prompts and completions
are only logged by callers when the user asks for it (`TeacherConfig.log_content`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import FilteringBoundLogger

EVENTS_FILE = "events.jsonl"
"""Name of the event log inside a run directory."""

REDACTED = "[redacted]"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_SENSITIVE_KEYS = frozenset(
    {"api_key", "apikey", "authorization", "password", "secret", "token_value", "bearer"}
)
_MIN_SECRET_LEN = 6  # shorter strings would mask ordinary words
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_open_file: TextIO | None = None


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in a logged string from now on."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(k) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _is_sensitive(key: object) -> bool:
    return isinstance(key, str) and key.lower() in _SENSITIVE_KEYS


# Exact spellings checked with one C-level set intersection per event (the common case).
_SENSITIVE_SPELLINGS = frozenset(
    v for k in _SENSITIVE_KEYS for v in (k, k.upper(), k.title(), k.capitalize())
)


def redact_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor masking credential fields and registered secrets."""
    for key in _SENSITIVE_SPELLINGS.intersection(event_dict):
        event_dict[key] = REDACTED
    if _secrets:
        for key, value in event_dict.items():
            if _is_sensitive(key):
                event_dict[key] = REDACTED
            elif isinstance(value, str | dict | list | tuple):
                event_dict[key] = _redact_value(value)
    return event_dict


def configure_logging(path: str | os.PathLike[str] | None, *, level: str = "info") -> Path | None:
    """Send structlog events, as JSON lines, to `path` (a run directory or a .jsonl file).

    `path=None` discards events (library use without a run directory). Returns the log file.
    """
    global _open_file
    if _open_file is not None:
        _open_file.close()
        _open_file = None
    file: Path | None = None
    if path is not None:
        file = Path(path)
        if file.suffix != ".jsonl":
            file = file / EVENTS_FILE
        file.parent.mkdir(parents=True, exist_ok=True)
        _open_file = open(file, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the config
        factory: Any = structlog.WriteLoggerFactory(file=_open_file)
    else:
        factory = structlog.ReturnLoggerFactory()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # before redaction: tracebacks are text too
            redact_processor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level.lower()]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    return file


def get_logger(name: str) -> FilteringBoundLogger:
    """A structlog logger carrying `component=name`; it follows later `configure_logging` calls."""
    logger: FilteringBoundLogger = structlog.get_logger(component=name)
    return logger


def silent_logger() -> FilteringBoundLogger:
    """A logger that drops every event (the cost estimate's rehearsal is not the run)."""
    logger: FilteringBoundLogger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[_drop],
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
    )
    return logger


def _drop(logger: object, method: str, event: MutableMapping[str, Any]) -> Any:
    raise structlog.DropEvent
