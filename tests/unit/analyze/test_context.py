"""Selector printing, service lookup and workload instances shared by the analyzers (host rules:
tests/unit/config/semantics)."""

from __future__ import annotations

from mizzen.config.analyze.context import selector_string
from mizzen.config.analyze.runner import Workload, build_context

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
    ctx = build_context(resources(SERVICES))
    assert ctx.find_service("team", [], "private") is not None
    assert ctx.find_service("default", [], "private.team.svc.cluster.local") is None
    assert ctx.find_service("team", [], "api.example.com") is not None
    assert ctx.find_service("default", [], "api.example.com") is None


def test_workload_instances() -> None:
    """Pods come from WorkloadEntries, live workloads, and (files only) istioctl's default ingress gateway."""
    assert build_context(resources(SERVICES)).pods == []
    files_only = build_context(resources(SERVICES), files_only=True)
    assert [(p.namespace, p.name) for p in files_only.pods] == [("istio-system", "istio-ingressgateway-dummypod")]
    assert files_only.find("Service", "istio-system", "istio-ingressgateway") is not None
    live = build_context(resources(SERVICES), workloads=[Workload("ratings-1", "team", {"app": "ratings"})])
    assert live.live
    assert [dict(p.labels) for p in live.pods] == [{"app": "ratings"}]
