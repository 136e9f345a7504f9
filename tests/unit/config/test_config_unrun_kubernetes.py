"""Kubernetes kinds Istio acts on and Mizzen skips (Endpoints, EndpointSlice) warn with their line."""

from __future__ import annotations

from mizzen.config import load_text

ENDPOINTS = """\
kind: Deployment
apiVersion: apps/v1
metadata: {name: quiet}
---
kind: Endpoints
apiVersion: v1
metadata:
  name: my-wikipedia
subsets:
  - addresses:
      - ip: 198.35.26.96
    ports:
      - port: 443
        name: tls
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: my-wikipedia-1, namespace: web}
addressType: IPv4
endpoints: [{addresses: [198.35.26.96]}]
"""


def test_endpoints_and_endpoint_slices_are_skipped_with_a_warning() -> None:
    """Both are skipped (not stored) with an MZ2804 warning at their first line; a Deployment stays quiet."""
    loaded = load_text(ENDPOINTS, "eps.yaml")
    assert [s.kind for s in loaded.skipped] == ["Deployment", "Endpoints", "EndpointSlice"]
    found = [(v.code, v.level, v.line, v.resource) for v in loaded.report.violations]
    assert found == [
        ("MZ2804", "warning", 5, "Endpoints default/my-wikipedia"),
        ("MZ2804", "warning", 16, "EndpointSlice web/my-wikipedia-1"),
    ]
    assert loaded.report.ok
