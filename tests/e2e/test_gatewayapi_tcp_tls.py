"""The Gateway API tabs of Istio's TCP traffic shifting and ingress SNI passthrough tasks through a real
`mizzen gateway --for` Envoy, with the tasks' YAML unchanged: samples/tcp-echo/gateway-api
tcp-echo-all-v1.yaml then tcp-echo-20-v2.yaml (TCPRoute), and a TLS Passthrough listener with a TLSRoute.

Stand-ins: mizzen.testing.tcpecho plays tcp-echo v1/v2 (it greets with its name) and, with a
certificate, plays my-nginx (the TLS is the backend's own: passthrough). The gateway Services are
written by the test with free targetPorts (see test_gatewayapi_ingress.py).
"""

from __future__ import annotations

import collections
import socket
import ssl
import sys
import time
from collections.abc import Iterator

import pytest
from gwapi_gateway import GatewayFor, gateway_service

from mizzen.testing.controlplane import controlplane, free_port
from mizzen.testing.mesh import Mesh
from mizzen.testing.tls import TlsFiles, make_certificates

pytestmark = pytest.mark.e2e

TCP_ECHO = """
apiVersion: v1
kind: Service
metadata:
  name: tcp-echo
  labels:
    app: tcp-echo
    service: tcp-echo
spec:
  ports:
  - name: tcp
    port: 9000
  - name: tcp-other
    port: 9001
  selector:
    app: tcp-echo
"""
# samples/tcp-echo/gateway-api/tcp-echo-all-v1.yaml
ALL_V1 = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: tcp-echo-gateway
spec:
  gatewayClassName: istio
  listeners:
  - name: tcp-31400
    protocol: TCP
    port: 31400
    allowedRoutes:
      kinds:
      - kind: TCPRoute
---
apiVersion: v1
kind: Service
metadata:
  name: tcp-echo-v1
spec:
  ports:
  - port: 9000
    name: tcp
  selector:
    app: tcp-echo
    version: v1
---
apiVersion: v1
kind: Service
metadata:
  name: tcp-echo-v2
spec:
  ports:
  - port: 9000
    name: tcp
  selector:
    app: tcp-echo
    version: v2
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata:
  name: tcp-echo
spec:
  parentRefs:
  - name: tcp-echo-gateway
    sectionName: tcp-31400
  rules:
  - backendRefs:
    - name: tcp-echo-v1
      port: 9000
"""
# samples/tcp-echo/gateway-api/tcp-echo-20-v2.yaml
V2_20 = """
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata:
  name: tcp-echo
spec:
  parentRefs:
  - name: tcp-echo-gateway
    sectionName: tcp-31400
  rules:
  - backendRefs:
    - name: tcp-echo-v1
      port: 9000
      weight: 80
    - name: tcp-echo-v2
      port: 9000
      weight: 20
"""
MY_NGINX = """
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
  labels:
    run: my-nginx
spec:
  ports:
  - port: 443
    name: https
  selector:
    run: my-nginx
"""
# Ingress SNI passthrough, "Configure an ingress gateway" steps 2 and 4 (Gateway API tab).
PASSTHROUGH = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: mygateway
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "nginx.example.com"
    port: 443
    protocol: TLS
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: nginx
spec:
  parentRefs:
  - name: mygateway
  hostnames:
  - "nginx.example.com"
  rules:
  - backendRefs:
    - name: my-nginx
      port: 443
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"), ["nginx.example.com"])


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, certs: TlsFiles) -> Iterator[Mesh]:
    tcpecho = [sys.executable, "-m", "mizzen.testing.tcpecho", "--port", "{port}"]
    with controlplane(tmp_path_factory.mktemp("gwapi-tcp")) as cp, Mesh(cp) as m:
        m.apply(TCP_ECHO)
        m.apply(MY_NGINX)
        for v in ("v1", "v2"):
            m.run(f"tcp-echo-{v}", {"app": "tcp-echo", "version": v}, ports=("tcp=9000",), ready_path=None,
                  wait=False, command=tcpecho)  # fmt: skip
        m.run("my-nginx", {"run": "my-nginx"}, ports=("https=443",), ready_path=None, wait=False,
              command=[*tcpecho, "--cert", str(certs.cert), "--key", str(certs.key)])  # fmt: skip
        m.wait_running(*m.workloads)
        yield m


def greeting(port: int, tls: ssl.SSLContext | None = None, sni: str = "") -> str:
    """Connect to the gateway, read the backend's name (through TLS for passthrough), check the echo."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                sock = tls.wrap_socket(raw, server_hostname=sni) if tls else raw
                f = sock.makefile("rwb")
                name = f.readline().decode().strip()
                f.write(b"ping\n")
                f.flush()
                assert f.readline() == b"ping\n"
                return name
        except (ConnectionError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_tcp_traffic_shifting_all_to_v1_then_80_20(mesh: Mesh) -> None:
    """tcp-echo-all-v1.yaml sends every connection to v1; tcp-echo-20-v2.yaml about 20% to v2."""
    port = free_port()
    mesh.apply(gateway_service("tcp-echo-gateway", "default", {31400: port}))
    mesh.apply(ALL_V1)
    gw = GatewayFor(mesh.cp, "tcp-echo-gateway", "default")
    try:
        gw.wait_programmed(mesh)
        assert collections.Counter(greeting(port) for _ in range(20)) == {"tcp-echo-v1": 20}
        mesh.apply(V2_20)
        mesh.wait_synced()
        n = 200
        counts = collections.Counter(greeting(port) for _ in range(n))
        assert set(counts) == {"tcp-echo-v1", "tcp-echo-v2"}, counts
        assert abs(counts["tcp-echo-v2"] - n * 0.2) < 4.5 * (n * 0.2 * 0.8) ** 0.5, counts
    finally:
        gw.stop()


def test_tls_passthrough_routes_by_sni_to_the_backends_own_tls(mesh: Mesh, certs: TlsFiles) -> None:
    """The TLS listener passes nginx.example.com through to my-nginx, whose certificate the client verifies."""
    port = free_port()
    mesh.apply(gateway_service("mygateway", "default", {443: port}))
    mesh.apply(PASSTHROUGH)
    gw = GatewayFor(mesh.cp, "mygateway", "default")
    try:
        gw.wait_programmed(mesh)
        verify = ssl.create_default_context(cafile=str(certs.ca_cert))
        assert greeting(port, verify, "nginx.example.com") == "my-nginx"
        with (
            pytest.raises((ConnectionError, ssl.SSLError, OSError)),  # no route for another SNI name
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            verify.wrap_socket(raw, server_hostname="other.example.com") as s,
        ):
            s.recv(1)
    finally:
        gw.stop()
