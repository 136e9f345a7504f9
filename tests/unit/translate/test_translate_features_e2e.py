"""Issue-4 behaviours through real Envoy running translator output (static bootstrap): what a user sees
for redirect, rewrite, headers, mirroring, circuit breaking, outlier detection, consistent hashing,
TCP weights and REGISTRY_ONLY."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from translate_envoy import run_envoy, start_echoes, stop, stop_echoes, wait_listening

from mizzen.node import Proxy, Upstream
from mizzen.testing.controlplane import free_port
from mizzen.testing.echo import EchoServer
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate

pytestmark = pytest.mark.e2e

MESH = """apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: default}}
spec: {{selector: {{app: echo}}, ports: [{{name: http, port: 9080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: shadow, namespace: default}}
spec: {{selector: {{app: shadow}}, ports: [{{name: http, port: 9080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: mixed, namespace: default}}
spec: {{selector: {{app: mixed}}, ports: [{{name: http, port: 9080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: raw, namespace: default}}
spec: {{selector: {{app: echo}}, ports: [{{name: tcp, port: 7000}}]}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: e1}}
spec: {{address: 127.0.0.1, ports: {{http: {e1}, tcp: {e1}}}, labels: {{app: echo, version: v1}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: e2}}
spec: {{address: 127.0.0.1, ports: {{http: {e2}, tcp: {e2}}}, labels: {{app: echo, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: shadow}}
spec: {{address: 127.0.0.1, ports: {{http: {shadow}}}, labels: {{app: shadow}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: good}}
spec: {{address: 127.0.0.1, ports: {{http: {good}}}, labels: {{app: mixed}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: bad}}
spec: {{address: 127.0.0.1, ports: {{http: {bad}}}, labels: {{app: mixed}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo}}
spec:
  host: echo
  trafficPolicy:
    loadBalancer: {{consistentHash: {{httpHeaderName: x-user}}}}
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: raw}}
spec:
  host: raw
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: mixed}}
spec:
  host: mixed
  trafficPolicy:
    outlierDetection: {{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shadow}}
spec:
  host: shadow
  trafficPolicy:
    connectionPool:
      tcp: {{maxConnections: 1}}
      http: {{http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo}}
spec:
  hosts: [echo]
  http:
  - match: [{{uri: {{prefix: /redirect}}}}]
    redirect: {{uri: /new, authority: example.com, redirectCode: 302}}
  - match: [{{uri: {{prefix: /old}}}}]
    rewrite: {{uri: /new}}
    route: [{{destination: {{host: echo, subset: v1}}}}]
  - match: [{{uri: {{prefix: /headers}}}}]
    headers:
      request: {{set: {{x-added: yes-indeed}}, remove: [x-secret]}}
      response: {{set: {{x-from-mesh: "1"}}, remove: [content-type]}}
    route: [{{destination: {{host: echo, subset: v1}}}}]
  - match: [{{uri: {{prefix: /mirror}}}}]
    mirror: {{host: shadow}}
    route: [{{destination: {{host: echo, subset: v1}}}}]
  - route: [{{destination: {{host: echo}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: mixed}}
spec:
  hosts: [mixed]
  http:
  - retries: {{attempts: 0}}
    route: [{{destination: {{host: mixed}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: raw}}
spec:
  hosts: [raw]
  tcp:
  - route:
    - {{destination: {{host: raw, subset: v1}}, weight: 50}}
    - {{destination: {{host: raw, subset: v2}}, weight: 50}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: locked, namespace: default}}
spec:
  workloadSelector: {{labels: {{app: locked}}}}
  outboundTrafficPolicy: {{mode: REGISTRY_ONLY}}
"""


class _Failing(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(500)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    echoes = start_echoes("e1", "e2", "shadow", "good")
    bad = ThreadingHTTPServer(("127.0.0.1", free_port()), _Failing)
    bad.daemon_threads = True
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    port = {n: s.server_address[1] for n, s in echoes.items()}
    mesh = mesh_from_yaml(MESH.format(bad=bad.server_address[1], **port))
    tmp = tmp_path_factory.mktemp("envoy")
    client = Proxy(
        id="client.default",
        type="sidecar",
        name="client",
        namespace="default",
        labels={"app": "client"},
        http_proxy_port=free_port(),
        upstreams=(Upstream("raw", 7000, free_port()),),
    )
    locked = Proxy(
        id="locked.default",
        type="sidecar",
        name="locked",
        namespace="default",
        labels={"app": "locked"},
        http_proxy_port=free_port(),
    )
    procs = [run_envoy(translate(client, mesh), tmp, "client"), run_envoy(translate(locked, mesh), tmp, "locked")]
    try:
        wait_listening(client.http_proxy_port or 0, procs[0])
        wait_listening(locked.http_proxy_port or 0, procs[1])
        yield {"client": client, "locked": locked, "echoes": echoes, "ports": port}
    finally:
        for p in procs:
            stop(p)
        stop_echoes(echoes)
        bad.shutdown()
        bad.server_close()


def via(proxy: Proxy) -> httpx.Client:
    return httpx.Client(proxy=f"http://127.0.0.1:{proxy.http_proxy_port}", timeout=10, follow_redirects=False)


def test_redirect_status_and_location(env: dict[str, Any]) -> None:
    """A redirect answers 302 with the new authority and path in Location."""
    with via(env["client"]) as c:
        r = c.get("http://echo:9080/redirect/x")
    assert r.status_code == 302
    assert r.headers["location"] == "http://example.com/new"


def test_rewrite_seen_by_backend(env: dict[str, Any]) -> None:
    """rewrite.uri replaces the matched prefix before the request reaches the backend."""
    with via(env["client"]) as c:
        assert c.get("http://echo:9080/old/thing").json()["path"] == "/new/thing"


def test_headers_added_and_removed_both_directions(env: dict[str, Any]) -> None:
    """Request headers are set/removed before the backend; response headers set/removed before the client."""
    with via(env["client"]) as c:
        r = c.get("http://echo:9080/headers", headers={"x-secret": "s"})
    seen = r.json()["headers"]
    assert seen["x-added"] == "yes-indeed" and "x-secret" not in seen
    assert r.headers["x-from-mesh"] == "1" and "content-type" not in r.headers


def test_mirror_sends_a_copy_to_the_shadow(env: dict[str, Any]) -> None:
    """The client gets the primary's answer; the shadow backend receives a copy with a -shadow host."""
    shadow: EchoServer = env["echoes"]["shadow"]
    with via(env["client"]) as c:
        r = c.get("http://echo:9080/mirror/1")
    assert r.json()["workload"] == "e1"
    for _ in range(50):
        if shadow.counts.get("/mirror/1"):
            break
        threading.Event().wait(0.1)
    assert shadow.counts.get("/mirror/1") == 1


def test_consistent_hash_keeps_a_user_on_one_endpoint(env: dict[str, Any]) -> None:
    """A consistent-hash header keeps 100 requests of one user on one endpoint."""
    with via(env["client"]) as c:
        seen = {c.get("http://echo:9080/h", headers={"x-user": "alice"}).json()["workload"] for _ in range(100)}
    assert len(seen) == 1


def test_outlier_detection_ejects_the_failing_endpoint(env: dict[str, Any]) -> None:
    """After the failing endpoint answers 500 once it is ejected and later requests all succeed."""
    with via(env["client"]) as c:
        codes = [c.get("http://mixed:9080/x").status_code for _ in range(30)]
    assert 500 in codes[:10]
    assert codes[-15:] == [200] * 15


def test_circuit_breaking_overflows_with_503(env: dict[str, Any]) -> None:
    """maxConnections 1 / http1MaxPendingRequests 1 under 8 concurrent slow requests gives some 503s."""
    codes: list[int] = []

    def call() -> None:
        with via(env["client"]) as c:
            codes.append(c.get("http://shadow:9080/slow", headers={"x-echo-delay": "0.5"}).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = collections.Counter(codes)
    assert counts[503] >= 1 and counts[200] >= 1, counts


def test_tcp_weighted_route_splits_connections(env: dict[str, Any]) -> None:
    """A TCP route with 50/50 weights sends connections to both subsets."""
    port = env["client"].upstreams[0].listen_port
    seen = collections.Counter(
        httpx.get(f"http://127.0.0.1:{port}/t", timeout=10).json()["workload"] for _ in range(40)
    )
    assert set(seen) == {"e1", "e2"}, seen


def test_registry_only_blocks_unknown_hosts(env: dict[str, Any]) -> None:
    """A workload whose Sidecar says REGISTRY_ONLY gets 502 for an unknown host but reaches services."""
    with via(env["locked"]) as c:
        assert c.get(f"http://127.0.0.1:{env['ports']['good']}/x").status_code == 502
        assert c.get("http://echo:9080/ok").status_code == 200
