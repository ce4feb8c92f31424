"""Disk cache of teacher answers, keyed by the full request: a resumed run pays nothing twice.

The key is the sha256 of the canonical JSON of the model, the messages, every generation
parameter, the prompt template version and the sample index (not the base URL, phase or round:
the same request to the same model is the same purchase). Entries are written to a temporary
file and renamed into place, so a crash leaves either the whole entry or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from evokd_agent.teacher.request import ChatRequest

CACHE_FORMAT = 1
"""Bumped when the key recipe or the entry layout changes (old entries are then ignored)."""


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, unicode kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_key(model: str, request: ChatRequest) -> str:
    """Cache key of `request` sent to `model`."""
    payload = {
        "format": CACHE_FORMAT,
        "model": model,
        "messages": [dict(m) for m in request.messages],
        **({"prompt": request.prompt} if request.prompt is not None else {}),
        "params": request.params(),
        "extra_body": dict(request.extra_body) if request.extra_body else None,
        "template_version": request.template_version,
        "sample_index": request.sample_index,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


class ResponseCache:
    """Response bodies by request key: `root/v<format>/<2 hex>/<key>.json`, each file exactly the
    JSON the server sent."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._dir = self.root / f"v{CACHE_FORMAT}"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._made: set[str] = set()
        self.corrupt = 0
        """Entries found unreadable (treated as misses, overwritten by the next success)."""

    def _path(self, key: str) -> Path:
        return self._dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        """The stored response body, or None."""
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError:
            self.corrupt += 1
            return None

    def discard(self, key: str) -> None:
        """Drop an entry found unusable (it will be paid for and stored again)."""
        self.corrupt += 1
        self._path(key).unlink(missing_ok=True)

    def put(self, key: str, body: bytes) -> None:
        """Store a response body atomically (tmp file + rename: never half an entry)."""
        path = self._path(key)
        shard = key[:2]
        if shard not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(shard)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __contains__(self, key: str) -> bool:
        return self._path(key).exists()

    def __len__(self) -> int:
        return sum(1 for _ in self._dir.glob("??/*.json"))
