"""Host helpers and service lookup shared by the analyzers (Istio's analyzer host rules)."""

from __future__ import annotations

import pytest

from mizzen.config.analyze.context import Context, hosts_match, name_of_host, selector_string, to_fqdn

from .helpers import resources


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("foo.com", "foo.com", True),
        ("*.example.com", "api.example.com", True),
        ("api.example.com", "*.example.com", True),
        ("*", "anything.io", True),
        ("*.a.example.com", "*.example.com", True),
        ("*.example.com", "example.com", False),
        ("foo.com", "bar.com", False),
    ],
)
def test_hosts_match(a: str, b: str, expected: bool) -> None:
    """Wildcard hosts cover their suffixes in either direction; plain hosts must be equal."""
    assert hosts_match(a, b) is expected


def test_fqdn_and_names() -> None:
    """Short names expand in the given namespace; FQDNs parse back to namespace and name."""
    assert to_fqdn("default", "reviews") == "reviews.default.svc.cluster.local"
    assert to_fqdn("default", "api.example.com") == "api.example.com"
    assert to_fqdn("default", "*") == "*"
    assert name_of_host("x", "reviews.team.svc.cluster.local") == ("team", "reviews")
    assert name_of_host("x", "reviews") == ("x", "reviews")
    assert selector_string({"version": "v1", "app": "reviews"}) == "app=reviews,version=v1"


SERVICES = """apiVersion: v1
kind: Service
metadata:
  name: private
  namespace: team
  annotations:
    networking.istio.io/exportTo: "."
spec:
  ports:
  - port: 80
    name: http
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
  namespace: team
spec:
  hosts: ["*.example.com"]
  exportTo: ["."]
  ports:
  - number: 443
    name: tls
    protocol: TLS
"""


def test_service_visibility_follows_export_to() -> None:
    """A Service exported to its namespace only, and a namespace-local wildcard SE, are invisible elsewhere."""
    ctx = Context.build(resources(SERVICES), None)
    assert ctx.find_service("team", [], "private") is not None
    assert ctx.find_service("default", [], "private.team.svc.cluster.local") is None
    assert ctx.find_service("team", [], "api.example.com") is not None
    assert ctx.find_service("default", [], "api.example.com") is None


def test_workload_knowledge() -> None:
    """Workloads are unknown from files alone, known with WorkloadEntries or with an explicit (even empty) list."""
    assert not Context.build(resources(SERVICES), None).workloads_known
    assert Context.build(resources(SERVICES), []).workloads_known
    assert Context.build(resources(SERVICES), []).pod_workloads_known
