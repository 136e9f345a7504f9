"""Istio's duration syntax (``1h``, ``1.5s``, ``500ms``, ``1m30s``) to seconds and to protobuf JSON.

A duration is one or more ``<number><unit>`` parts with units ``h``, ``m``, ``s``, ``ms``, ``us``
(``µs``) and ``ns``, optionally signed; a bare ``0`` is zero. Istio rejects durations under 1ms
(except where zero is meaningful) and finer than millisecond precision.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


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
