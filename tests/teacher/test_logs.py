"""Structured request logs: one JSON line per request, and never the API key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from evokd_agent.errors import EvokdError
from evokd_agent.logs import configure_logging, get_logger, register_secret
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.config import TeacherConfig
from tests.teacher.conftest import generator_for, requests

SECRET = "sk-test-SECRET-4242424242"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = configure_logging(tmp_path / "run")
    assert path is not None
    yield path
    configure_logging(None)
    structlog.reset_defaults()


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_every_request_is_one_json_line(log_file: Path) -> None:
    script = [FakeReply.error(500), FakeReply.text("a", usage=(7, 1)), FakeReply.error(400, "no")]
    with FakeOpenAIServer(script) as srv:
        async with generator_for(srv.base_url, max_concurrency=1, budget=10**5) as gen:
            await gen.run(requests(2, phase="generation", round=3))
    events = _events(log_file)
    done = [e for e in events if e["event"] == "teacher.request"]
    assert [e["status"] for e in done] == ["ok", "bad_request"]
    first = done[0]
    assert first["phase"] == "generation" and first["round"] == 3
    assert first["retries"] == 1 and first["cached"] is False
    assert isinstance(first["latency_ms"], float)
    assert (first["prompt_tokens"], first["completion_tokens"]) == (7, 1)
    assert first["reserved"] and first["timestamp"] and first["level"] == "info"
    assert "messages" not in first  # content stays out unless asked for
    assert any(e["event"] == "teacher.retry" for e in events)
    assert events[-1]["event"] == "teacher.batch"


async def test_api_key_never_reaches_the_log(log_file: Path) -> None:
    leaky = requests(1, prefix=f"my key is {SECRET}")
    with FakeOpenAIServer(api_key=SECRET) as srv:
        async with generator_for(srv.base_url, api_key=SecretStr(SECRET), log_content=True) as gen:
            results = await gen.run(leaky + requests(3))
            assert all(r.ok for r in results)
            assert SECRET not in repr(gen.config) and SECRET not in str(gen.config.model_dump())
        async with generator_for(srv.base_url, api_key=SecretStr(SECRET + "x")) as bad:
            with pytest.raises(EvokdError) as caught:
                await bad.run(requests(1))
    text = log_file.read_text()
    assert SECRET not in text
    assert SECRET not in str(caught.value)
    assert "my key is [redacted]" in text  # content logging was on, the key was masked
    log = get_logger("test")
    log.info("oops", api_key="abc", Authorization="Bearer abc")
    last = _events(log_file)[-1]
    assert last["api_key"] == "[redacted]" and last["Authorization"] == "[redacted]"


def test_short_or_placeholder_values_are_not_treated_as_secrets(log_file: Path) -> None:
    register_secret("EMPTY")
    TeacherConfig(base_url="http://127.0.0.1:1/v1")
    get_logger("test").info("status", note="EMPTY queue")
    assert _events(log_file)[-1]["note"] == "EMPTY queue"
