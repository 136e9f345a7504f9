"""What the CLI prints on stderr cannot drive the terminal: control characters from input are escaped.

Error messages quote what users (or files, or the server) gave us: a name, a path, a YAML value. A
control character in there (an ANSI escape, a carriage return, a bidi override) could rewrite what
the terminal shows. :func:`escaped_stderr` wraps ``sys.stderr`` for a command's run so every write is
passed through :func:`escape_controls` first; newlines stay (messages have several lines).
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# Bidirectional overrides and isolates reorder what follows them ("Trojan Source"); they are format
# characters (Cf), not controls (Cc), so they are listed.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def escape_controls(text: str) -> str:
    """``text`` with control characters (but not newlines) and bidi overrides shown as ``\\xNN``/``\\uNNNN``."""
    if text.isprintable():
        return text
    return "".join(_escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch == "\n" or (ch not in _BIDI and unicodedata.category(ch) != "Cc"):
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _EscapingStream:
    """A text stream that escapes control characters in everything written to it."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(escape_controls(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def escaped_stderr() -> Iterator[None]:
    """Escape control characters in whatever is written to ``sys.stderr`` inside the block."""
    original = sys.stderr
    sys.stderr = _EscapingStream(original)
    try:
        yield
    finally:
        sys.stderr = original
