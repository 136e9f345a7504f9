"""Istio's "Kubernetes Services for Egress Traffic", its part "Use a Kubernetes service with endpoints to
access an external service": the task's Service, Endpoints and DestinationRule unchanged, in a sandbox
whose loopback carries the task's two Wikipedia addresses (198.35.26.96, 208.80.153.224), each served by
a stand-in site for en.wikipedia.org. (The ExternalName part is in ``test_egress_external_services.py``.)

One command differs, and why: the task reaches the Service's cluster IP with
``curl --resolve en.wikipedia.org:443:<clusterIP> https://en.wikipedia.org/...`` from a pod behind
iptables. A Mizzen app reaches the mesh through its sidecar's ``HTTPS_PROXY``, and Mizzen's Services
have no cluster IP: the CONNECT authority stands for the VIP. ``--connect-to
en.wikipedia.org:443:my-wikipedia.default.svc.cluster.local:443`` is curl's way of saying the same thing
through a proxy (the CONNECT names the Service, TLS and Host still say en.wikipedia.org).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from egress_world import World, world

from mizzen.testing import sandbox
from mizzen.testing.external import ExternalSite

REASON = sandbox.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")]

WIKIPEDIA = ("198.35.26.96", "208.80.153.224")  # the task's Endpoints, local to the sandbox
# en.wikipedia.org itself resolves to the world's other site ("outside"): traffic that left by SNI
# instead of through my-wikipedia's endpoints would be seen there.
SITES = {"en.wikipedia.org": "127.0.0.1"}

SERVICE = """\
kind: Service
apiVersion: v1
metadata:
  name: my-wikipedia
spec:
  ports:
  - protocol: TCP
    port: 443
    name: tls
"""

ENDPOINTS = """\
kind: Endpoints
apiVersion: v1
metadata:
  name: my-wikipedia
subsets:
  - addresses:
      - ip: 198.35.26.96
      - ip: 208.80.153.224
    ports:
      - port: 443
        name: tls
"""

DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: my-wikipedia
spec:
  host: my-wikipedia.default.svc.cluster.local
  trafficPolicy:
    tls:
      mode: DISABLE
"""

ENDPOINT_SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: my-wikipedia-abc12
  labels:
    kubernetes.io/service-name: my-wikipedia
addressType: IPv4
endpoints:
- addresses: [198.35.26.96]
ports:
- name: tls
  port: 443
"""

CONNECT_TO = "en.wikipedia.org:443:my-wikipedia.default.svc.cluster.local:443"
MAIN_PAGE = "https://en.wikipedia.org/wiki/Main_Page"


@sandbox.isolated(hosts=SITES, addresses=WIKIPEDIA)
def _service_with_endpoints(tmp: Path) -> None:
    with world(tmp, list(SITES)) as w:
        sites = [ExternalSite(SITES, w.certs, address=a, name=f"wikipedia-{a}").start() for a in WIKIPEDIA]
        try:
            _run_task(w)
        finally:
            for site in sites:
                site.stop()


def _run_task(w: World) -> None:
    w.mesh.apply(SERVICE)
    w.mesh.wait_synced()
    before = w.sleep.curl("-sS", "--connect-to", CONNECT_TO, MAIN_PAGE)
    assert before.returncode != 0, before.stdout  # a Service without endpoints: the tunnel is refused

    w.mesh.apply(ENDPOINTS)
    w.mesh.apply(DESTINATION_RULE)
    w.mesh.wait_synced()
    seen: set[str] = set()
    for _ in range(40):  # both addresses serve: load balancing reaches each within a few requests
        r = w.sleep.curl("-sS", "--connect-to", CONNECT_TO, MAIN_PAGE)
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout)
        assert (answer["scheme"], answer["sni"], answer["host"]) == ("https", "en.wikipedia.org", "en.wikipedia.org")
        assert answer["path"] == "/wiki/Main_Page"
        seen.add(answer["site"])
        if len(seen) == len(WIKIPEDIA):
            break
    assert seen == {f"wikipedia-{a}" for a in WIKIPEDIA}
    assert w.site.count("en.wikipedia.org", "/wiki/Main_Page") == 0  # nothing went by SNI to the real name
    line = w.sleep.wait_log('"CONNECT - HTTP/1.1" 200')
    assert " outbound|443||my-wikipedia.default.svc.cluster.local " in line, line
    assert any(f'"{a}:443"' in line for a in WIKIPEDIA), line

    # The task's cleanup, Endpoints first: without them the Service has no endpoints again.
    w.mesh.delete("/api/v1/namespaces/default/endpoints/my-wikipedia")
    w.mesh.wait_synced()
    after = w.sleep.curl("-sS", "--connect-to", CONNECT_TO, MAIN_PAGE)
    assert after.returncode != 0, after.stdout

    # Not in the task: the EndpointSlice form of the same thing, with one of the addresses.
    w.mesh.apply(ENDPOINT_SLICE)
    w.mesh.wait_synced()
    for _ in range(5):
        r = w.sleep.curl("-sS", "--connect-to", CONNECT_TO, MAIN_PAGE)
        assert r.returncode == 0 and json.loads(r.stdout)["site"] == f"wikipedia-{WIKIPEDIA[0]}", (r.stdout, r.stderr)


def test_service_with_endpoints_reaches_the_external_addresses(tmp_path: Path) -> None:
    """The task's selector-less Service my-wikipedia gets its endpoints from the Endpoints of its name:
    TLS for en.wikipedia.org sent to the Service reaches both of the task's addresses (the stand-in sees
    SNI and Host en.wikipedia.org), the sidecar logs outbound|443||my-wikipedia... with one of them as
    upstream; without the Endpoints (before they exist, after they are deleted) the tunnel fails; an
    EndpointSlice labelled for the Service then serves it with its one address."""
    _service_with_endpoints(tmp_path)
