"""The Gateway API ingress tasks through real `mizzen gateway --for` Envoys, with the tasks' YAML unchanged:
Istio's "Kubernetes Gateway API" ingress task (a Gateway in istio-ingress, an HTTPRoute with hostnames, a
header filter) and the Gateway API tab of "Secure Gateways" (HTTPS termination, then mutual TLS).

An echo backend stands in for httpbin (Service port 8000 as in samples/httpbin/httpbin.yaml). Each
Gateway's Service (what Istio's automated deployment creates) is written by the test with free
targetPorts, so side-by-side test runs never fight over 8080/8443; `mizzen gateway --for` uses it as is.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest
from gwapi_gateway import GatewayFor, condition, gateway_service, gateway_status, get

from mizzen.testing.controlplane import cli_runner, controlplane, free_port
from mizzen.testing.mesh import Mesh
from mizzen.testing.tls import TlsFiles, make_certificates, make_client_certificate

pytestmark = pytest.mark.e2e

HTTPBIN = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, labels: {app: httpbin, service: httpbin}}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
"""
# "Configuring a Gateway", step 2 of the Gateway API ingress task.
INGRESS = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: gateway
  namespace: istio-ingress
spec:
  gatewayClassName: istio
  listeners:
  - name: default
    hostname: "*.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    backendRefs:
    - name: httpbin
      port: 8000
"""
# Step 6: the same route for /headers too, with a request header added.
INGRESS_HEADERS = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    - path:
        type: PathPrefix
        value: /headers
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: my-added-header
          value: added-value
    backendRefs:
    - name: httpbin
      port: 8000
"""
# Secure Gateways, "Configure a TLS ingress gateway for a single host" (Gateway API tab).
SECURE = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "httpbin.example.com"
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: mygateway
    namespace: istio-system
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /status
    - path:
        type: PathPrefix
        value: /delay
    backendRefs:
    - name: httpbin
      port: 8000
"""
# "Configure a mutual TLS ingress gateway", step 3 (Gateway API tab).
MUTUAL = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "httpbin.example.com"
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
      options:
        gateway.istio.io/tls-terminate-mode: MUTUAL
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with controlplane(tmp_path_factory.mktemp("gwapi-ingress")) as cp, Mesh(cp) as m:
        m.apply(HTTPBIN)
        m.run("httpbin", {"app": "httpbin", "version": "v1"}, ports=("http=8080",))
        yield m


def test_gateway_api_ingress_task(mesh: Mesh) -> None:
    """Programmed once `mizzen gateway --for` runs; /get reaches httpbin, /headers is 404 until the route
    adds it, and then the backend sees my-added-header (the task's outcomes)."""
    port = free_port()
    mesh.apply(gateway_service("gateway", "istio-ingress", {80: port}))
    mesh.apply(INGRESS)
    before = gateway_status(mesh, "gateway", "istio-ingress")
    programmed = condition(before, "Programmed")
    assert programmed[:2] == ("False", "AddressNotAssigned")
    assert "mizzen gateway --for gateway -n istio-ingress" in programmed[2]
    gw = GatewayFor(mesh.cp, "gateway", "istio-ingress")
    try:
        status = gw.wait_programmed(mesh)
        assert status["addresses"][0]["value"] == "gateway-istio.istio-ingress.svc.cluster.local"
        assert status["listeners"][0]["attachedRoutes"] == 1
        ok = get(port, "httpbin.example.com", "/get")
        assert ok.status_code == 200 and ok.json()["workload"] == "httpbin"
        assert get(port, "httpbin.example.com", "/headers").status_code == 404
        assert get(port, "other.example.com", "/get").status_code == 404  # not a hostname of the route
        mesh.apply(INGRESS_HEADERS)
        mesh.wait_synced()
        headers = get(port, "httpbin.example.com", "/headers").json()["headers"]
        assert headers["my-added-header"] == "added-value"
    finally:
        gw.stop()


def test_gateway_for_creates_the_gateway_service_when_there_is_none(mesh: Mesh) -> None:
    """Without a Service, `mizzen gateway --for` creates <name>-istio with the listener ports and serves them."""
    port = free_port()
    mesh.apply(
        f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: direct, namespace: web}}
spec:
  gatewayClassName: istio
  listeners: [{{name: http, port: {port}, protocol: HTTP, allowedRoutes: {{namespaces: {{from: All}}}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: direct}}
spec:
  parentRefs: [{{name: direct, namespace: web}}]
  rules: [{{backendRefs: [{{name: httpbin, port: 8000}}]}}]
"""
    )
    gw = GatewayFor(mesh.cp, "direct", "web")
    try:
        gw.wait_programmed(mesh)
        svc = mesh.http.get("/api/v1/namespaces/web/services/direct-istio").json()
        assert svc["spec"]["selector"] == {"gateway.networking.k8s.io/gateway-name": "direct"}
        assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, port)]
        assert get(port, "anything", "/").json()["workload"] == "httpbin"
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"), ["httpbin.example.com"])


def test_secure_gateway_simple_then_mutual(mesh: Mesh, certs: TlsFiles) -> None:
    """HTTPS Terminate with certificateRefs serves httpbin.example.com with that certificate; with
    tls-terminate-mode MUTUAL only a client the CA signed gets through (the task's outcomes)."""
    run = cli_runner(mesh.cp.env())
    created = run(
        "create", "secret", "tls", "httpbin-credential", "-n", "istio-system",
        "--cert", str(certs.cert), "--key", str(certs.key), "--ca-cert", str(certs.ca_cert),
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    port = free_port()
    mesh.apply(gateway_service("mygateway", "istio-system", {443: port}))
    mesh.apply(SECURE)
    gw = GatewayFor(mesh.cp, "mygateway", "istio-system")
    try:
        gw.wait_programmed(mesh)
        verify = ssl.create_default_context(cafile=str(certs.ca_cert))
        teapot = get(port, "httpbin.example.com", "/status/418", headers={"x-echo-status": "418"}, verify=verify,
                     scheme="https")  # fmt: skip
        assert teapot.status_code == 418
        mesh.apply(MUTUAL)
        mesh.wait_synced()
        with pytest.raises(httpx.TransportError):  # no client certificate: the handshake is refused
            get(port, "httpbin.example.com", "/status/418", verify=verify, scheme="https", retry=False)
        client_cert, client_key = make_client_certificate(certs, "client")
        with_cert = ssl.create_default_context(cafile=str(certs.ca_cert))
        with_cert.load_cert_chain(str(client_cert), str(client_key))
        ok = get(port, "httpbin.example.com", "/status/418", headers={"x-echo-status": "418"}, verify=with_cert,
                 scheme="https")  # fmt: skip
        assert ok.status_code == 418
    finally:
        gw.stop()
