"""A request the server refuses as invalid is sent once; an ordinary server error is retried."""

from __future__ import annotations

from typing import Any

import pytest

from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from evokd_agent.teacher.request import ChatRequest
from tests.teacher.conftest import RecordedSleep, generator_for, requests

PATHS = [
    pytest.param({}, id="fast"),
    pytest.param({"fast_path": False}, id="sdk"),
]

# The history the `llm` policy used to send: an assistant tool call with a null content.
OLD_AGENT_HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "You run the distillation."},
    {"role": "user", "content": "Start the run."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "evaluate_student", "arguments": "{}"},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "content": "dev F1 0.51"},
]


@pytest.mark.parametrize("path", PATHS)
async def test_validation_500_is_sent_once_but_ordinary_500_is_retried(
    path: dict[str, Any], sleep: RecordedSleep
) -> None:
    with FakeOpenAIServer(default=FakeReply.error(500, "boom")) as srv:
        async with generator_for(srv.base_url, sleep=sleep, max_retries=2, **path) as gen:
            [refused] = await gen.run([ChatRequest(OLD_AGENT_HISTORY)])
            assert srv.request_count == 1  # the fake server validated and refused it
            assert sleep.waits == []
            [failed] = await gen.run(requests(1))
        assert srv.request_count == 1 + 3  # the ordinary 500: first attempt and 2 retries
    assert refused.error is not None
    assert (refused.error.kind, refused.error.status, refused.retries) == ("bad_request", 500, 0)
    assert "Input should be a valid string" in refused.error.message
    assert "messages.2.content" in refused.error.message
    assert failed.error is not None
    assert (failed.error.kind, failed.error.status, failed.retries) == ("server", 500, 2)


@pytest.mark.parametrize(
    ("status", "message", "attempts"),
    [
        (500, "1 validation error for CreateChatCompletionRequest", 1),
        (500, "messages.2: Input should be 'system'", 1),
        (503, "overloaded", 3),
        (400, "bad request", 1),
        (422, "unprocessable", 1),
        (408, "request timeout", 3),
        (429, "slow down", 3),
    ],
)
async def test_which_statuses_are_retried(
    status: int, message: str, attempts: int, sleep: RecordedSleep
) -> None:
    with FakeOpenAIServer(default=FakeReply.error(status, message)) as srv:
        async with generator_for(srv.base_url, sleep=sleep, max_retries=2) as gen:
            [result] = await gen.run(requests(1))
        assert srv.request_count == attempts
    assert result.error is not None and result.error.status == status
