"""A Gateway on port 80, as Istio's docs write it, served without root: 80 -> 8080 via the gateway Service."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from test_gateway_ingress import Gateway

from mizzen.testing.controlplane import RunningControlPlane, controlplane
from mizzen.testing.mesh import Mesh

pytestmark = pytest.mark.e2e

CONFIG = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [web]
  http:
  - route: [{destination: {host: echo, port: {number: 9080}}}]
"""
GW_CONFIG = "/api/mizzen/v1/proxies/istio-ingressgateway.istio-system/config"


@pytest.fixture
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    with controlplane(tmp_path_factory.mktemp("port80")) as c:
        yield c


def test_port_80_gateway_listens_on_8080_through_the_default_gateway_service(cp: RunningControlPlane) -> None:
    """`mizzen gateway` creates Istio's ingress Service (80->8080), so a port-80 Gateway binds 8080."""
    with socket.socket() as probe:  # the port Istio's gateway pod uses; the test needs it free
        if probe.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.fail("port 8080 is in use; this test needs it (Istio's gateway listens there)")
    with Mesh(cp) as mesh:
        mesh.apply(CONFIG)
        mesh.run("echo-v1", {"app": "echo", "version": "v1"})
        gw = Gateway(cp, cp.home / "gateway.log")
        try:
            deadline = time.monotonic() + 30
            while mesh.http.get(GW_CONFIG).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            svc = mesh.http.get("/api/v1/namespaces/istio-system/services/istio-ingressgateway").json()
            assert {(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {(80, 8080), (443, 8443)}
            mesh.wait_synced(allow_errors=True)
            listeners = mesh.http.get(GW_CONFIG).json()["listeners"]
            ports = {lis["address"]["socket_address"]["port_value"] for lis in listeners.values()}
            assert 8080 in ports and 80 not in ports, ports
            resp = httpx.get("http://127.0.0.1:8080/hello", trust_env=False, timeout=10)
            assert resp.status_code == 200 and resp.json()["workload"] == "echo-v1"
        finally:
            gw.stop()
