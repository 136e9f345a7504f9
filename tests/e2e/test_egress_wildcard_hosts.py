"""Istio's "Egress using Wildcard Hosts" task, its YAML unchanged, in a sandbox where en.wikipedia.org,
de.wikipedia.org and www.wikipedia.org are a local stand-in site (nothing leaves the test's namespaces).

Under REGISTRY_ONLY, a ServiceEntry for ``*.wikipedia.org`` (port 443 HTTPS, resolution NONE) opens every
language's site through the sidecar's CONNECT tunnel: the CONNECT authority and the SNI must both match the
wildcard, and the connection goes where the SNI's name resolves (Istio's original destination). Other hosts
stay blocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from egress_world import World, world
from gwapi_gateway import GatewayFor

from mizzen.testing import sandbox

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

SITES = {
    "en.wikipedia.org": "127.0.0.1",
    "de.wikipedia.org": "127.0.0.1",
    "www.wikipedia.org": "127.0.0.1",
    "www.google.com": "127.0.0.1",
    "edition.cnn.com": "127.0.0.1",
}
REGISTRY_ONLY = "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"

WIKIPEDIA = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: wikipedia
spec:
  hosts:
  - "*.wikipedia.org"
  ports:
  - number: 443
    name: https
    protocol: HTTPS
"""

GATEWAY = """\
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
      name: https
      protocol: HTTPS
    hosts:
    - "*.wikipedia.org"
    tls:
      mode: PASSTHROUGH
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-wikipedia
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
    - name: wikipedia
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: direct-wikipedia-through-egress-gateway
spec:
  hosts:
  - "*.wikipedia.org"
  gateways:
  - mesh
  - istio-egressgateway
  tls:
  - match:
    - gateways:
      - mesh
      port: 443
      sniHosts:
      - "*.wikipedia.org"
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: wikipedia
        port:
          number: 443
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
      sniHosts:
      - "*.wikipedia.org"
    route:
    - destination:
        host: www.wikipedia.org
        port:
          number: 443
      weight: 100
"""

WWW_WIKIPEDIA = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: www-wikipedia
spec:
  hosts:
  - www.wikipedia.org
  ports:
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
"""

GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: wikipedia-egress-gateway
  annotations:
    networking.istio.io/service-type: ClusterIP
spec:
  gatewayClassName: istio
  listeners:
  - name: tls
    hostname: "*.wikipedia.org"
    port: 443
    protocol: TLS
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: direct-wikipedia-to-egress-gateway
spec:
  parentRefs:
  - kind: ServiceEntry
    group: networking.istio.io
    name: wikipedia
  rules:
  - backendRefs:
    - name: wikipedia-egress-gateway-istio
      port: 443
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: forward-wikipedia-from-egress-gateway
spec:
  parentRefs:
  - name: wikipedia-egress-gateway
  hostnames:
  - "*.wikipedia.org"
  rules:
  - backendRefs:
    - kind: Hostname
      group: networking.istio.io
      name: www.wikipedia.org
      port: 443
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: wikipedia
spec:
  hosts:
  - "*.wikipedia.org"
  ports:
  - number: 443
    name: https
    protocol: HTTPS
"""

EN_PAGE, DE_PAGE = "/wiki/Main_Page", "/wiki/Wikipedia:Hauptseite"


def _page(w: World, url: str) -> dict[str, object]:
    """What the stand-in site saw for ``curl -s URL`` (the task greps the page's title)."""
    r = w.sleep.curl("-s", url)
    assert r.returncode == 0, (url, r.returncode, r.stderr)
    answer: dict[str, object] = json.loads(r.stdout)
    return answer


def _mizzen(w: World, *args: str) -> str:
    """``mizzen ARGS`` (the CLI as users run it) against the world's control plane; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", *args], env={**os.environ, **w.mesh.cp.env()},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _cx_total(w: World, gateway: str) -> int:
    """The task's counter (``pilot-agent request GET clusters | grep '^outbound|443||www.wikipedia.org.*cx_total:'``)
    from the gateway's Envoy stats: connections its cluster for www.wikipedia.org opened."""
    pattern = r"^cluster\.outbound\|443\|\|www\.wikipedia\.org\.upstream_cx_total$"
    stats = _mizzen(w, "proxy-config", "envoy-stats", gateway, "--filter", pattern).split()
    assert stats[:1] == ["cluster.outbound|443||www.wikipedia.org.upstream_cx_total:"], stats
    return int(stats[1])


def _blocked(w: World) -> None:
    """The task's check of the blocking-by-default policy: curl exits with 35, nothing reaches a site."""
    for url in ("https://www.google.com", "https://edition.cnn.com", "https://en.wikipedia.org"):
        r = w.sleep.curl("-sS", "-I", url)
        assert r.returncode == 35, (url, r.returncode, r.stdout, r.stderr)
    assert w.site.count("en.wikipedia.org", "/") == 0


