"""Real Envoy running translator output (static bootstrap, no control plane): requests sent through the
sidecar's HTTP-proxy listener reach the clusters the simulation predicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from translate_envoy import run_envoy, start_echoes, stop, stop_echoes, wait_listening
from translate_fixtures import gateway_proxy

from mizzen.node import InboundPort, Proxy
from mizzen.testing.controlplane import free_port
from mizzen.testing.echo import EchoServer
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate

pytestmark = pytest.mark.e2e

MESH = """apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: default}}
spec:
  selector: {{app: reviews}}
  ports: [{{name: http, port: 9080}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: reviews-v1}}
spec: {{address: 127.0.0.1, ports: {{http: {v1}}}, labels: {{app: reviews, version: v1}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: reviews-v2}}
spec: {{address: 127.0.0.1, ports: {{http: {v2}}}, labels: {{app: reviews, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews}}
spec:
  host: reviews
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
  - match: [{{headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: reviews, subset: v2}}}}]
  - match: [{{uri: {{prefix: /teapot}}}}]
    directResponse: {{status: 418, body: {{string: short and stout}}}}
  - route: [{{destination: {{host: reviews, subset: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: {gw}, name: http, protocol: HTTP}}, hosts: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: front}}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{{uri: {{prefix: /reviews}}}}]
    route: [{{destination: {{host: reviews, subset: v2}}}}]
"""


@pytest.fixture
def echoes() -> Iterator[dict[str, EchoServer]]:
    servers = start_echoes("reviews-v1", "reviews-v2", "app", "ext")
    yield servers
    stop_echoes(servers)


def test_sidecar_and_gateway_route_real_requests(echoes: dict[str, EchoServer], tmp_path: Path) -> None:
    """Header routing, direct response, passthrough, inbound forwarding and gateway 404 through real Envoy."""
    gw_port = free_port()
    port = lambda n: echoes[n].server_address[1]  # noqa: E731
    mesh = mesh_from_yaml(MESH.format(v1=port("reviews-v1"), v2=port("reviews-v2"), gw=gw_port))
    proxy_port, inbound_port = free_port(), free_port()
    proxy = Proxy(
        id="client.default",
        type="sidecar",
        name="client",
        namespace="default",
        labels={"app": "client"},
        http_proxy_port=proxy_port,
        inbound=(InboundPort(8000, "http", "HTTP", inbound_port, port("app")),),
    )
    sidecar = run_envoy(translate(proxy, mesh), tmp_path, "sidecar")
    gateway = run_envoy(translate(gateway_proxy(), mesh), tmp_path, "gateway")
    try:
        wait_listening(proxy_port, sidecar)
        wait_listening(gw_port, gateway)
        with httpx.Client(proxy=f"http://127.0.0.1:{proxy_port}", timeout=10) as client:
            assert client.get("http://reviews:9080/r").json()["workload"] == "reviews-v1"
            jason = client.get("http://reviews:9080/r", headers={"end-user": "jason"})
            assert jason.json()["workload"] == "reviews-v2"
            teapot = client.get("http://reviews.default.svc.cluster.local:9080/teapot")
            assert (teapot.status_code, teapot.text) == (418, "short and stout")
            passthrough = client.get(f"http://127.0.0.1:{port('ext')}/x")
            assert passthrough.json()["workload"] == "ext"
        inbound = httpx.get(f"http://127.0.0.1:{inbound_port}/in", timeout=10)
        assert inbound.json()["workload"] == "app"
        assert httpx.get(f"http://127.0.0.1:{gw_port}/reviews/1", timeout=10).json()["workload"] == "reviews-v2"
        assert httpx.get(f"http://127.0.0.1:{gw_port}/other", timeout=10).status_code == 404
    finally:
        stop(sidecar)
        stop(gateway)
