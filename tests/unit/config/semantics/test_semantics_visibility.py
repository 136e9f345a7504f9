"""Visibility rules: exportTo, the Service exportTo annotation, and ``namespace/host`` references."""

from __future__ import annotations

import pytest

from mizzen.config.semantics.visibility import (
    export_scopes,
    exported_to,
    hosts_admit,
    namespaced_host,
    service_export_to,
)


@pytest.mark.parametrize(
    ("export_to", "scopes", "seen_from_default", "seen_from_prod"),
    [
        ((), {"*"}, True, True),
        (("*",), {"*"}, True, True),
        ((".",), {"prod"}, False, True),
        (("~",), set(), False, False),
        (("default",), {"default"}, True, False),
        ((".", "default"), {"prod", "default"}, True, True),
    ],
)
def test_export_to(export_to: tuple[str, ...], scopes: set[str], seen_from_default: bool, seen_from_prod: bool) -> None:
    """A resource in ``prod`` is visible where its exportTo says (``*`` when empty, ``~`` nowhere)."""
    assert export_scopes(export_to, "prod") == scopes
    assert exported_to(export_to, "prod", "default") is seen_from_default
    assert exported_to(export_to, "prod", "prod") is seen_from_prod


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, ()),
        ({"networking.istio.io/exportTo": "."}, (".",)),
        ({"networking.istio.io/exportTo": " ., prod ,"}, (".", "prod")),
        ({"other": "x"}, ()),
    ],
)
def test_service_export_to(annotations: dict[str, str], expected: tuple[str, ...]) -> None:
    """A Kubernetes Service's exportTo is its comma-separated annotation (unset: exported everywhere)."""
    assert service_export_to(annotations) == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("prod/api.example.com", ("prod", "api.example.com")),
        ("./API.example.com", ("gw-ns", "api.example.com")),
        ("*/*", ("*", "*")),
        ("~/*", ("~", "*")),
        ("bookinfo.com", ("*", "bookinfo.com")),
    ],
)
def test_namespaced_host(entry: str, expected: tuple[str, str]) -> None:
    """``ns/host``: ``.`` is the namespace the reference is read in; a bare host is ``*/host``."""
    assert namespaced_host(entry, "gw-ns") == expected


@pytest.mark.parametrize(
    ("entries", "hostname", "namespace", "admitted"),
    [
        ([("*", "*")], "reviews.default.svc.cluster.local", "default", True),
        ([("default", "*")], "reviews.default.svc.cluster.local", "default", True),
        ([("prod", "*")], "reviews.default.svc.cluster.local", "default", False),
        ([("~", "*")], "reviews.default.svc.cluster.local", "default", False),
        ([("*", "reviews")], "reviews.default.svc.cluster.local", "default", True),
        ([("*", "reviews")], "reviews.prod.svc.cluster.local", "default", False),
        ([("*", "*.example.com")], "api.example.com", "default", True),
        ([("*", "*.example.com")], "api.example.org", "default", False),
        ([("prod", "*"), ("default", "api.example.com")], "api.example.com", "default", True),
        ([], "api.example.com", "default", False),
    ],
)
def test_hosts_admit(entries: list[tuple[str, str]], hostname: str, namespace: str, admitted: bool) -> None:
    """A host entry admits a service when its namespace filter and host pattern both match."""
    assert hosts_admit(entries, hostname, namespace) is admitted
