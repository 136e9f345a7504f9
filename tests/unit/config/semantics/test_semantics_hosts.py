"""Host-name rules: short-name resolution, Kubernetes DNS forms, wildcard matching and intersection."""

from __future__ import annotations

import pytest

from mizzen.config.semantics.hosts import (
    fqdn,
    host_matches,
    hosts_intersect,
    match_specificity,
    name_of_host,
    resolve,
)

KNOWN = frozenset({"reviews.default.svc.cluster.local", "db.prod.svc.cluster.local", "api.example.com"})


@pytest.mark.parametrize(
    ("host", "namespace", "expected"),
    [
        ("reviews", "default", "reviews.default.svc.cluster.local"),
        ("Reviews ", "prod", "reviews.prod.svc.cluster.local"),
        ("reviews.default", "prod", "reviews.default"),
        ("api.example.com", "default", "api.example.com"),
        ("*", "default", "*"),
        ("*.example.com", "default", "*.example.com"),
        ("10.0.0.1", "default", "10.0.0.1"),
        ("::1", "default", "::1"),
        ("", "default", ""),
    ],
)
def test_fqdn(host: str, namespace: str, expected: str) -> None:
    """Only dot-less names (not ``*``, not IP addresses) expand into the namespace, lower-cased."""
    assert fqdn(host, namespace) == expected


@pytest.mark.parametrize(
    ("host", "namespace", "expected"),
    [
        ("reviews", "default", "reviews.default.svc.cluster.local"),
        ("reviews.default", "prod", "reviews.default.svc.cluster.local"),
        ("reviews.default.svc", "prod", "reviews.default.svc.cluster.local"),
        ("db.prod", "default", "db.prod.svc.cluster.local"),
        ("nope.default", "default", "nope.default"),
        ("nope", "default", "nope.default.svc.cluster.local"),
        ("api.example.com", "default", "api.example.com"),
        ("*.default", "default", "*.default"),
    ],
)
def test_resolve(host: str, namespace: str, expected: str) -> None:
    """``name.ns`` and ``name.ns.svc`` reach a known service's FQDN; unknown names stay as :func:`fqdn`."""
    assert resolve(host, namespace, KNOWN) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("reviews.default.svc.cluster.local", ("default", "reviews")),
        ("api.example.com", ("ns", "api.example.com")),
        ("reviews", ("ns", "reviews")),
    ],
)
def test_name_of_host(host: str, expected: tuple[str, str]) -> None:
    """A Kubernetes FQDN names (namespace, service); any other host is itself in the default namespace."""
    assert name_of_host(host, "ns") == expected


@pytest.mark.parametrize(
    ("pattern", "host", "matches", "intersect"),
    [
        ("a.example.com", "a.example.com", True, True),
        ("*", "a.example.com", True, True),
        ("*.example.com", "a.example.com", True, True),
        ("*.example.com", "example.com", False, False),
        ("*example.com", "example.com", True, True),
        ("a.example.com", "*.example.com", False, True),
        ("*.com", "*.example.com", True, True),
        ("*.example.com", "*.com", False, True),
        ("*.a.com", "*.b.com", False, False),
        ("a.example.com", "b.example.com", False, False),
    ],
)
def test_wildcard_matching(pattern: str, host: str, matches: bool, intersect: bool) -> None:
    """``*suffix`` covers names ending in the suffix; two patterns intersect when either covers the other."""
    assert host_matches(pattern, host) is matches
    assert hosts_intersect(pattern, host) is intersect
    assert hosts_intersect(host, pattern) is intersect


@pytest.mark.parametrize(
    ("more", "less"),
    [("a.example.com", "*.example.com"), ("*.a.example.com", "*.example.com"), ("*.example.com", "*")],
)
def test_match_specificity(more: str, less: str) -> None:
    """Exact names outrank wildcards; a longer wildcard suffix outranks a shorter one."""
    assert match_specificity(more) > match_specificity(less)
