"""Envoy's matching rules, as pure functions over proto-JSON config dicts.

Each function is one decision Envoy makes for a request, written after Envoy's documented semantics:
filter-chain choice (server names, transport protocol), virtual-host choice (exact domain, then the
longest ``*suffix``, then the longest ``prefix*``, then ``*``), ``RouteMatch`` (path specifiers with
``case_sensitive``, headers, query parameters; all must hold), and the ``Location`` of a redirect.
Nothing here knows Istio: the walker (:mod:`mizzen.simulate.walker`) strings these together.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import re2

Config = Mapping[str, Any]

REDIRECT_STATUS = {
    "MOVED_PERMANENTLY": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "TEMPORARY_REDIRECT": 307,
    "PERMANENT_REDIRECT": 308,
}


def normalize_path(path: str) -> str:
    """RFC 3986 dot-segment removal, as HCM ``normalize_path: true`` does before routing (query kept)."""
    raw, sep, query = path.partition("?")
    if not raw.startswith("/"):
        raw = "/" + raw
    norm = posixpath.normpath(raw)
    if norm.startswith("//"):  # posixpath keeps a leading double slash; Envoy's normalizer does not
        norm = "/" + norm.lstrip("/")
    if raw.endswith("/") and norm != "/":
        norm += "/"
    return norm + sep + query


def strip_port(host: str) -> str:
    """``reviews:9080`` -> ``reviews`` (IPv6 literals in brackets keep their colons)."""
    if host.endswith("]") or ":" not in host:
        return host
    return host.rsplit(":", 1)[0]


def select_vhost(vhosts: Iterable[Config], host: str) -> Config | None:
    """Envoy's virtual-host choice for ``host`` (lower-cased by the caller's request)."""
    vhosts = list(vhosts)
    host = host.lower()
    for vh in vhosts:
        if host in (d.lower() for d in vh.get("domains", [])):
            return vh
    best: tuple[int, int, Config] | None = None
    for vh in vhosts:
        for d in (d.lower() for d in vh.get("domains", [])):
            rank = _domain_rank(d, host)
            if rank is not None and (best is None or rank > best[:2]):
                best = (*rank, vh)
    return best[2] if best is not None else None


def _domain_rank(domain: str, host: str) -> tuple[int, int] | None:
    # Envoy requires the wildcard to match at least one character.
    if domain == "*":
        return (0, 0)
    if domain.startswith("*") and host.endswith(domain[1:]) and len(host) > len(domain) - 1:
        return (2, len(domain))
    if domain.endswith("*") and host.startswith(domain[:-1]) and len(host) > len(domain) - 1:
        return (1, len(domain))
    return None


def server_name_rank(names: Iterable[str], sni: str) -> int | None:
    """How well ``sni`` matches a chain's ``server_names``: exact beats the longest ``*.suffix``; ``None``
    when none matches."""
    best: int | None = None
    for name in (n.lower() for n in names):
        if name == sni:
            return 1_000_000
        if name.startswith("*.") and sni.endswith(name[1:]) and (best is None or len(name) > best):
            best = len(name)
    return best


def select_filter_chain(listener: Config, sni: str, tls: bool) -> tuple[int, Config] | None:
    """(index, chain) Envoy picks: most specific server name first, then transport protocol; index -1 is
    the listener's ``default_filter_chain``; ``None`` when no chain takes the connection."""
    best: tuple[tuple[int, int], int, Config] | None = None
    for i, chain in enumerate(listener.get("filter_chains", [])):
        match = chain.get("filter_chain_match", {})
        names = match.get("server_names")
        name_rank = 0
        if names:
            rank = server_name_rank(names, sni.lower()) if sni else None
            if rank is None:
                continue
            name_rank = rank
        protocol = match.get("transport_protocol")
        if protocol and (protocol == "tls") != tls:
            continue
        key = (name_rank, 1 if protocol else 0)
        if best is None or key > best[0]:
            best = (key, i, chain)
    if best is not None:
        return best[1], best[2]
    default = listener.get("default_filter_chain")
    return (-1, default) if default is not None else None


def route_matches(match: Config, path: str, header: Any) -> bool:
    """Envoy ``RouteMatch``: the path specifier, every header matcher and every query matcher hold.

    ``header`` looks up a (lower-case) request header, pseudo-headers included, returning ``None`` when
    it is absent.
    """
    if "connect_matcher" in match:
        return False  # only CONNECT requests match it, and the walker follows ordinary requests
    bare, _, query = path.partition("?")
    sensitive = match.get("case_sensitive", True)
    cmp_path = bare if sensitive else bare.lower()
    if "path" in match and cmp_path != (match["path"] if sensitive else match["path"].lower()):
        return False
    if "prefix" in match and not cmp_path.startswith(match["prefix"] if sensitive else match["prefix"].lower()):
        return False
    if "path_separated_prefix" in match and not _separated_prefix(cmp_path, match["path_separated_prefix"]):
        return False
    if "safe_regex" in match and re2.fullmatch(match["safe_regex"]["regex"], bare) is None:
        return False
    if not all(header_matches(h, header(str(h["name"]).lower())) for h in match.get("headers", [])):
        return False
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    return all(query_matches(q, params.get(q["name"])) for q in match.get("query_parameters", []))


