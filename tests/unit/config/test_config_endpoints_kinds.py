"""Endpoints and EndpointSlice are kinds Mizzen runs: loaded with their top-level bodies, not skipped."""

from __future__ import annotations

from mizzen.config import load_text
from mizzen.config.kinds import resolve

ENDPOINTS = """\
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
metadata:
  name: my-wikipedia-1
  namespace: web
  labels: {kubernetes.io/service-name: my-wikipedia}
addressType: IPv4
endpoints: [{addresses: [198.35.26.96]}]
ports: [{name: tls, port: 443}]
"""


def test_endpoints_and_endpoint_slices_are_loaded_with_their_bodies() -> None:
    """Both load quietly as resources whose top-level fields (subsets; addressType, endpoints, ports) are
    kept in the body, in their namespaces."""
    loaded = load_text(ENDPOINTS, "eps.yaml")
    assert loaded.skipped == [] and list(loaded.report.violations) == []
    eps, eps_slice = loaded.resources
    assert (eps.kind, eps.namespace, eps.spec["subsets"][0]["addresses"]) == (
        "Endpoints",
        "default",
        [{"ip": "198.35.26.96"}],
    )
    assert (eps_slice.kind, eps_slice.namespace, eps_slice.spec["addressType"]) == ("EndpointSlice", "web", "IPv4")


def test_kubectl_names_resolve_to_the_kinds() -> None:
    """``ep``/``endpoints`` and ``endpointslices`` name the kinds, as kubectl's do."""
    assert resolve("ep").kind == resolve("endpoints").kind == "Endpoints"
    assert resolve("endpointslices").api_path("web") == "/apis/discovery.k8s.io/v1/namespaces/web/endpointslices"
