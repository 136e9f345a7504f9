"""Small pure helpers shared by the builders: durations, percentages, label and visibility checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

JSONDict = dict[str, Any]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: object) -> float | None:
    """Seconds in an Istio duration (``"7s"``, ``"0.5s"``, ``"1m30s"``, ``"250ms"``); ``None`` if invalid."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def duration(value: object, default: str | None = None) -> str | None:
    """An Istio duration as a protobuf JSON duration string (``"0.500s"`` style, trailing zeros cut)."""
    secs = duration_seconds(value)
    if secs is None:
        return default
    nanos = round(secs * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    return f"{whole}s" if not frac else f"{whole}.{frac:09d}".rstrip("0") + "s"


def fractional_percent(value: float) -> JSONDict:
    """A percentage 0..100 (double) as an Envoy FractionalPercent over a million."""
    return {"numerator": max(0, min(1_000_000, round(value * 10_000))), "denominator": "MILLION"}


def percent_of(spec: Mapping[str, Any], key: str = "percentage", legacy: str = "percent") -> JSONDict:
    """Istio's ``percentage{value}`` (MILLION) or deprecated int ``percent`` (HUNDRED); absent = 0%."""
    pct = spec.get(key)
    if isinstance(pct, Mapping):
        return fractional_percent(as_float(pct.get("value")))
    return {"numerator": max(0, min(100, int(as_float(spec.get(legacy))))), "denominator": "HUNDRED"}


def as_float(value: object, default: float = 0.0) -> float:
    """``value`` as a float (numbers and numeric strings), else ``default``."""
    number = _number(value, None)
    return default if number is None else number


def _number(value: object, default: float | None = 0.0) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """True when every selector label is present with the same value (an empty selector matches all)."""
    return all(labels.get(str(k)) == str(v) for k, v in (selector or {}).items())


def exported_to(export_to: Iterable[str] | None, owner_ns: str, viewer_ns: str) -> bool:
    """Istio ``exportTo``: ``*`` all (default), ``.`` own namespace, ``~`` none, else namespace names."""
    targets = list(export_to or ["*"])
    if not targets:
        return True
    return any(t == "*" or (t == "." and owner_ns == viewer_ns) or t == viewer_ns for t in targets)


def as_list(value: object) -> list[Any]:
    """``value`` if it is a list, else ``[]`` (specs are validated upstream; be defensive anyway)."""
    return list(value) if isinstance(value, list | tuple) else []


def as_map(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else ``{}``."""
    return value if isinstance(value, Mapping) else {}


def as_int(value: object, default: int = 0) -> int:
    """``value`` as an int (numbers and numeric strings), else ``default``."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def as_count(value: object, default: int = 0) -> int:
    """``value`` as a non-negative int (Envoy's counters and limits are unsigned)."""
    return max(0, as_int(value, default))
