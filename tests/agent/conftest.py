"""Shared fixtures of the agent tests."""

from __future__ import annotations

import pytest

from evokd_agent.agent import ToolRegistry
from tests.agent.sample_tools import Recorder


@pytest.fixture
def registry() -> ToolRegistry[Recorder]:
    """The sample tools (`tests/agent/sample_tools.py`), loaded as a module."""
    registry: ToolRegistry[Recorder] = ToolRegistry()
    registry.load_module("tests.agent.sample_tools")
    return registry
