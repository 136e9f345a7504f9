"""Istio's "Egress Gateways" task, its YAML unchanged: HTTP and HTTPS (TLS passthrough) to
edition.cnn.com through ``mizzen gateway --labels istio=egressgateway`` (Istio's istio-egressgateway),
with an ingress gateway beside it on the same host. edition.cnn.com is the local stand-in site (plain
HTTP answers 301 to https://, as the real one does), in a sandbox.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from egress_world import GatewayProcess, World, statuses, world

from mizzen.testing import sandbox

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

SITES = {"edition.cnn.com": "127.0.0.1"}

HTTP_SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
"""

HTTP_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - edition.cnn.com
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
"""

HTTP_VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 80
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 80
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: 80
      weight: 100
"""

TLS_SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 443
    name: tls
    protocol: TLS
  resolution: DNS
"""

TLS_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: tls
      protocol: TLS
    hosts:
    - edition.cnn.com
    tls:
      mode: PASSTHROUGH
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - mesh
  - istio-egressgateway
  tls:
  - match:
    - gateways:
      - mesh
      port: 443
      sniHosts:
      - edition.cnn.com
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 443
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
      sniHosts:
      - edition.cnn.com
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: 443
      weight: 100
"""

CLEANUP = (
    "/apis/networking.istio.io/v1/namespaces/default/serviceentries/cnn",
    "/apis/networking.istio.io/v1/namespaces/default/gateways/istio-egressgateway",
    "/apis/networking.istio.io/v1/namespaces/default/virtualservices/direct-cnn-through-egress-gateway",
    "/apis/networking.istio.io/v1/namespaces/default/destinationrules/egressgateway-for-cnn",
)


def _politics(w: World, url: str) -> list[str]:
    r = w.sleep.curl("-sSL", "-o", "/dev/null", "-D", "-", url)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return statuses(r.stdout)


@sandbox.isolated(hosts=SITES)
def _egress_gateway(tmp: Path) -> None:
    with world(tmp, list(SITES), https_only=list(SITES)) as w:
        ingress = w.gateway("istio-ingressgateway", "istio=ingressgateway")
        egress = w.gateway("istio-egressgateway", "istio=egressgateway")
        targets = {
            name: sorted(p["targetPort"] for p in w.service(name)["spec"]["ports"])  # type: ignore[index]
            for name in ("istio-ingressgateway", "istio-egressgateway")
        }
        assert targets["istio-ingressgateway"] == [8080, 8443]  # Istio's, for the first gateway
        assert not set(targets["istio-ingressgateway"]) & set(targets["istio-egressgateway"])
        assert ingress.process.poll() is None and egress.process.poll() is None

        # Egress gateway for HTTP traffic.
        w.mesh.apply(HTTP_SERVICE_ENTRY)
        w.mesh.wait_synced()
        assert _politics(w, "http://edition.cnn.com/politics") == ["301", "200"]
        assert "GET /politics" not in egress.access_log()
        w.mesh.apply(HTTP_GATEWAY)
        w.mesh.apply(HTTP_VIRTUAL_SERVICE)
        w.mesh.wait_synced()
        before = w.site.count("edition.cnn.com", "/politics")
        assert _politics(w, "http://edition.cnn.com/politics") == ["301", "200"]
        assert w.site.count("edition.cnn.com", "/politics") == before + 2
        line = egress.wait_log('"GET /politics HTTP/2" 301')  # the sidecar speaks HTTP/2 to it, as in Istio
        assert "outbound|80||edition.cnn.com" in line and '"edition.cnn.com"' in line
        sidecar = w.sleep.wait_log("outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local")
        assert '"GET /politics HTTP/1.1" 301' in sidecar, sidecar

        for path in CLEANUP:
            w.mesh.delete(path)
        # Egress gateway for HTTPS traffic (TLS passthrough at the gateway).
        w.mesh.apply(TLS_SERVICE_ENTRY)
        w.mesh.wait_synced()
        assert _politics(w, "https://edition.cnn.com/politics") == ["200"]
        w.mesh.apply(TLS_GATEWAY)
        w.mesh.wait_synced()
        assert _politics(w, "https://edition.cnn.com/politics") == ["200"]
        line = egress.wait_log("outbound|443||edition.cnn.com")
        assert '"- - -"' in line and line.split()[-2] == "edition.cnn.com", line
        sidecar = w.sleep.wait_log("outbound|443|cnn|istio-egressgateway.istio-system.svc.cluster.local")
        assert '"- - -"' in sidecar and sidecar.split()[-2] == "edition.cnn.com", sidecar


def test_egress_gateway_http_and_https_passthrough_beside_an_ingress_gateway(tmp_path: Path) -> None:
    """Both parts of Istio's task: after the Gateway/DestinationRule/VirtualService, http:// and https://
    requests to edition.cnn.com leave through the egress gateway (its access log shows
    outbound|80||edition.cnn.com and, for TLS, "- - -" with the SNI), the answers as before (301 then
    200; 200); the egress and ingress gateway Services coexist on different target ports."""
    _egress_gateway(tmp_path)


ORIGINATION_SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
"""

ORIGINATION_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: http-port-for-tls-origination
      protocol: HTTP
    hosts:
    - edition.cnn.com
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
"""