def _separated_prefix(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def string_matches(sm: Config, value: str) -> bool:
    """Envoy ``StringMatcher`` (exact, prefix, suffix, contains, safe_regex; ``ignore_case``)."""
    fold = bool(sm.get("ignore_case"))
    subject = value.lower() if fold else value

    def want(key: str) -> str:
        text = str(sm[key])
        return text.lower() if fold else text

    if "exact" in sm:
        return subject == want("exact")
    if "prefix" in sm:
        return subject.startswith(want("prefix"))
    if "suffix" in sm:
        return subject.endswith(want("suffix"))
    if "contains" in sm:
        return want("contains") in subject
    if "safe_regex" in sm:
        return re2.fullmatch(sm["safe_regex"]["regex"], value) is not None
    return False


def header_matches(h: Config, value: str | None) -> bool:
    """Envoy ``HeaderMatcher``: ``present_match``, ``string_match`` (legacy ``exact_match`` etc.),
    ``invert_match``, ``treat_missing_header_as_empty``."""
    if value is None and h.get("treat_missing_header_as_empty"):
        value = ""
    if "present_match" in h:
        result = (value is not None) == bool(h["present_match"])
    elif value is None:
        result = False
    elif "string_match" in h:
        result = string_matches(h["string_match"], value)
    elif "exact_match" in h:
        result = value == h["exact_match"]
    elif "prefix_match" in h:
        result = value.startswith(h["prefix_match"])
    elif "safe_regex_match" in h:
        result = re2.fullmatch(h["safe_regex_match"]["regex"], value) is not None
    else:
        result = True  # a matcher with only a name: the header must be present
    return result != bool(h.get("invert_match"))


def query_matches(q: Config, value: str | None) -> bool:
    """Envoy ``QueryParameterMatcher``: ``present_match`` or a ``string_match`` on the first value."""
    if q.get("present_match"):
        return value is not None
    if value is None:
        return False
    return string_matches(q.get("string_match", {}), value) if "string_match" in q else True


def redirect_location(redirect: Config, *, scheme: str, host: str, path: str, matched_prefix: str | None) -> str:
    """The ``Location`` Envoy writes for a ``RedirectAction`` (Envoy's ``newUri``)."""
    new_scheme = str(redirect.get("scheme_redirect") or ("https" if redirect.get("https_redirect") else scheme))
    port = f":{redirect['port_redirect']}" if redirect.get("port_redirect") else ""
    if redirect.get("host_redirect"):
        new_host = str(redirect["host_redirect"])
    else:
        new_host = _request_host(host, scheme, new_scheme, bool(port))
    bare, _, query = path.partition("?")
    if "path_redirect" in redirect:
        target = str(redirect["path_redirect"])
        new_path = target if "?" in target or not query else f"{target}?{query}"
    elif "prefix_rewrite" in redirect and matched_prefix is not None:
        new_path = str(redirect["prefix_rewrite"]) + bare[len(matched_prefix) :] + (f"?{query}" if query else "")
    else:
        new_path = path
    if redirect.get("strip_query"):
        new_path = new_path.partition("?")[0]
    return f"{new_scheme}://{new_host}{port}{new_path}"


def _request_host(host: str, scheme: str, new_scheme: str, new_port: bool) -> str:
    """The request's host for a redirect: its port goes when a new one is set, or when the scheme
    changes and the port was the old scheme's default."""
    if host.endswith("]") or ":" not in host:
        return host
    name, _, port = host.rpartition(":")
    remove = new_port or (new_scheme != scheme and ((scheme, port) in (("http", "80"), ("https", "443"))))
    return name if remove else host


def rewritten_path(action: Config, path: str, matched_prefix: str | None) -> str | None:
    """The path the upstream sees after ``prefix_rewrite`` / ``regex_rewrite``, or ``None`` if unchanged."""
    bare, sep, query = path.partition("?")
    if "prefix_rewrite" in action and matched_prefix is not None:
        return str(action["prefix_rewrite"]) + bare[len(matched_prefix) :] + sep + query
    regex = action.get("regex_rewrite")
    if regex:
        pattern = str(regex.get("pattern", {}).get("regex", ""))
        # Envoy replaces every match (RE2 GlobalReplace); \1-style groups mean the same in re2.sub.
        return str(re2.sub(pattern, str(regex.get("substitution", "")), bare)) + sep + query
    return None


def matched_prefix(match: Config, path: str) -> str | None:
    """The part of the path a ``prefix``/``path`` matcher consumed (what ``prefix_rewrite`` replaces)."""
    bare = path.partition("?")[0]
    if "prefix" in match:
        return bare[: len(match["prefix"])]
    if "path" in match:
        return bare
    if "path_separated_prefix" in match:
        return bare[: len(match["path_separated_prefix"])]
    if "safe_regex" in match:
        return bare  # a regex matches the whole path: prefix_rewrite replaces all of it
    return None
