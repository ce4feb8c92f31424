"""Finding JSON inside model replies: weak models wrap it in prose or code fences."""

from __future__ import annotations

import json
import re
from typing import Any

_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)
# Each failed start re-parses the rest of the text: bounded so a long reply full of brackets
# costs milliseconds, not seconds.
_MAX_STARTS = 64


def first_json(text: str | None, *, objects_only: bool = False) -> Any:
    """The first JSON object (or array, unless `objects_only`) in `text`, or None."""
    if not text:
        return None
    cleaned = _FENCE.sub("", text)
    pattern = r"\{" if objects_only else r"[\[{]"
    for tries, match in enumerate(re.finditer(pattern, cleaned)):
        if tries >= _MAX_STARTS:
            break
        try:
            value, _ = _DECODER.raw_decode(cleaned, match.start())
        except json.JSONDecodeError:
            continue
        if objects_only and not isinstance(value, dict):
            continue
        return value
    return None