ORIGINATION_ROUTES = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 80
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 80
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: 443
      weight: 100
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: originate-tls-for-edition-cnn-com
spec:
  host: edition.cnn.com
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: SIMPLE # initiates HTTPS for connections to edition.cnn.com
"""


@sandbox.isolated(hosts=SITES)
def _gateway_origination(tmp: Path) -> None:
    with world(tmp, list(SITES), https_only=list(SITES)) as w:
        egress = w.gateway("istio-egressgateway", "istio=egressgateway")
        w.mesh.apply(ORIGINATION_SERVICE_ENTRY)
        w.mesh.wait_synced()
        r = w.sleep.curl("-sL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics")
        assert statuses(r.stdout)[:1] == ["301"], r.stdout
        w.mesh.apply(ORIGINATION_GATEWAY)
        w.mesh.apply(ORIGINATION_ROUTES)
        w.mesh.wait_synced()
        before = w.site.count("edition.cnn.com", "/politics")
        r = w.sleep.curl("-sL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics")
        assert statuses(r.stdout) == ["200"], r.stdout
        assert w.site.count("edition.cnn.com", "/politics") == before + 1
        body = w.sleep.curl("-s", "http://edition.cnn.com/politics").stdout
        assert '"scheme": "https"' in body and '"sni": "edition.cnn.com"' in body, body
        line = egress.wait_log("outbound|443||edition.cnn.com")
        assert '"GET /politics HTTP/2" 200' in line, line


def test_egress_gateway_originates_tls(tmp_path: Path) -> None:
    """Istio's "Egress Gateways with TLS Origination" (its SIMPLE part): plain http:// from the app goes
    to the egress gateway, which originates TLS to edition.cnn.com:443 (200 at once, not 301; the site
    sees https with SNI edition.cnn.com; the gateway logs outbound|443||edition.cnn.com)."""
    _gateway_origination(tmp_path)


MUTUAL_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: https-port-for-tls-origination
      protocol: HTTPS
    hosts:
    - edition.cnn.com
    tls:
      mode: ISTIO_MUTUAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
      portLevelSettings:
      - port:
          number: 80
        tls:
          mode: ISTIO_MUTUAL
          sni: edition.cnn.com
"""


def _listener_handshakes(gw: GatewayProcess) -> int:
    """TLS handshakes the gateway's listeners completed (Envoy's listener ``ssl.handshake`` counters)."""
    state = json.loads((gw.home / "workloads" / f"{gw.namespace}.{gw.name}.json").read_text())
    transport = httpx.HTTPTransport(uds=state["adminSocket"])
    with httpx.Client(transport=transport, base_url="http://envoy-admin", timeout=10, trust_env=False) as admin:
        text = admin.get("/stats", params={"filter": r"^listener\..*ssl\.handshake$"}).text
    return sum(int(line.rsplit(":", 1)[1]) for line in text.splitlines() if line.strip())


@sandbox.isolated(hosts=SITES)
def _gateway_mutual_origination(tmp: Path) -> None:
    with world(tmp, list(SITES), https_only=list(SITES)) as w:
        egress = w.gateway("istio-egressgateway", "istio=egressgateway")
        w.mesh.apply(ORIGINATION_SERVICE_ENTRY)
        w.mesh.apply(MUTUAL_GATEWAY)
        w.mesh.apply(ORIGINATION_ROUTES)
        w.mesh.wait_synced()
        before = _listener_handshakes(egress)
        r = w.sleep.curl("-sL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics")
        assert statuses(r.stdout) == ["200"], r.stdout
        body = w.sleep.curl("-s", "http://edition.cnn.com/politics").stdout
        assert '"scheme": "https"' in body and '"sni": "edition.cnn.com"' in body, body
        line = egress.wait_log("outbound|443||edition.cnn.com")
        assert '"GET /politics HTTP/2" 200' in line, line
        sidecar = w.sleep.wait_log("outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local")
        assert '"GET /politics HTTP/1.1" 200' in sidecar, sidecar
        assert _listener_handshakes(egress) > before  # the sidecar -> gateway hop is TLS (Istio mTLS)
        # A client outside the mesh without a mesh certificate is refused by the gateway's port.
        port = next(p["targetPort"] for p in w.service("istio-egressgateway")["spec"]["ports"] if p["port"] == 80)  # type: ignore[index]
        plain = subprocess.run(
            ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", f"edition.cnn.com:{port}:127.0.0.1",
             f"https://edition.cnn.com:{port}/politics"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert plain.returncode != 0 and plain.stdout in ("", "000"), (plain.returncode, plain.stdout)


def test_egress_gateway_istio_mutual_then_simple_origination(tmp_path: Path) -> None:
    """Istio's current "Egress Gateways with TLS Origination": the sidecar sends ISTIO_MUTUAL (SNI
    edition.cnn.com) to the gateway's HTTPS server with tls ISTIO_MUTUAL on 80, which originates SIMPLE TLS
    to the site: 200 at once, the site sees https with that SNI, the gateway's listener did TLS handshakes,
    and a client without a mesh certificate cannot talk to that port."""
    _gateway_mutual_origination(tmp_path)
