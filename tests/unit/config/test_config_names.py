"""Name syntax: Kubernetes names and labels, hosts, namespace/host forms, exportTo."""

from __future__ import annotations

import pytest

from mizzen.config import names


@pytest.mark.parametrize(
    ("value", "ok"),
    [("reviews", True), ("reviews-v1", True), ("a.b", False), ("Reviews", False), ("-a", False), ("a" * 64, False)],
)
def test_dns1123_label(value: str, ok: bool) -> None:
    """Labels: lower-case alphanumerics and '-', 1..63 characters, alphanumeric at both ends."""
    assert names.is_dns1123_label(value) is ok


@pytest.mark.parametrize(("value", "ok"), [("reviews.v1", True), ("a..b", False), ("", False)])
def test_dns1123_subdomain(value: str, ok: bool) -> None:
    """Subdomains are dot-separated labels."""
    assert names.is_dns1123_subdomain(value) is ok


def test_dns1035_label_starts_with_a_letter() -> None:
    """Service names must start with a letter."""
    assert names.is_dns1035_label("details") and not names.is_dns1035_label("1details")


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("app", True),
        ("app.kubernetes.io/name", True),
        ("security.istio.io/tlsMode", True),
        ("/app", False),
        ("bad key", False),
        ("Example.com/x", False),
        ("a/b/c", False),
    ],
)
def test_label_keys(key: str, ok: bool) -> None:
    """Label keys are ``[prefix/]name`` with a DNS-subdomain prefix."""
    assert (names.label_key_problem(key) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"), [("v1", True), ("", True), ("1.2.3", True), ("-v1", False), ("a b", False), ("x" * 64, False)]
)
def test_label_values(value: str, ok: bool) -> None:
    """Label values may be empty or alphanumerics with '-', '_', '.' inside."""
    assert (names.label_value_problem("k", value) is None) is ok


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("*", True),
        ("*.example.com", True),
        ("*example.com", True),
        ("reviews", True),
        ("reviews.default.svc.cluster.local", True),
        ("example.com.", True),
        ("a.*.com", False),
        ("bad_host.com", False),
        ("", False),
        ("a..b", False),
    ],
)
def test_wildcard_hosts(host: str, ok: bool) -> None:
    """Hosts are FQDNs, short names or wildcards with '*' leftmost only."""
    assert (names.wildcard_host_problem(host) is None) is ok


@pytest.mark.parametrize(
    ("value", "tilde", "ok"),
    [
        ("./*", False, True),
        ("*/mysql.foo.com", False, True),
        ("istio-system/*", False, True),
        ("~/*", True, True),
        ("~/*", False, False),
        ("mysql.foo.com", True, False),
        ("Bad/x.com", False, False),
    ],
)
def test_namespaced_hosts(value: str, tilde: bool, ok: bool) -> None:
    """``namespace/host`` with namespace '*', '.', a name, or '~' where allowed (Sidecar)."""
    assert (names.namespaced_host_problem(value, allow_tilde=tilde) is None) is ok


def test_export_to() -> None:
    """exportTo rejects bad names, duplicates, and '*'/'~' combined with others."""
    assert names.export_to_problems((".", "istio-system"), "p") == []
    assert [v.path for v in names.export_to_problems(("Bad_NS",), "p")] == ["p[0]"]
    assert len(names.export_to_problems(("*", "."), "p")) == 1
    assert len(names.export_to_problems((".", "."), "p")) == 1


def test_addresses() -> None:
    """IPs and CIDRs parse with the standard library."""
    assert names.ip_problem("10.0.0.1") is None and names.ip_problem("::1") is None
    assert names.ip_problem("10.0.0.300") is not None
    assert names.cidr_problem("10.0.0.0/8") is None and names.cidr_problem("10.0.0.0/33") is not None
