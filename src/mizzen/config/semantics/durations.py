"""Istio's duration syntax (``1h``, ``1.5s``, ``500ms``, ``1m30s``) to seconds and to protobuf JSON.

A duration is one or more ``<number><unit>`` parts with units ``h``, ``m``, ``s``, ``ms``, ``us``
(``µs``) and ``ns``, optionally signed; a bare ``0`` is zero. Istio rejects durations under 1ms
(except where zero is meaningful) and finer than millisecond precision.
"""

from __future__ import annotations

import re
from fractions import Fraction

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_NANOS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
_UNIT_NANOS["h"] = 3600 * 10**9
_MAX_NANOS = 2**63 - 1


def seconds(text: str) -> float | None:
    """Seconds in a duration string (``1m30s`` -> 90.0), or ``None`` if it does not parse."""
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] in ("-", "+") else stripped
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _PART.finditer(body):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(body) or not body:
        return None
    return -total if stripped.startswith("-") else total


def nanos(text: str) -> int | None:
    """Nanoseconds in a duration exactly as Go's ``time.ParseDuration`` reads it (no surrounding spaces,
    fractions of any unit, at most 2^63-1ns), or ``None``: what Istio's validation sees."""
    body = text
    sign = -1 if body.startswith("-") else 1
    if body[:1] in "+-" and body:
        body = body[1:]
    if body == "0":
        return 0
    pos, total = 0, Fraction(0)
    for m in _GO_PART.finditer(body):
        whole, frac = m.group(1), m.group(2)
        if m.start() != pos or (not whole and not frac):
            return None
        number = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
        total += number * _UNIT_NANOS[m.group(3)]
        pos = m.end()
    if pos != len(body) or not body or total > _MAX_NANOS:
        return None
    return sign * int(total)


def problem(text: str, *, zero_ok: bool = False) -> str | None:
    """Istio's complaint about a duration string, or ``None`` when it is acceptable."""
    secs = seconds(text)
    if secs is None:
        return f'invalid duration "{text}" (use e.g. 500ms, 1.5s, 2m, 1h)'
    if secs < 0 or (secs < 0.001 - 1e-12 and not (zero_ok and secs == 0)):
        return "duration must be greater than 1ms"
    if abs(round(secs * 1000) - secs * 1000) > 1e-6:
        return "only durations to ms precision are supported"
    return None


def protobuf_json(text: str) -> str | None:
    """A non-negative duration as protobuf JSON seconds (``"0.25s"``, ``"90s"``: trailing zeros cut), else ``None``."""
    secs = seconds(text)
    if secs is None or secs < 0:
        return None
    whole, frac = divmod(round(secs * 1e9), 1_000_000_000)
    return f"{whole}s" if not frac else f"{whole}.{frac:09d}".rstrip("0") + "s"


def whole_seconds(text: str) -> int | None:
    """A non-negative duration in whole seconds (rounded down), as Envoy fields counted in seconds need."""
    secs = seconds(text)
    return None if secs is None or secs < 0 else round(secs * 1e9) // 1_000_000_000
