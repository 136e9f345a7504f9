"""Workload templates from Kubernetes manifests (`mizzen run --from`)."""

from __future__ import annotations

import pytest

from mizzen.agent.errors import AgentError
from mizzen.agent.spec import PortSpec
from mizzen.agent.template import template_from_manifests
from mizzen.testing.samples import istio_samples_dir

SAMPLES = istio_samples_dir()
SAMPLE = """
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: grpc, port: 9090}, {name: http-web, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: elsewhere}
spec:
  selector: {app: api}
  ports: [{name: tcp, port: 1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-v1, namespace: shop}
spec:
  template:
    metadata: {labels: {app: api, version: v1}}
    spec:
      containers:
      - name: api
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
"""


@pytest.mark.istio_samples
def test_bookinfo_deployment_gives_labels_account_and_ports() -> None:
    """Istio's bookinfo.yaml describes reviews-v2: its labels, service account and the http port of `reviews`."""
    t = template_from_manifests([(SAMPLES / "bookinfo.yaml").read_text()], "reviews-v2")
    assert t.labels == {"app": "reviews", "version": "v2"}
    assert t.service_account == "bookinfo-reviews"
    assert t.ports == (PortSpec("http", 9080),)
    assert t.ready_path is None


def test_services_in_other_namespaces_and_probe_path() -> None:
    """Only Services of the Deployment's namespace count; an httpGet readiness probe gives the ready path."""
    t = template_from_manifests([SAMPLE], "api-v1", "shop")
    assert t.ports == (PortSpec("http-web", 8080), PortSpec("grpc", 9090))
    assert t.service_account == "default"
    assert t.ready_path == "/ready"


def test_missing_deployment_is_an_error() -> None:
    """Asking for a Deployment that is not there fails with its name."""
    with pytest.raises(AgentError, match="shop/nope"):
        template_from_manifests([SAMPLE], "nope", "shop")
