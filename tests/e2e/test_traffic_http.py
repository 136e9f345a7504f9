"""VirtualService HTTP actions through real Envoy sidecars started by `mizzen run` (issue 4): redirect,
rewrite, directResponse, header manipulation, mirroring, CORS, exportTo and sourceNamespace, each checked as a
user would see it; and a Sidecar resource scoping one workload's egress.

One control plane and four workloads (a client, the echo backend, a shadow backend and a second client in
namespace `other`) are shared by the module; each test applies the VirtualService it needs, waits until every
proxy ACKed it, and sends requests through the client's sidecar exactly as an app with HTTP_PROXY would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mizzen.testing.controlplane import controlplane, free_port
from mizzen.testing.echo import serve
from mizzen.testing.mesh import Mesh, Workload
from mizzen.testing.waits import until_created_in_the_past

pytestmark = pytest.mark.e2e

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: shadow}
spec: {selector: {app: shadow}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: client}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
---
# Every workload is selected by a Service: a WorkloadEntry no Service selects does not advance the control
# plane's pushedRevision, so `converged` (and wait_synced) would wait for the next push.
apiVersion: v1
kind: Service
metadata: {name: client, namespace: other}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
"""

VS_PATH = "/apis/networking.istio.io/v1/namespaces/default/virtualservices/echo"


def _vs(http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo}}
spec:
  hosts: [echo]
  http:
{http}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with controlplane(tmp_path_factory.mktemp("traffic-http")) as cp, Mesh(cp) as m:
        m.apply(SERVICES)
        m.run("client", {"app": "client", "version": "v1"}, namespace="other", wait=False)
        m.run_all(
            [
                ("client", {"app": "client", "version": "v1"}),
                ("echo-v1", {"app": "echo", "version": "v1"}),
                ("shadow", {"app": "shadow", "version": "v1"}),
            ]
        )
        m.wait_running(*m.workloads)
        m.wait_synced()
        yield m


@pytest.fixture
def client(mesh: Mesh) -> Iterator[Workload]:
    yield next(w for w in mesh.workloads if w.name == "client" and w.namespace == "default")
    if mesh.http.get(VS_PATH).status_code == 200:
        mesh.delete(VS_PATH)
    mesh.wait_synced()


def _apply(mesh: Mesh, http: str) -> None:
    mesh.apply(_vs(http))
    mesh.wait_synced()


def test_redirects_answer_with_status_and_location(mesh: Mesh, client: Workload) -> None:
    """redirect uri/authority/scheme+port give 301/302/308 with the Location Istio's Envoy route builds."""
    _apply(
        mesh,
        """  - match: [{uri: {prefix: /moved}}]
    redirect: {uri: /new-home}
  - match: [{uri: {prefix: /elsewhere}}]
    redirect: {authority: other.example.com, redirectCode: 302}
  - match: [{uri: {prefix: /secure}}]
    redirect: {scheme: https, port: 8443, uri: /tls-home, redirectCode: 308}
  - match: [{uri: {prefix: /default-port}}]
    redirect: {scheme: https, derivePort: FROM_PROTOCOL_DEFAULT}
  - match: [{uri: {prefix: /same-port}}]
    redirect: {authority: mirror.example.com, derivePort: FROM_REQUEST_PORT}
  - route: [{destination: {host: echo}}]""",
    )
    with client.client() as c:
        moved = c.get("http://echo:9080/moved?x=1")
        elsewhere = c.get("http://echo:9080/elsewhere/page")
        secure = c.get("http://echo:9080/secure")
        default_port = c.get("http://echo:9080/default-port")
        same_port = c.get("http://echo:9080/same-port")
        normal = c.get("http://echo:9080/stays")
    assert (moved.status_code, moved.headers["location"]) == (301, "http://echo:9080/new-home?x=1")
    assert (elsewhere.status_code, elsewhere.headers["location"]) == (302, "http://other.example.com/elsewhere/page")
    assert (secure.status_code, secure.headers["location"]) == (308, "https://echo:8443/tls-home")
    # FROM_PROTOCOL_DEFAULT: "443 for HTTPS" (Istio's API doc), written out or implied by the scheme.
    target = httpx.URL(default_port.headers["location"])
    assert default_port.status_code == 301
    assert (target.scheme, target.host, target.port or 443, target.path) == ("https", "echo", 443, "/default-port")
    assert (same_port.status_code, same_port.headers["location"]) == (301, "http://mirror.example.com:9080/same-port")
    assert normal.status_code == 200 and normal.json()["path"] == "/stays"


