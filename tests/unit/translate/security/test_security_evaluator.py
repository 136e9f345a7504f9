"""The RBAC evaluator's Envoy semantics on hand-written filter configs (independent of the builders)."""

from __future__ import annotations

import pytest

from mizzen.simulate.rbac import Peer, Request, evaluate_http, evaluate_tcp, string_matches


def rbac(action: str, permission: dict[str, object], principal: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "rules": {
                "action": action,
                "policies": {"p": {"permissions": [permission], "principals": [principal or {"any": True}]}},
            }
        },
    }


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ({"exact": "a"}, "a", True),
        ({"exact": "A", "ignore_case": True}, "a", True),
        ({"prefix": "ab"}, "abc", True),
        ({"suffix": "bc"}, "abc", True),
        ({"contains": "b"}, "abc", True),
        ({"safe_regex": {"regex": "a.c"}}, "abc", True),
        ({"safe_regex": {"regex": "b"}}, "abc", False),  # RE2 full match, not search
        ({"safe_regex": {"regex": ".+"}}, "", False),
    ],
)
def test_string_matcher(matcher: dict[str, object], value: str, expected: bool) -> None:
    """StringMatcher kinds as Envoy applies them (regexes must match the whole value)."""
    assert string_matches(matcher, value) is expected


def test_allow_without_match_denies_and_deny_with_match_denies() -> None:
    """ALLOW denies unless a policy matches; DENY denies when one does; LOG never denies."""
    get = {"header": {"name": ":method", "string_match": {"exact": "GET"}}}
    assert evaluate_http([rbac("ALLOW", get)], Request(method="POST")).status == 403
    assert evaluate_http([rbac("ALLOW", get)], Request(method="GET")).allowed
    assert evaluate_http([rbac("DENY", get)], Request(method="GET")).status == 403
    assert evaluate_http([rbac("LOG", get)], Request(method="GET")).logged == ("p",)


def test_authenticated_needs_a_client_certificate() -> None:
    """`authenticated` never matches a plaintext connection, with or without a principal name."""
    filters = [rbac("ALLOW", {"any": True}, {"authenticated": {}})]
    assert not evaluate_tcp(filters, Request(), Peer()).allowed
    assert evaluate_tcp(filters, Request(), Peer.spiffe("ns", "sa")).allowed


def test_http_matchers_do_not_match_on_tcp() -> None:
    """A network RBAC filter sees no headers or path."""
    assert not evaluate_tcp([rbac("ALLOW", {"url_path": {"path": {"prefix": "/"}}})], Request()).allowed


def test_uri_template_segments() -> None:
    """`*` is exactly one non-empty segment, `**` any number of segments (Envoy's uri_template)."""

    def allowed(template: str) -> bool:
        perm = {"uri_template": {"typed_config": {"path_template": template}}}
        return evaluate_http([rbac("ALLOW", perm)], Request(path="/a/b/c?q=1")).allowed

    assert allowed("/a/*/c") and allowed("/a/**")
    assert not allowed("/*/c") and not allowed("/a/*")


def test_unknown_matchers_are_an_error() -> None:
    """A matcher the evaluator does not model fails loudly instead of guessing."""
    with pytest.raises(ValueError, match="not modelled"):
        evaluate_http([rbac("ALLOW", {"source_ports": 1})], Request())


def test_filters_other_than_security_are_skipped() -> None:
    """Router, fault and the like do not affect the verdict."""
    assert evaluate_http([{"name": "envoy.filters.http.router"}], Request()).allowed