@sandbox.isolated(hosts=SITES)
def _direct(tmp: Path) -> None:
    with world(tmp, list(SITES), mesh_yaml=REGISTRY_ONLY) as w:
        _blocked(w)
        w.mesh.apply(WIKIPEDIA)
        w.mesh.wait_synced()
        # Istio's cluster for the wildcard; it connects where the SNI's name resolves (Istio: ORIGINAL_DST).
        rows = [r.split() for r in _mizzen(w, "proxy-config", "cluster", "sleep.default").splitlines()]
        assert ["*.wikipedia.org", "443", "-", "outbound", "DYNAMIC_FORWARD_PROXY"] in rows, rows
        listeners = _mizzen(w, "proxy-config", "listener", "sleep.default")
        assert "SNI: *.wikipedia.org" in listeners and "Cluster: outbound|443||*.wikipedia.org" in listeners
        en = _page(w, "https://en.wikipedia.org" + EN_PAGE)
        de = _page(w, "https://de.wikipedia.org" + DE_PAGE)
        assert (en["sni"], en["host"], en["path"]) == ("en.wikipedia.org", "en.wikipedia.org", EN_PAGE), en
        assert (de["sni"], de["host"], de["path"]) == ("de.wikipedia.org", "de.wikipedia.org", DE_PAGE), de
        line = w.sleep.wait_log("internal_client_address/ de.wikipedia.org")
        assert line.startswith("[") and '"- - -" 0 - ' in line and '"127.0.0.1:443"' in line, line
        assert line.split()[-2] == "de.wikipedia.org", line  # requested_server_name, then the route name
        # One line per connection, as Istio logs TLS; the CONNECT that carried it is not logged.
        tunnelled = [x for x in w.sleep.access_log().splitlines() if "outbound|443||*.wikipedia.org" in x]
        assert [x.split()[-2] for x in tunnelled] == ["en.wikipedia.org", "de.wikipedia.org"], tunnelled
        assert "CONNECT" not in w.sleep.access_log()
        for url in ("https://www.google.com", "https://edition.cnn.com"):
            r = w.sleep.curl("-sS", "-I", url)
            assert r.returncode == 35, ("a wildcard opens only its own domain", url, r.returncode)
        # The CONNECT authority and the SNI must both be in the domain: a wikipedia name in one of them
        # does not smuggle a connection to another host.
        smuggled = w.sleep.curl("-sS", "-I", "--connect-to", "www.google.com:443:en.wikipedia.org:443",
                                "https://www.google.com")  # fmt: skip
        assert smuggled.returncode != 0 and w.site.count("www.google.com", "/") == 0, smuggled


def test_wildcard_service_entry_opens_every_host_of_the_domain(tmp_path: Path) -> None:
    """REGISTRY_ONLY blocks HTTPS (curl 35); the task's ServiceEntry for *.wikipedia.org then lets
    en.wikipedia.org and de.wikipedia.org answer (the site sees their SNI and Host), each logged once as
    Istio logs TLS ("- - -", outbound|443||*.wikipedia.org, the SNI); other hosts stay blocked."""
    _direct(tmp_path)


@sandbox.isolated(hosts=SITES)
def _through_gateway(tmp: Path) -> None:
    with world(tmp, list(SITES), mesh_yaml=REGISTRY_ONLY) as w:
        egress = w.gateway("istio-egressgateway", "istio=egressgateway")
        w.mesh.apply(GATEWAY)
        w.mesh.wait_synced()
        w.mesh.apply(WWW_WIKIPEDIA)
        w.mesh.wait_synced()
        en = _page(w, "https://en.wikipedia.org" + EN_PAGE)
        de = _page(w, "https://de.wikipedia.org" + DE_PAGE)
        assert (en["sni"], en["host"], en["path"]) == ("en.wikipedia.org", "en.wikipedia.org", EN_PAGE), en
        assert (de["sni"], de["host"], de["path"]) == ("de.wikipedia.org", "de.wikipedia.org", DE_PAGE), de
        # The sidecar sends both to the gateway's subset; the gateway passes them to www.wikipedia.org.
        to_gateway = "outbound|443|wikipedia|istio-egressgateway.istio-system.svc.cluster.local"
        w.sleep.wait_log("internal_client_address/ de.wikipedia.org")
        sidecar = [x for x in w.sleep.access_log().splitlines() if to_gateway in x]
        assert [x.split()[-2] for x in sidecar] == ["en.wikipedia.org", "de.wikipedia.org"], sidecar
        egress.wait_log(" de.wikipedia.org ")
        passed = [x for x in egress.access_log().splitlines() if "outbound|443||www.wikipedia.org" in x]
        assert [x.split()[-2] for x in passed] == ["en.wikipedia.org", "de.wikipedia.org"], passed
        assert all('"- - -" 0 - ' in x and '"127.0.0.1:443"' in x for x in passed), passed
        assert _cx_total(w, "istio-egressgateway.istio-system") == 2
        # REGISTRY_ONLY still blocks hosts outside the wildcard.
        blocked = w.sleep.curl("-sS", "-I", "https://www.google.com")
        assert blocked.returncode == 35 and w.site.count("www.google.com", "/") == 0, blocked