def test_rewrites_are_seen_by_the_backend(mesh: Mesh, client: Workload) -> None:
    """rewrite.uri replaces the matched prefix, uriRegexRewrite substitutes, authority replaces Host."""
    _apply(
        mesh,
        """  - match: [{uri: {prefix: /old-api/}}]
    rewrite: {uri: /api/v2/, authority: backend.internal}
    route: [{destination: {host: echo}}]
  - match: [{uri: {regex: "/items/[0-9]+/detail"}}]
    rewrite: {uriRegexRewrite: {match: "^/items/([0-9]+)/detail$", rewrite: "/detail/\\\\1"}}
    route: [{destination: {host: echo}}]
  - route: [{destination: {host: echo}}]""",
    )
    with client.client() as c:
        prefixed = c.get("http://echo:9080/old-api/users?id=7").json()
        regexed = c.get("http://echo:9080/items/42/detail").json()
        untouched = c.get("http://echo:9080/other").json()
    assert (prefixed["path"], prefixed["query"], prefixed["host"]) == ("/api/v2/users", {"id": "7"}, "backend.internal")
    assert regexed["path"] == "/detail/42"
    assert (untouched["path"], untouched["host"]) == ("/other", "echo:9080")


def test_direct_response_answers_without_a_backend(mesh: Mesh, client: Workload) -> None:
    """directResponse answers its status and body string; the backend never sees the request."""
    marker = f"/direct-{uuid.uuid4().hex[:8]}"
    _apply(
        mesh,
        f"""  - match: [{{uri: {{prefix: {marker}}}}}]
    directResponse: {{status: 418, body: {{string: "short and stout"}}}}
  - match: [{{uri: {{exact: /gone}}}}]
    directResponse: {{status: 410}}
  - route: [{{destination: {{host: echo}}}}]""",
    )
    with client.client() as c:
        teapot = c.get(f"http://echo:9080{marker}")
        gone = c.get("http://echo:9080/gone")
        counts = c.get("http://echo:9080/__count").json()["counts"]
    assert (teapot.status_code, teapot.text) == (418, "short and stout")
    assert (gone.status_code, gone.text) == (410, "")
    assert marker not in counts and "/gone" not in counts


def test_request_and_response_headers_at_route_and_destination_level(mesh: Mesh, client: Workload) -> None:
    """headers set/add/remove change what the backend receives and what the client gets back."""
    _apply(
        mesh,
        """  - headers:
      request:
        set: {x-set: route-set}
        add: {x-add: route-add}
        remove: [x-drop]
      response:
        set: {x-resp-set: route-set}
        add: {x-resp-add: route-add}
        remove: [content-type]
    route:
    - destination: {host: echo}
      headers:
        request: {set: {x-dest: dest-set}, remove: [x-dest-drop]}
        response: {add: {x-dest-resp: dest-add}, remove: [x-envoy-upstream-service-time]}""",
    )
    sent = {"x-set": "client", "x-add": "client", "x-drop": "secret", "x-dest-drop": "secret", "x-keep": "k"}
    r = client.get("http://echo:9080/headers", headers=sent)
    seen: dict[str, Any] = r.json()["headers"]
    assert seen["x-set"] == "route-set"
    assert seen["x-add"] == "client,route-add"  # appended, not replaced
    assert seen["x-dest"] == "dest-set"
    assert seen["x-keep"] == "k"
    assert "x-drop" not in seen and "x-dest-drop" not in seen
    assert r.headers["x-resp-set"] == "route-set"
    assert r.headers["x-resp-add"] == "route-add"
    assert r.headers["x-dest-resp"] == "dest-add"
    assert "content-type" not in r.headers
    assert "x-envoy-upstream-service-time" not in r.headers


def test_destination_headers_follow_the_chosen_weighted_destination(mesh: Mesh, client: Workload) -> None:
    """With two weighted destinations, each destination's header operations apply only when it is chosen."""
    _apply(
        mesh,
        """  - route:
    - destination: {host: echo}
      weight: 50
      headers: {request: {set: {x-picked: echo}}, response: {add: {x-served-by: echo}}}
    - destination: {host: shadow}
      weight: 50
      headers: {request: {set: {x-picked: shadow}}, response: {add: {x-served-by: shadow}}}""",
    )
    with client.client() as c:
        answers = [c.get("http://echo:9080/weighted") for _ in range(40)]
    seen = {(r.json()["workload"], r.json()["headers"]["x-picked"], r.headers["x-served-by"]) for r in answers}
    assert seen == {("echo-v1", "echo", "echo"), ("shadow", "shadow", "shadow")}, seen


