"""Shared helpers for the teacher tests: recorded sleeps, a fake clock, generator factories."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.teacher.cache import ResponseCache
from evokd_agent.teacher.client import TeacherClient
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.journal import RequestJournal
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.request import ChatRequest


class RecordedSleep:
    """An injected sleep that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


class FakeClock:
    """A monotonic clock moved only by its own sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def requests(
    n: int, *, max_tokens: int = 16, prefix: str = "item", **kwargs: Any
) -> list[ChatRequest]:
    return [
        ChatRequest([{"role": "user", "content": f"{prefix} {i}"}], max_tokens=max_tokens, **kwargs)
        for i in range(n)
    ]


@asynccontextmanager
async def generator_for(
    base_url: str,
    *,
    budget: int | None = None,
    cache_dir: Path | None = None,
    sleep: RecordedSleep | None = None,
    ledger: TokenLedger | None = None,
    journal: bool = False,
    **config: Any,
) -> AsyncIterator[ChatGenerator]:
    """A generator on a real `TeacherClient` for `base_url` (fast defaults for tests);
    `journal`: keep the request journal in `cache_dir`, as a run does."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "model": "fake-model",
        "max_concurrency": 8,
        "timeout": 5.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
    }
    settings.update(config)
    client = TeacherClient(TeacherConfig(**settings))
    opened = RequestJournal.open(cache_dir) if journal and cache_dir is not None else None
    try:
        yield ChatGenerator(
            client,
            ledger=ledger if ledger is not None else TokenLedger(budget),
            cache=ResponseCache(cache_dir) if cache_dir is not None else None,
            journal=opened,
            sleep=sleep or RecordedSleep(),
            rng=random.Random(0),
            progress=False,
        )
    finally:
        await client.aclose()
        if opened is not None:
            opened.close()


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()
