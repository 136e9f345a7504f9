"""Istio's host-name comparisons (``pkg/config/host``) as the conversion uses them: a leading ``*``
is a wildcard over one or more labels, and ``*`` alone matches everything."""

from __future__ import annotations

from collections.abc import Sequence


def matches(a: str, b: str) -> bool:
    """The two names overlap (either may be a wildcard): ``*.com`` and ``foo.com`` match both ways."""
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw and bw:
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if aw:
        return b.endswith(a[1:])
    if bw:
        return a.endswith(b[1:])
    return a == b


def subset_of(a: str, b: str) -> bool:
    """Every name ``a`` covers is covered by ``b``."""
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw:
        return bw and len(a) >= len(b) and a[1:].endswith(b[1:])
    if bw:
        return a.endswith(b[1:])
    return a == b


def intersection(names: Sequence[str], others: Sequence[str]) -> list[str]:
    """The narrower name of each overlapping pair, in order, without repeats."""
    out: list[str] = []
    for h in names:
        for o in others:
            pick = h if subset_of(h, o) else o if subset_of(o, h) else None
            if pick is not None and pick not in out:
                out.append(pick)
    return out
