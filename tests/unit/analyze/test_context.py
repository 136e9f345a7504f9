"""Selector printing and service lookup shared by the analyzers (host rules: tests/unit/config/semantics)."""

from __future__ import annotations

from mizzen.config.analyze.context import Context, selector_string

from .helpers import resources


def test_selector_string() -> None:
    """A selector prints as Kubernetes prints it, keys sorted."""
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
