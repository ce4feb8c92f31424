"""Secrets out of every file a run writes: config copies lose keys, tokens and URL passwords.

Three nets, because a key can sit anywhere a user pastes it: values of fields named like
credentials (`api_key`, `authorization`, `password`, anything under `headers`, ...), strings
shaped like keys (`sk-...`, `Bearer ...`, `https://user:password@host`), and the exact values
the run knows are secret (the teacher's key, inline or from its environment variable).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evokd_agent.config.yaml_file import parse_config_file
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.textfiles import read_utf8

REDACTED = "[redacted]"
MIN_SECRET_LEN = 6
"""Shortest known value masked in text: shorter ones would mask ordinary words."""
MIN_KEY_LEN = 16
"""Shortest known value masked in config.yaml, which a resumed run reads back: a local server's
placeholder key ("ollama", "not-needed") may also be part of its URL or model name."""
_SENSITIVE = re.compile(
    r"(api[_-]?key|apikey|authorization|password|passwd|secret|token|bearer|credentials?)$",
    re.IGNORECASE,
)
_NOT_SENSITIVE = frozenset({"api_key_env"})  # the variable's name, not its value
_USER_KEYED = frozenset({"label_descriptions"})
# Key shapes need a digit and 16+ characters: prose ("basic emotion", "sk-learn-compatible")
# must survive, since config.yaml is what a resumed run reads its prompts' inputs from.
_TOKEN = r"(?=[A-Za-z0-9._~+/=\-]*[0-9])[A-Za-z0-9._~+/=\-]{16,}"
_SHAPES = (
    # OpenAI-style and similar provider keys (sk-, sk-proj-, ...), Hugging Face tokens.
    re.compile(r"(?<![A-Za-z0-9])(?:sk|rk|pk)-(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?<![A-Za-z0-9])hf_(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{16,}"),
)
_BEARER = re.compile(rf"(?i)\b(bearer|basic)(\s+){_TOKEN}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+@")


def is_sensitive(key: object) -> bool:
    """Whether a field named `key` holds a credential (`teacher.api_key`, `Authorization`...)."""
    return isinstance(key, str) and key not in _NOT_SENSITIVE and bool(_SENSITIVE.search(key))


def _below(key: object, secret: bool, names: bool) -> tuple[bool, bool]:
    """(secret, names) for the value under `key`: secret once a credential field or a
    `*headers` map is entered; `names` False where keys are user data (label names), which
    may well read `password` in a PII task and must not mask their descriptions."""
    named = names and isinstance(key, str)
    credential = named and (is_sensitive(key) or str(key).lower().endswith("headers"))
    return secret or credential, names and key not in _USER_KEYED


def known_secrets(teacher: TeacherConfig) -> list[str]:
    """The teacher's key values this process can see: inline and from its environment variable."""
    inline = teacher.api_key.get_secret_value() if teacher.api_key is not None else None
    return [v for v in (inline, os.environ.get(teacher.api_key_env)) if v]


def secret_values(data: Any) -> list[str]:
    """Every string of `data` (parsed YAML/TOML) held by a credential field or a `headers` map."""
    found: list[str] = []

    def walk(value: Any, secret: bool, names: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, *_below(key, secret, names))
        elif isinstance(value, list):
            for item in value:
                walk(item, secret, names)
        elif secret and isinstance(value, str) and value:
            found.append(value)

    walk(data, False, True)
    return found


def redact_text(text: str, known: Iterable[str] = (), min_len: int = MIN_SECRET_LEN) -> str:
    """`text` with the `known` secret values (of `min_len` or more characters) and anything
    shaped like a key replaced."""
    for value in sorted(set(known), key=len, reverse=True):
        if len(value) >= min_len:
            text = text.replace(value, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(REDACTED, text)
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)


def redact_data(data: Any, known: Iterable[str] = (), min_len: int = MIN_SECRET_LEN) -> Any:
    """A copy of `data` with credential fields, `headers` values and key-shaped strings masked."""
    known = list(known)

    def walk(value: Any, secret: bool, names: bool) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, *_below(key, secret, names)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, secret, names) for item in value]
        if isinstance(value, str):
            return REDACTED if secret and value else redact_text(value, known, min_len)
        return value

    return walk(data, False, True)


def redacted_source(source: Path, known: Iterable[str] = ()) -> str:
    """The text of config file `source`, comments kept, with every secret in it masked."""
    text = read_utf8(source)
    return redact_text(text, [*known, *secret_values(parse_config_file(source))])
