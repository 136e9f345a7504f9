"""Durations as Istio writes them in environment variables and flags (``SECRET_TTL=24h``)."""

from __future__ import annotations


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``10m``, ``24h``, ``7d`` or a bare number of seconds (Istio's duration style)."""
    value = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if value and value[-1] in units:
            seconds = float(value[:-1]) * units[value[-1]]
        else:
            seconds = float(value)
    except ValueError as exc:
        raise ValueError(f"not a duration (e.g. 90s, 10m, 24h, 7d): {text!r}") from exc
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {text!r}")
    return seconds