def test_export_to_own_namespace_hides_the_virtual_service_from_others(mesh: Mesh, client: Workload) -> None:
    """exportTo ["."]: clients in the VS's namespace get its directResponse, a client in `other` gets the
    default route to echo."""
    other = next(w for w in mesh.workloads if w.namespace == "other")
    _apply(mesh, """  - directResponse: {status: 418, body: {string: "local only"}}""" + '\n  exportTo: ["."]')
    assert client.get("http://echo.default:9080/scoped").status_code == 418
    seen = other.get("http://echo.default:9080/scoped")
    assert (seen.status_code, seen.json()["workload"]) == (200, "echo-v1")


def test_source_namespace_match_applies_to_that_namespace_only(mesh: Mesh, client: Workload) -> None:
    """match.sourceNamespace other: only the client in `other` gets that rule's answer."""
    other = next(w for w in mesh.workloads if w.namespace == "other")
    _apply(
        mesh,
        """  - match: [{sourceNamespace: other}]
    directResponse: {status: 403, body: {string: "not from other"}}
  - route: [{destination: {host: echo}}]""",
    )
    denied = other.get("http://echo.default:9080/")
    assert (denied.status_code, denied.text) == (403, "not from other")
    assert client.get("http://echo.default:9080/").json()["workload"] == "echo-v1"


def test_delegate_virtual_service_handles_the_delegated_paths(mesh: Mesh, client: Workload) -> None:
    """A root VS delegating /api to a hostless VS: its rules (within the root match) answer /api requests."""
    delegate_path = "/apis/networking.istio.io/v1/namespaces/default/virtualservices/echo-api"
    mesh.apply("""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo-api}
spec:
  http:
  - match: [{uri: {prefix: /api/v1}}]
    directResponse: {status: 200, body: {string: "api v1 from the delegate"}}
  - route: [{destination: {host: echo}}]
    headers: {response: {set: {x-delegate: echo-api}}}
""")
    try:
        _apply(
            mesh,
            """  - match: [{uri: {prefix: /api}}]
    delegate: {name: echo-api}
  - route: [{destination: {host: echo}}]""",
        )
        with client.client() as c:
            v1, v2, plain = (
                c.get("http://echo:9080/api/v1/x"),
                c.get("http://echo:9080/api/v2"),
                c.get("http://echo:9080/x"),
            )
        assert v1.text == "api v1 from the delegate"
        assert (v2.json()["path"], v2.headers["x-delegate"]) == ("/api/v2", "echo-api")
        assert plain.json()["path"] == "/x" and "x-delegate" not in plain.headers
    finally:
        mesh.delete(delegate_path)


def test_first_virtual_service_for_a_host_wins_on_sidecars(mesh: Mesh, client: Workload) -> None:
    """Two VirtualServices for one host: sidecars use the older one (Istio does not merge them for sidecars)."""
    later_path = "/apis/networking.istio.io/v1/namespaces/default/virtualservices/a-echo-later"
    _apply(mesh, """  - directResponse: {status: 201, body: {string: first}}""")
    until_created_in_the_past(mesh.http, "/apis/networking.istio.io/v1/namespaces/default/virtualservices/echo")
    mesh.apply("""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a-echo-later}  # sorts before "echo" by name: only age decides
spec:
  hosts: [echo]
  http: [{directResponse: {status: 202, body: {string: second}}}]
""")
    try:
        mesh.wait_synced()
        r = client.get("http://echo:9080/")
        assert (r.status_code, r.text) == (201, "first")
    finally:
        mesh.delete(later_path)


def _shadow_count(client: Workload, path: str, expected: int, timeout: float = 5.0) -> int:
    """The shadow's count for ``path`` once it reaches ``expected`` (mirroring is fire-and-forget)."""
    deadline = time.monotonic() + timeout
    while True:
        count = int(client.get("http://shadow:9080/__count").json()["counts"].get(path, 0))
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def _until_no_mirror_in_flight(client: Workload, timeout: float = 10.0) -> None:
    """Wait until the client's sidecar has no request to the shadow cluster active or pending (Envoy's stats)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = client.admin_get("/stats", params={"filter": "shadow", "format": "json"}).json()["stats"]
        busy = sum(
            int(s.get("value", 0))
            for s in stats
            if s.get("name", "").endswith((".upstream_rq_active", ".upstream_rq_pending_active"))
        )
        if busy == 0:
            return
        assert time.monotonic() < deadline, f"{busy} mirrored requests still in flight after {timeout}s"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "mirror", ["mirror: {host: shadow}", "mirrors: [{destination: {host: shadow}, percentage: {value: 100}}]"]
)
def test_mirror_delivers_a_copy_while_the_client_gets_the_primary_answer(
    mesh: Mesh, client: Workload, mirror: str
) -> None:
    """mirror (or mirrors[]) to shadow: the shadow receives each request with Host `echo-shadow`, the client
    sees only echo's answers."""
    path = f"/mirrored-{uuid.uuid4().hex[:8]}"
    _apply(
        mesh,
        f"""  - route: [{{destination: {{host: echo}}}}]
    {mirror}""",
    )
    answers = [client.get(f"http://echo:9080{path}").json() for _ in range(3)]
    assert {a["workload"] for a in answers} == {"echo-v1"}
    assert _shadow_count(client, path, 3) == 3
    copies = [r for r in client.get("http://shadow:9080/__last").json()["requests"] if r["path"] == path]
    assert len(copies) == 3
    assert {c["host"] for c in copies} == {"echo-shadow:9080"}
    assert all(c["workload"] == "shadow" for c in copies)


