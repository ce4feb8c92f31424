"""The disk cache: what the key covers, atomic entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from evokd_agent.teacher.cache import ResponseCache, request_key
from evokd_agent.teacher.request import ChatRequest

BASE = ChatRequest([{"role": "user", "content": "hi"}], max_tokens=10, temperature=0.7)


def _with(**changes: object) -> ChatRequest:
    fields = {**BASE.__dict__, **changes}
    return ChatRequest(**fields)


def test_key_covers_everything_that_changes_the_answer() -> None:
    key = request_key("m", BASE)
    assert key == request_key("m", _with())  # deterministic
    assert key == request_key("m", _with(messages=[{"content": "hi", "role": "user"}]))
    for other in [
        request_key("other-model", BASE),
        request_key("m", _with(messages=[{"role": "user", "content": "hi!"}])),
        request_key("m", _with(max_tokens=11)),
        request_key("m", _with(temperature=0.0)),
        request_key("m", _with(seed=1)),
        request_key("m", _with(logprobs=True, top_logprobs=5)),
        request_key("m", _with(tools=[{"type": "function", "function": {"name": "f"}}])),
        request_key("m", _with(response_format={"type": "json_object"})),
        request_key("m", _with(template_version="v2")),
        request_key("m", _with(sample_index=1)),
        request_key("m", _with(extra_body={"top_k": 5})),
    ]:
        assert other != key


def test_key_ignores_spend_attribution() -> None:
    assert request_key("m", BASE) == request_key("m", _with(phase="labelling", round=4))


def test_put_get_roundtrip_is_atomic(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    key = request_key("m", BASE)
    assert cache.get(key) is None and key not in cache
    cache.put(key, b'{"choices": []}')
    assert cache.get(key) == b'{"choices": []}'
    assert key in cache and len(cache) == 1
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind


def test_failed_write_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ResponseCache(tmp_path)
    key = request_key("m", BASE)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError):
        cache.put(key, b"{}")
    assert cache.get(key) is None
    assert not list(tmp_path.rglob(".tmp-*"))
