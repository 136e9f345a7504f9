"""Envoy matchers for AuthorizationPolicy values, with Istio's wildcard rules (Istio's
``pilot/pkg/security/authz/matcher``).

A value is exact, or has one ``*`` at the start (suffix match), at the end (prefix match), or is ``*``
alone (presence: any non-empty value). Hosts match case-insensitively. Paths containing ``{*}`` or
``{**}`` are URI templates (``{*}`` one segment, ``{**}`` any number).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from mizzen.translate.security import names
from mizzen.translate.security.policy import JSON

_PRESENT = {"safe_regex": {"regex": ".+"}}
_GO_META = set("\\.+*?()|[]{}^$")


class MatcherError(ValueError):
    """A value that cannot be turned into a matcher (a bad IP block, port or attribute key)."""


def quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta: escapes only regex metacharacters, so regexes read as Istio's."""
    return "".join("\\" + c if c in _GO_META else c for c in text)


def string_matcher(value: str, prefix: str = "", *, ignore_case: bool = False) -> JSON:
    """A StringMatcher for ``value``; ``prefix`` is prepended to the literal (``spiffe://`` for
    principals), which makes a ``*suffix`` value a regex."""
    if value == "*":
        return dict(_PRESENT)
    out: JSON
    if value.startswith("*"):
        if prefix:
            return {"safe_regex": {"regex": prefix + ".*" + quote_meta(value[1:])}}
        out = {"suffix": value[1:]}
    elif value.endswith("*"):
        out = {"prefix": prefix + value[:-1]}
    else:
        out = {"exact": prefix + value}
    if ignore_case:
        out["ignore_case"] = True
    return out


def regex_matcher(regex: str) -> JSON:
    """A RE2 full-match StringMatcher."""
    return {"safe_regex": {"regex": regex}}


def header_matcher(name: str, value: str, *, ignore_case: bool = False) -> JSON:
    """A HeaderMatcher: ``*`` is a presence match, ``*x``/``x*`` suffix/prefix, else exact."""
    if value == "*":
        return {"name": name, "present_match": True}
    if value.startswith("*"):
        match: JSON = {"suffix": value[1:]}
    elif value.endswith("*"):
        match = {"prefix": value[:-1]}
    else:
        match = {"exact": value}
    if ignore_case:
        match["ignore_case"] = True
    return {"name": name, "string_match": match}


def contains_path_template(path: str) -> bool:
    """Istio's rule: a path with ``{*}`` or ``{**}`` is a URI template."""
    return "{*}" in path or "{**}" in path


def path_permission(path: str) -> JSON:
    """``url_path`` (query string ignored) or ``uri_template`` for one ``paths`` value."""
    if contains_path_template(path):
        template = path.replace("{**}", "**").replace("{*}", "*")
        config = {"@type": names.T_URI_TEMPLATE, "path_template": template}
        return {"uri_template": {"name": names.URI_TEMPLATE, "typed_config": config}}
    return {"url_path": {"path": string_matcher(path)}}


def cidr_range(value: str) -> JSON:
    """``1.2.3.4`` -> /32 (IPv6 /128); a CIDR keeps its address and length as written."""
    try:
        if "/" in value:
            iface = ipaddress.ip_interface(value)
            return {"address_prefix": str(iface.ip), "prefix_len": iface.network.prefixlen}
        address = ipaddress.ip_address(value)
    except ValueError as exc:
        raise MatcherError(f"invalid IP address or CIDR range {value!r}") from exc
    return {"address_prefix": str(address), "prefix_len": address.max_prefixlen}


def port_number(value: str) -> int:
    """A port value as an integer in 0..65535."""
    if not value.isdigit() or int(value) > 65535:
        raise MatcherError(f"invalid port {value!r}")
    return int(value)


def value_matcher_or(matchers: Sequence[JSON]) -> JSON:
    """One ValueMatcher, or an ``or_match`` of several."""
    if len(matchers) == 1:
        return matchers[0]
    return {"or_match": {"value_matchers": list(matchers)}}


def string_value_matchers(values: Sequence[str]) -> JSON:
    """A ValueMatcher matching a string equal (Istio's wildcards) to any of ``values``."""
    return value_matcher_or([{"string_match": string_matcher(v)} for v in values])


def metadata_matcher(filter_name: str, path: Sequence[str], value: JSON) -> JSON:
    """A MetadataMatcher on ``filter_name``'s dynamic metadata at ``path``."""
    return {"filter": filter_name, "path": [{"key": k} for k in path], "value": value}


def jwt_claim_matcher(claims: Sequence[str], value: JSON) -> JSON:
    """Match a JWT claim in jwt_authn's verified payload: a string claim equal to ``value``, or a list
    claim containing one (Istio's "extended" JWT matcher)."""
    either: JSON = {"or_match": {"value_matchers": [{"list_match": {"one_of": value}}, value]}}
    return metadata_matcher(names.JWT_AUTHN, [names.JWT_PAYLOAD_KEY, *claims], either)


def jwt_string_claim(claim: str, matcher: JSON) -> JSON:
    """Match a string claim (``iss``, ``sub``) of the verified payload."""
    return metadata_matcher(names.JWT_AUTHN, [names.JWT_PAYLOAD_KEY, claim], {"string_match": matcher})
