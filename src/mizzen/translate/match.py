"""VirtualService ``HTTPMatchRequest`` -> Envoy ``RouteMatch`` (request-time parts only; port,
sourceLabels, sourceNamespace and gateways are decided at generation time in :mod:`routes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.translate.common import JSONDict, as_map

_PSEUDO = {"method": ":method", "authority": ":authority", "scheme": ":scheme"}
_IGNORED_HEADER_KEYS = frozenset({"uri", "scheme", "method", "authority"})


def string_matcher(sm: Mapping[str, Any]) -> JSONDict | None:
    """Istio ``StringMatch`` -> Envoy ``StringMatcher``; ``None`` for an empty (presence) match."""
    if "exact" in sm:
        return {"exact": str(sm["exact"])}
    if "prefix" in sm:
        return {"prefix": str(sm["prefix"])}
    if "regex" in sm:
        return {"safe_regex": {"regex": str(sm["regex"])}}
    return None


def header_matcher(name: str, sm: Mapping[str, Any], invert: bool = False) -> JSONDict:
    """One ``HeaderMatcher``; ``{}`` or ``regex: "*"`` mean "present" as in Istio."""
    out: JSONDict = {"name": name}
    matcher = string_matcher(sm)
    if matcher is None or sm.get("regex") == "*":
        out["present_match"] = True
    else:
        out["string_match"] = matcher
        if invert:
            out["treat_missing_header_as_empty"] = True
    if invert:
        out["invert_match"] = True
    return out


def route_match(match: Mapping[str, Any]) -> JSONDict:
    """The Envoy ``match`` for one Istio match entry."""
    out: JSONDict = {}
    uri = as_map(match.get("uri"))
    if "exact" in uri:
        out["path"] = str(uri["exact"])
    elif "prefix" in uri:
        out["prefix"] = str(uri["prefix"])
    elif "regex" in uri:
        out["safe_regex"] = {"regex": str(uri["regex"])}
    else:
        out["prefix"] = "/"
    out["case_sensitive"] = not bool(match.get("ignoreUriCase"))
    headers = [header_matcher(_PSEUDO[k], as_map(match[k])) for k in ("authority", "method", "scheme") if k in match]
    for name, sm in sorted(as_map(match.get("headers")).items()):
        if name.lower() not in _IGNORED_HEADER_KEYS:
            headers.append(header_matcher(name.lower(), as_map(sm)))
    for name, sm in sorted(as_map(match.get("withoutHeaders")).items()):
        if name.lower() not in _IGNORED_HEADER_KEYS:
            headers.append(header_matcher(name.lower(), as_map(sm), invert=True))
    if headers:
        out["headers"] = headers
    params = []
    for name, sm in sorted(as_map(match.get("queryParams")).items()):
        matcher = string_matcher(as_map(sm))
        params.append(
            {"name": name, "present_match": True} if matcher is None else {"name": name, "string_match": matcher}
        )
    if params:
        out["query_parameters"] = params
    return out


def is_catch_all(match: JSONDict) -> bool:
    """True for a match that takes every request (prefix ``/`` or regex ``.*``, nothing else)."""
    if match.get("headers") or match.get("query_parameters"):
        return False
    return match.get("prefix") == "/" or match.get("safe_regex", {}).get("regex") in (".*", "/.*")
