"""Fields Istio acts on that Mizzen accepts but does not apply yet: each one draws a warning (MZ2013).

The table is the contract with ``mizzen.translate``: a path leaves it when the translator starts to
honour it. Security kinds are not listed: their enforcement is tracked separately.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mizzen.config.codes import violation
from mizzen.config.resource import Resource
from mizzen.config.rules.common import Found

# kind -> field paths under spec ("[]" walks a list, "*" a map's values).
NOT_APPLIED: Mapping[str, tuple[str, ...]] = {}


def check(res: Resource, root: str) -> Found:
    """A warning per field of ``res`` that Mizzen does not apply."""
    out: Found = []
    for pattern in NOT_APPLIED.get(res.kind, ()):
        for path in _find(res.spec, pattern.split("."), root):
            out.append(
                violation("MZ2013", f"{pattern.rsplit('.', 1)[-1]} is accepted but not applied by Mizzen yet", path)
            )
    return out


def _find(value: Any, parts: list[str], path: str) -> Iterator[str]:
    if not parts:
        yield path
        return
    head, rest = parts[0], parts[1:]
    name, is_list = head.removesuffix("[]"), head.endswith("[]")
    if not isinstance(value, Mapping) or value.get(name) in (None, "", [], False):
        return
    child, sub = value[name], f"{path}.{name}"
    if is_list and isinstance(child, list):
        for i, item in enumerate(child):
            yield from _find(item, rest, f"{sub}[{i}]")
    elif not is_list:
        yield from _find(child, rest, sub)