def test_mirror_percentage_mirrors_that_share(mesh: Mesh, client: Workload) -> None:
    """mirrorPercentage 50 mirrors about half of 200 requests (±4.5 sigma); 0 would mirror none."""
    path = f"/half-{uuid.uuid4().hex[:8]}"
    _apply(
        mesh,
        """  - route: [{destination: {host: echo}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 50.0}""",
    )
    n = 200
    with client.client() as c:
        statuses = {c.get(f"http://echo:9080{path}").status_code for _ in range(n)}
    assert statuses == {200}
    _until_no_mirror_in_flight(client)  # the copies are fire-and-forget: wait until the last one is done
    mirrored = _shadow_count(client, path, n, timeout=0)
    assert abs(mirrored - n / 2) < 4.5 * (n * 0.25) ** 0.5, mirrored


def test_cors_policy_answers_preflight_and_marks_allowed_origins(mesh: Mesh, client: Workload) -> None:
    """corsPolicy: a preflight from an allowed origin is answered by the sidecar; other origins get no grant."""
    _apply(
        mesh,
        """  - corsPolicy:
      allowOrigins: [{exact: "https://app.example.com"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      maxAge: 24h
    route: [{destination: {host: echo}}]""",
    )
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    with client.client() as c:
        allowed = c.options("http://echo:9080/cors", headers=preflight)
        simple = c.get("http://echo:9080/cors", headers={"origin": "https://app.example.com"})
        other = c.get("http://echo:9080/cors", headers={"origin": "https://evil.example.com"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert allowed.headers["access-control-allow-methods"] == "GET,POST"
    assert allowed.headers["access-control-max-age"] == "86400"
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


SIDECAR_PATH = "/apis/networking.istio.io/v1/namespaces/default/sidecars/client"


def _cluster_names(w: Workload) -> set[str]:
    """The clusters the workload's Envoy has now (admin /clusters)."""
    text = w.admin_get("/clusters").text
    return {line.split("::", 1)[0] for line in text.splitlines() if "::" in line}


def test_sidecar_resource_scopes_egress_and_blocks_the_rest(mesh: Mesh, client: Workload) -> None:
    """Default ALLOW_ANY passes through to an unregistered server; a Sidecar for the client with egress hosts
    ["./shadow.default.svc.cluster.local"] and REGISTRY_ONLY removes echo's clusters from its Envoy and answers
    502 for echo and the unregistered server, while shadow stays reachable."""
    outside = serve(free_port(), workload="outside")
    threading.Thread(target=outside.serve_forever, daemon=True).start()
    outside_url = f"http://127.0.0.1:{outside.server_address[1]}/passthrough"
    echo_cluster = "outbound|9080||echo.default.svc.cluster.local"
    try:
        assert client.get(outside_url).json()["workload"] == "outside"
        assert echo_cluster in _cluster_names(client)
        mesh.apply("""apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client}
spec:
  workloadSelector: {labels: {app: client}}
  egress: [{hosts: ["./shadow.default.svc.cluster.local"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
""")
        mesh.wait_synced()
        clusters = _cluster_names(client)
        assert echo_cluster not in clusters and "outbound|9080||shadow.default.svc.cluster.local" in clusters
        assert client.get("http://echo:9080/").status_code == 502
        assert client.get(outside_url).status_code == 502
        assert client.get("http://shadow:9080/").json()["workload"] == "shadow"
        assert outside.counts["/passthrough"] == 1
    finally:
        mesh.delete(SIDECAR_PATH)
        mesh.wait_synced()
        outside.shutdown()
        outside.server_close()
    assert client.get("http://echo:9080/").status_code == 200
