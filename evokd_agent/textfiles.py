"""Reading user text files as UTF-8: a byte in another encoding is one clear line, not a traceback.

Python's `UnicodeDecodeError` names a position in some internal buffer, not a line. The file is
read again in binary, line by line (no UTF-8 sequence contains a newline byte, so each line
decodes on its own), to name the line of the first byte that is not UTF-8.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from evokd_agent.errors import EvokdError

UTF8_FIX = (
    "save the file as UTF-8, e.g. `iconv -f cp1252 -t utf-8 IN > OUT` "
    "(cp1252 or latin1 for most Western European files)"
)


def not_utf8(path: Path) -> EvokdError:
    """The error for `path` holding a byte that is not UTF-8: its line, column and value."""
    where = _first_bad_byte(path)
    if where is None:  # changed since it failed, or unreadable now: say what we know
        return EvokdError(f"{path} is not valid UTF-8", UTF8_FIX)
    line, column, byte = where
    return EvokdError(
        f"{path}, line {line}: byte 0x{byte:02x} (byte {column} of the line) is not UTF-8; "
        "the file is in another encoding",
        UTF8_FIX,
    )


@contextlib.contextmanager
def utf8_errors(path: Path) -> Iterator[None]:
    """Turn a `UnicodeDecodeError` raised while reading `path` into `not_utf8(path)`."""
    try:
        yield
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def read_utf8(path: Path) -> str:
    """The text of `path`; `EvokdError` naming the line and byte when it is not UTF-8."""
    with utf8_errors(path):
        return path.read_text(encoding="utf-8")


def _first_bad_byte(path: Path) -> tuple[int, int, int] | None:
    """(line, position in the line, value) of the first byte of `path` that is not UTF-8."""
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    return number, err.start + 1, raw[err.start]
    except OSError:
        return None
    return None
