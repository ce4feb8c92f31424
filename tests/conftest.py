"""Shared fixtures: a fake OpenAI-compatible server on loopback, tiny students, one torch thread."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from evokd_agent.servers.fake import FakeOpenAIServer
from tests.tiny_models import build_tiny_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tiny models gain nothing from threads, and idle OpenMP threads spin on a shared machine."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT with the packaged MiniLM tokenizer, saved to disk."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
