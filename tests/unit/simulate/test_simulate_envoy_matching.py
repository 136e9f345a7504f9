"""Envoy's matching rules as the walker applies them (pure functions over proto-JSON)."""

from __future__ import annotations

from mizzen.simulate import envoy


def _vh(name: str, *domains: str) -> dict[str, object]:
    return {"name": name, "domains": list(domains)}


def _header(headers: dict[str, str]) -> object:
    return lambda name: headers.get(name)


def test_vhost_precedence_exact_then_suffix_then_prefix_then_any() -> None:
    """Exact domains win over the longest *suffix, which wins over prefix*, which wins over *."""
    vhosts = [_vh("any", "*"), _vh("prefix", "api.*"), _vh("short", "*.com"), _vh("long", "*.example.com")]
    assert envoy.select_vhost(vhosts, "api.example.com")["name"] == "long"  # type: ignore[index]
    assert envoy.select_vhost(vhosts, "api.other.org")["name"] == "prefix"  # type: ignore[index]
    assert envoy.select_vhost(vhosts, "x.org")["name"] == "any"  # type: ignore[index]
    assert envoy.select_vhost([*vhosts, _vh("exact", "api.example.com")], "API.example.com")["name"] == "exact"  # type: ignore[index]


def test_wildcard_must_match_at_least_one_character() -> None:
    """``*.example.com`` does not match ``.example.com``; with no other domain there is no vhost."""
    assert envoy.select_vhost([_vh("w", "*.example.com")], ".example.com") is None


def test_server_names_exact_beats_longest_wildcard() -> None:
    """Filter-chain SNI choice: exact name first, then the longest wildcard; no SNI takes the default."""
    listener = {
        "filter_chains": [
            {"filter_chain_match": {"server_names": ["*.com"]}},
            {"filter_chain_match": {"server_names": ["*.example.com"]}},
            {"filter_chain_match": {"server_names": ["a.example.com"]}},
        ],
        "default_filter_chain": {"filters": []},
    }
    assert envoy.select_filter_chain(listener, "a.example.com", True)[0] == 2  # type: ignore[index]
    assert envoy.select_filter_chain(listener, "b.example.com", True)[0] == 1  # type: ignore[index]
    assert envoy.select_filter_chain(listener, "", False)[0] == -1  # type: ignore[index]
    assert envoy.select_filter_chain({"filter_chains": listener["filter_chains"]}, "x.org", True) is None


def test_header_matchers_present_invert_missing_as_empty() -> None:
    """present_match, invert_match and treat_missing_header_as_empty behave as in Envoy."""
    exact = {"name": "x", "string_match": {"exact": "1"}}
    assert envoy.header_matches(exact, "1") and not envoy.header_matches(exact, None)
    assert envoy.header_matches({**exact, "invert_match": True}, None)
    assert envoy.header_matches({"name": "x", "present_match": True}, "")
    assert not envoy.header_matches({"name": "x", "present_match": False}, "")
    empty = {"name": "x", "string_match": {"exact": ""}, "treat_missing_header_as_empty": True}
    assert envoy.header_matches(empty, None)


def test_route_match_path_kinds_and_case() -> None:
    """path, prefix, regex (whole path, query excluded) and case_sensitive false."""
    assert envoy.route_matches({"path": "/a"}, "/a?x=1", _header({}))
    assert not envoy.route_matches({"path": "/a"}, "/a/b", _header({}))
    assert envoy.route_matches({"prefix": "/A", "case_sensitive": False}, "/api", _header({}))
    assert envoy.route_matches({"safe_regex": {"regex": "/r[0-9]+"}}, "/r12?q", _header({}))
    assert not envoy.route_matches({"safe_regex": {"regex": "/r[0-9]"}}, "/r12", _header({}))


def test_route_match_headers_and_query_all_must_hold() -> None:
    """Every header and query-parameter matcher must hold (AND)."""
    match = {
        "prefix": "/",
        "headers": [{"name": "end-user", "string_match": {"prefix": "ja"}}],
        "query_parameters": [{"name": "v", "string_match": {"exact": "2"}}],
    }
    assert envoy.route_matches(match, "/?v=2", _header({"end-user": "jason"}))
    assert not envoy.route_matches(match, "/?v=3", _header({"end-user": "jason"}))
    assert not envoy.route_matches(match, "/?v=2", _header({"end-user": "bob"}))


def test_string_matcher_kinds() -> None:
    """exact/prefix/suffix/contains/regex, with ignore_case folding both sides."""
    assert envoy.string_matches({"suffix": "son"}, "jason")
    assert envoy.string_matches({"contains": "as"}, "jason")
    assert envoy.string_matches({"exact": "JASON", "ignore_case": True}, "jason")
    assert not envoy.string_matches({"safe_regex": {"regex": "ja"}}, "jason")


def test_normalize_path_removes_dot_segments() -> None:
    """HCM normalize_path: dot segments go, the trailing slash and the query stay."""
    assert envoy.normalize_path("/a/./b/../c/?x=1") == "/a/c/?x=1"
    assert envoy.normalize_path("/../x") == "/x"


def test_redirect_location_like_envoy() -> None:
    """Location: new path and host; a new port replaces the request's; an https redirect drops :80."""
    loc = envoy.redirect_location(
        {"path_redirect": "/new", "host_redirect": "b.com"},
        scheme="http",
        host="a:9080",
        path="/o?q=1",
        matched_prefix=None,
    )
    assert loc == "http://b.com/new?q=1"
    loc = envoy.redirect_location({"port_redirect": 8443}, scheme="http", host="a:9080", path="/p", matched_prefix=None)
    assert loc == "http://a:8443/p"
    loc = envoy.redirect_location({"https_redirect": True}, scheme="http", host="a:80", path="/p", matched_prefix=None)
    assert loc == "https://a/p"
    loc = envoy.redirect_location(
        {"prefix_rewrite": "/v2/"}, scheme="http", host="a", path="/v1/x", matched_prefix="/v1/"
    )
    assert loc == "http://a/v2/x"


def test_rewritten_path_prefix_and_regex() -> None:
    """prefix_rewrite replaces the matched prefix; regex_rewrite replaces every match."""
    assert envoy.rewritten_path({"prefix_rewrite": "/new"}, "/old/x?y", "/old") == "/new/x?y"
    regex = {"regex_rewrite": {"pattern": {"regex": "o"}, "substitution": "0"}}
    assert envoy.rewritten_path(regex, "/foo", None) == "/f00"
    assert envoy.rewritten_path({}, "/foo", None) is None
