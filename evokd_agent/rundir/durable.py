"""Crash-safe files: fsync'd JSON-lines appends, torn-tail repair, atomic JSON replacement.

A crash (or Ctrl-C, or a full disk) can cut the last line of an append-only file in half. Readers
skip such a line with a warning; `repair_tail` moves it aside before appending again, so the next
record never glues onto half of the previous one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evokd_agent.errors import EvokdError

TORN_SUFFIX = ".torn"
"""Suffix of the file that keeps the bytes of a torn last line (appended to the file name)."""


def dumps_line(obj: Mapping[str, Any]) -> str:
    """One JSON line (no newline inside, unicode kept)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def append_lines(path: Path, objs: Iterable[Mapping[str, Any]]) -> int:
    """Append one JSON line per object with a single write and fsync; returns the count."""
    lines = [dumps_line(o) + "\n" for o in objs]
    if not lines:
        return 0
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(lines))
        f.flush()
        os.fsync(f.fileno())
    return len(lines)


def repair_tail(path: Path) -> str | None:
    """Make `path` end at a line boundary; returns the torn text moved aside, if any.

    A complete JSON object missing only its newline is kept (the newline is added).
    """
    if not path.is_file():
        return None
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return None
        # The tail is at most one record long, so reading back in blocks is cheap.
        start = size
        while start > 0:
            step = min(start, 65536)
            f.seek(start - step)
            block = f.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                start = start - step + cut + 1
                break
            start -= step
        f.seek(start)
        tail = f.read()
        if _is_json_object(tail):
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
            return None
        with path.with_name(path.name + TORN_SUFFIX).open("ab") as torn:
            torn.write(tail + b"\n")
        f.truncate(start)
        f.flush()
        os.fsync(f.fileno())
    text = tail.decode("utf-8", errors="replace")
    warnings.warn(
        f"{path}: dropped a torn last line of {len(tail)} bytes (an interrupted write); "
        f"kept in {path.name}{TORN_SUFFIX}",
        RuntimeWarning,
        stacklevel=2,
    )
    return text


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object of `path` ([] if missing); a bad last line is skipped with a warning.

    A bad line before the last cannot come from an interrupted append, so it is an error.
    """
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    rows: list[dict[str, Any]] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as err:
            if i == last:
                warnings.warn(
                    f"{path}: skipped a torn last line (line {i + 1}): {err}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            raise EvokdError(
                f"{path}, line {i + 1}: not a JSON object ({err})",
                "the file was edited or corrupted: fix or delete that line",
            ) from None
        rows.append(row)
    return rows


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace `path` with `obj` as JSON: readers see the old file or the new one, never half."""
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_temp_files(folder: Path, pattern: str = ".*.tmp") -> int:
    """Delete the temporary files a killed writer left in `folder`; returns how many.

    Only for a folder this process owns (a resumed run): a live writer's file would go too.
    """
    removed = 0
    for path in folder.glob(pattern) if folder.is_dir() else []:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def read_json(path: Path) -> Any:
    """The JSON value in `path`, or None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EvokdError(
            f"{path} is not valid JSON ({err})", "restore it from a backup or delete it"
        ) from None


def fsync_dir(path: Path) -> None:
    """Persist a rename inside `path` (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
