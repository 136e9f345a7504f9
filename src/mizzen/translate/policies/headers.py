"""VirtualService ``headers`` (request/response set/add/remove) -> Envoy header operations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.translate.common import JSONDict, as_list, as_map

_AUTHORITY = frozenset({"host", ":authority"})


def header_ops(headers: Mapping[str, Any]) -> JSONDict:
    """Route/cluster-weight fields for a ``Headers`` block: ``request_headers_to_add`` etc.

    ``set`` overwrites, ``add`` appends; a Host/:authority set or add becomes ``host_rewrite_literal``
    (set wins), as in Istio. Entries are sorted by key for deterministic output.
    """
    out: JSONDict = {}
    authority = ""
    for direction in ("request", "response"):
        ops = as_map(headers.get(direction))
        to_add: list[JSONDict] = []
        for action, append in (("set", "OVERWRITE_IF_EXISTS_OR_ADD"), ("add", "APPEND_IF_EXISTS_OR_ADD")):
            for key, value in sorted(as_map(ops.get(action)).items()):
                if direction == "request" and key.lower() in _AUTHORITY:
                    authority = authority if (authority and action == "add") else str(value)
                    continue
                to_add.append({"header": {"key": key, "value": str(value)}, "append_action": append})
        if to_add:
            out[f"{direction}_headers_to_add"] = to_add
        removes = sorted(str(h) for h in as_list(ops.get("remove")))
        if removes:
            out[f"{direction}_headers_to_remove"] = removes
    if authority:
        out["host_rewrite_literal"] = authority
    return out


def merge_ops(first: JSONDict, second: JSONDict) -> JSONDict:
    """Route-level ops followed by destination-level ops (lists concatenated, later authority wins)."""
    out = dict(first)
    for key, value in second.items():
        if isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [*out[key], *value]
        else:
            out[key] = value
    return out
