"""The teacher side: client, concurrent generator, token ledger, cache (see generator.py).

Names are imported lazily, so `import evokd_agent.servers.embedded` does not load the SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evokd_agent.teacher.cache import ResponseCache
    from evokd_agent.teacher.client import TeacherClient
    from evokd_agent.teacher.config import TeacherConfig
    from evokd_agent.teacher.generator import ChatGenerator
    from evokd_agent.teacher.ledger import (
        BudgetStatus,
        BudgetTooSmall,
        TokenLedger,
    )
    from evokd_agent.teacher.ratelimit import RateLimiter
    from evokd_agent.teacher.request import ChatError, ChatRequest, ChatResult, Phase, Usage
    from evokd_agent.teacher.tokens import TokenCounter

_EXPORTS = {
    "ResponseCache": "cache",
    "TeacherClient": "client",
    "TeacherConfig": "config",
    "ChatGenerator": "generator",
    "BudgetStatus": "ledger",
    "BudgetTooSmall": "ledger",
    "TokenLedger": "ledger",
    "RateLimiter": "ratelimit",
    "ChatError": "request",
    "ChatRequest": "request",
    "ChatResult": "request",
    "Phase": "request",
    "Usage": "request",
    "TokenCounter": "tokens",
}

__all__ = [
    "BudgetStatus",
    "BudgetTooSmall",
    "ChatError",
    "ChatGenerator",
    "ChatRequest",
    "ChatResult",
    "Phase",
    "RateLimiter",
    "ResponseCache",
    "TeacherClient",
    "TeacherConfig",
    "TokenCounter",
    "TokenLedger",
    "Usage",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
