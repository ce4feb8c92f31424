"""`evokd teacher check` judges each capability from what the endpoint really returns."""

from __future__ import annotations

from typing import Any

import pytest

from evokd_agent.cli.main import main
from evokd_agent.errors import EvokdError
from evokd_agent.servers.embedded import free_port
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
from evokd_agent.teacher.check import check_endpoint, format_table


def capable(body: dict[str, Any]) -> FakeReply:
    if "prompt" in body:  # /v1/completions: the label scoring probe
        top = {" negative": -0.3, " positive": -1.5, " very": -3.0}
        return FakeReply.text(" negative", logprobs=(FakeTokenLogprob(" negative", -0.3, top),))
    if body.get("tools"):
        return FakeReply.tool_call("get_weather", {"city": "Paris"})
    if body.get("response_format"):
        return FakeReply.text('{"sentiment": "positive"}')
    if body.get("logprobs"):
        lp = (FakeTokenLogprob("positive", -0.2, {"positive": -0.2, "negative": -1.8}),)
        return FakeReply.text("positive", logprobs=lp)
    return FakeReply.text("hello")


def weak(body: dict[str, Any]) -> FakeReply:
    if body.get("tools"):
        return FakeReply.text("It is sunny in Paris.")
    if body.get("response_format"):
        return FakeReply.error(500, "json_schema not supported")
    return FakeReply.text("hello")  # no logprobs either


async def test_capable_endpoint_passes_every_probe() -> None:
    with FakeOpenAIServer(handler=capable) as server:
        model, results = await check_endpoint(server.base_url, None, None)
    assert model == "fake-model"
    assert [(r.name, r.ok) for r in results] == [
        ("chat", True),
        ("tool calls", True),
        ("JSON output", True),
        ("logprobs", True),
        ("completion scoring", True),
    ]
    assert "negative, positive among them" in results[-1].detail
    # The tool probe must send tool_choice="auto": llama.cpp ignores tools without it.
    assert server.requests[1]["tool_choice"] == "auto"


async def test_weak_endpoint_is_reported_not_crashed() -> None:
    with FakeOpenAIServer(handler=weak) as server:
        _, results = await check_endpoint(server.base_url, "fake-model", None)
    by_name = {r.name: r for r in results}
    assert by_name["chat"].ok
    assert not by_name["tool calls"].ok and "text instead" in by_name["tool calls"].detail
    assert not by_name["JSON output"].ok and "HTTP 500" in by_name["JSON output"].detail
    assert not by_name["logprobs"].ok
    assert not by_name["completion scoring"].ok
    assert "without per-token alternatives" in by_name["completion scoring"].detail
    table = format_table(server.base_url, "fake-model", results)
    assert "tool calls" in table and "NO" in table


async def test_unreachable_wrong_key_unknown_model() -> None:
    with pytest.raises(EvokdError, match="cannot reach"):
        await check_endpoint(f"http://127.0.0.1:{free_port()}/v1", None, None, request_timeout=2)
    with FakeOpenAIServer(api_key="secret") as server:
        with pytest.raises(EvokdError, match="401"):
            await check_endpoint(server.base_url, None, "wrong")
        with pytest.raises(EvokdError, match="not served"):
            await check_endpoint(server.base_url, "gpt-9", "secret")


def test_cli_prints_table_and_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(handler=capable) as server:
        assert main(["teacher", "check", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    assert "logprobs" in out and "yes" in out
    code = main(["teacher", "check", "--base-url", f"http://127.0.0.1:{free_port()}/v1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "fix:" in err
