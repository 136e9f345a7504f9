"""VirtualService ``HTTPMatchRequest`` -> Envoy ``RouteMatch`` (request-time parts only; port,
sourceLabels, sourceNamespace and gateways are decided at generation time in :mod:`routes`)."""

from __future__ import annotations

from collections.abc import Mapping

from mizzen.config.models.common import StringMatch
from mizzen.config.models.virtual_service import HTTPMatchRequest
from mizzen.translate.common import JSONDict

_IGNORED_HEADER_KEYS = frozenset({"uri", "scheme", "method", "authority"})
_CATCH_ALL_REGEXES = frozenset({".*", "/.*"})


def string_matcher(sm: StringMatch) -> JSONDict | None:
    """Istio ``StringMatch`` -> Envoy ``StringMatcher``; ``None`` for an empty (presence) match."""
    if sm.exact is not None:
        return {"exact": sm.exact}
    if sm.prefix is not None:
        return {"prefix": sm.prefix}
    if sm.regex is not None:
        return {"safe_regex": {"regex": sm.regex}}
    return None


def header_matcher(name: str, sm: StringMatch, invert: bool = False) -> JSONDict:
    """One ``HeaderMatcher``; ``{}`` or ``regex: "*"`` mean "present" as in Istio."""
    out: JSONDict = {"name": name}
    matcher = string_matcher(sm)
    if matcher is None or sm.regex == "*":
        out["present_match"] = True
    else:
        out["string_match"] = matcher
        if invert:
            out["treat_missing_header_as_empty"] = True
    if invert:
        out["invert_match"] = True
    return out


def route_match(match: HTTPMatchRequest, gateway_semantics: bool = False) -> JSONDict:
    """The Envoy ``match`` for one Istio match entry; a VirtualService converted from the Gateway API
    matches prefixes on path segments (``/foo`` takes ``/foo/bar``, not ``/foobar``), as Istio's does."""
    out: JSONDict = {}
    uri = match.uri or StringMatch()
    if uri.exact is not None:
        out["path"] = uri.exact
    elif uri.prefix is not None and gateway_semantics and uri.prefix != "/":
        out["path_separated_prefix"] = uri.prefix.removesuffix("/")
    elif uri.prefix is not None:
        out["prefix"] = uri.prefix
    elif uri.regex is not None:
        out["safe_regex"] = {"regex": uri.regex}
    else:
        out["prefix"] = "/"
    out["case_sensitive"] = not match.ignore_uri_case
    pseudo = ((":authority", match.authority), (":method", match.method), (":scheme", match.scheme))
    headers = [header_matcher(name, sm) for name, sm in pseudo if sm is not None]
    headers += _header_matchers(match.headers, invert=False)
    headers += _header_matchers(match.without_headers, invert=True)
    if headers:
        out["headers"] = headers
    params: list[JSONDict] = []
    for name, sm in sorted(match.query_params.items()):
        matcher = string_matcher(sm)
        params.append(
            {"name": name, "present_match": True} if matcher is None else {"name": name, "string_match": matcher}
        )
    if params:
        out["query_parameters"] = params
    return out


def _header_matchers(headers: Mapping[str, StringMatch], *, invert: bool) -> list[JSONDict]:
    return [
        header_matcher(name.lower(), sm, invert=invert)
        for name, sm in sorted(headers.items())
        if name.lower() not in _IGNORED_HEADER_KEYS
    ]


def is_catch_all(match: HTTPMatchRequest) -> bool:
    """True for a match whose Envoy ``RouteMatch`` takes every request: path prefix ``/`` (or none) or
    regex ``.*`` / ``/.*``, and no header (pseudo-headers included) or query-parameter condition."""
    if match.authority is not None or match.method is not None or match.scheme is not None or match.query_params:
        return False
    if any(n.lower() not in _IGNORED_HEADER_KEYS for n in (*match.headers, *match.without_headers)):
        return False
    uri = match.uri or StringMatch()
    if uri.exact is not None:
        return False
    if uri.prefix is not None:
        return uri.prefix == "/"
    return uri.regex is None or uri.regex in _CATCH_ALL_REGEXES