def test_wildcard_through_an_egress_gateway_to_a_single_hosting_server(tmp_path: Path) -> None:
    """The task's second part: without the wildcard ServiceEntry, the Gateway/DestinationRule/
    VirtualService send *.wikipedia.org through istio-egressgateway (TLS passthrough) to www.wikipedia.org's
    servers, which serve every language; the gateway's cluster outbound|443||www.wikipedia.org counts
    both connections."""
    _through_gateway(tmp_path)


@sandbox.isolated(hosts=SITES)
def _allow_any(tmp: Path) -> None:
    with world(tmp, list(SITES)) as w:
        w.mesh.apply(WIKIPEDIA)
        w.mesh.wait_synced()
        google = w.sleep.curl("-sS", "-o", "/dev/null", "-w", "%{http_code}", "https://www.google.com/")
        assert (google.returncode, google.stdout) == (0, "200"), google
        en = _page(w, "https://en.wikipedia.org" + EN_PAGE)
        assert en["sni"] == "en.wikipedia.org", en
        w.sleep.wait_log("internal_client_address/ en.wikipedia.org")
        line = w.sleep.wait_log(" PassthroughCluster ")
        assert '"- - -" 0 - ' in line and '"127.0.0.1:443"' in line, line
        assert line.split()[-2] == "www.google.com", line  # the SNI, read inside the tunnel
        # A tunnel to another port, not TLS (curl -p: CONNECT for plain HTTP), reaches the CONNECT target.
        plain = w.sleep.curl("-sS", "-p", "-o", "/dev/null", "-w", "%{http_code}", "http://edition.cnn.com/")
        assert (plain.returncode, plain.stdout) == (0, "200"), plain
        line = w.sleep.wait_log('"127.0.0.1:80" PassthroughCluster')
        assert '"- - -" 0 - ' in line and line.split()[-2] == "-", line  # no SNI to log
        assert "CONNECT" not in w.sleep.access_log()


def test_allow_any_passthrough_on_a_tls_port_is_logged_as_istio_logs_it(tmp_path: Path) -> None:
    """Under ALLOW_ANY with the wildcard ServiceEntry, https://www.google.com still passes through and the
    tunnel is logged as Istio logs passthrough TLS ("- - -", PassthroughCluster, the SNI www.google.com);
    a tunnel to port 80 reaches its CONNECT target too; no CONNECT line is logged."""
    _allow_any(tmp_path)


@sandbox.isolated(hosts=SITES)
def _through_gateway_api(tmp: Path) -> None:
    with world(tmp, list(SITES), mesh_yaml=REGISTRY_ONLY) as w:
        w.mesh.apply(GATEWAY_API)
        gateway = GatewayFor(w.mesh.cp, "wikipedia-egress-gateway", "default")
        try:
            gateway.wait_programmed(w.mesh)
            w.mesh.apply(WWW_WIKIPEDIA)
            w.mesh.wait_synced()
            en = _page(w, "https://en.wikipedia.org" + EN_PAGE)
            de = _page(w, "https://de.wikipedia.org" + DE_PAGE)
            assert (en["sni"], en["host"]) == ("en.wikipedia.org", "en.wikipedia.org"), en
            assert (de["sni"], de["host"]) == ("de.wikipedia.org", "de.wikipedia.org"), de
            to_gateway = "outbound|443||wikipedia-egress-gateway-istio.default.svc.cluster.local"
            w.sleep.wait_log("internal_client_address/ de.wikipedia.org")
            sidecar = [x for x in w.sleep.access_log().splitlines() if to_gateway in x]
            assert [x.split()[-2] for x in sidecar] == ["en.wikipedia.org", "de.wikipedia.org"], sidecar
            assert _cx_total(w, "wikipedia-egress-gateway-istio.default") == 2
        finally:
            gateway.stop()


def test_wildcard_through_a_gateway_api_egress_gateway(tmp_path: Path) -> None:
    """The task's second part, Gateway API tab: a TLS Passthrough Gateway, a TLSRoute on the wildcard
    ServiceEntry to its Service and one from it to www.wikipedia.org (a Hostname backend) carry
    en./de.wikipedia.org; the gateway's outbound|443||www.wikipedia.org counts both connections."""
    _through_gateway_api(tmp_path)
