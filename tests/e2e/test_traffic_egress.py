"""Egress through real Envoy sidecars started by `mizzen run` (issue 4): mesh-wide REGISTRY_ONLY (from
`$MIZZEN_HOME/mesh.yaml`) blocks unknown hosts with 502, a Sidecar resource's `outboundTrafficPolicy`
ALLOW_ANY lets one workload pass through to them, and MESH_EXTERNAL ServiceEntries (STATIC and DNS) make a
server outside the mesh reachable under an external name.

The "outside" server is a plain echo server on loopback started by the test, with no sidecar.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from mizzen.testing.controlplane import controlplane, free_port
from mizzen.testing.echo import EchoServer, serve
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

CONFIG = """
apiVersion: v1
kind: Service
metadata: {{name: client}}
spec: {{selector: {{app: client}}, ports: [{{name: http, port: 9080}}]}}
---
# (A workload no Service selects would leave the control plane's `converged` flag false until the next push:
# a store change with nothing to push does not advance pushedRevision.)
apiVersion: v1
kind: Service
metadata: {{name: open}}
spec: {{selector: {{app: open}}, ports: [{{name: http, port: 9080}}]}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: api-example}}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: dns-example}}
spec:
  hosts: [dns.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: localhost, ports: {{http: {port}}}}}]
---
# One workload may still reach unknown hosts although the mesh is REGISTRY_ONLY.
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: open}}
spec:
  workloadSelector: {{labels: {{app: open}}}}
  egress: [{{hosts: ["*/*"]}}]
  outboundTrafficPolicy: {{mode: ALLOW_ANY}}
"""


@pytest.fixture(scope="module")
def outside() -> Iterator[EchoServer]:
    server = serve(free_port(), workload="outside")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, outside: EchoServer) -> Iterator[Mesh]:
    home = tmp_path_factory.mktemp("traffic-egress")
    (home / "mesh.yaml").write_text("outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n")
    with controlplane(home) as cp, Mesh(cp) as m:
        m.apply(CONFIG.format(port=outside.server_address[1]))
        m.run_all([("strict", {"app": "client", "version": "v1"}), ("open", {"app": "open", "version": "v1"})])
        m.wait_synced()
        yield m


def _workload(mesh: Mesh, name: str) -> Workload:
    return next(w for w in mesh.workloads if w.name == name)


def _outside_url(outside: EchoServer, path: str) -> str:
    return f"http://127.0.0.1:{outside.server_address[1]}{path}"


def test_registry_only_blocks_unknown_hosts_with_502(mesh: Mesh, outside: EchoServer) -> None:
    """Under mesh-wide REGISTRY_ONLY, an address or name outside the registry answers 502 and is not reached."""
    strict = _workload(mesh, "strict")
    path = f"/blocked-{uuid.uuid4().hex[:8]}"
    assert strict.get(_outside_url(outside, path)).status_code == 502
    assert strict.get(f"http://unknown.example.org{path}").status_code == 502
    assert outside.counts[path] == 0


def test_sidecar_allow_any_passes_through_to_unknown_hosts(mesh: Mesh, outside: EchoServer) -> None:
    """A Sidecar with outboundTrafficPolicy ALLOW_ANY lets its workload reach an unregistered loopback server."""
    path = f"/passthrough-{uuid.uuid4().hex[:8]}"
    r = _workload(mesh, "open").get(_outside_url(outside, path))
    assert r.status_code == 200
    assert (r.json()["workload"], r.json()["path"]) == ("outside", path)
    assert outside.counts[path] == 1


@pytest.mark.parametrize("host", ["api.example.com", "dns.example.com"])
def test_mesh_external_service_entry_is_reachable(mesh: Mesh, outside: EchoServer, host: str) -> None:
    """A MESH_EXTERNAL ServiceEntry (STATIC or DNS resolution) is reachable by name even under REGISTRY_ONLY."""
    path = f"/external-{uuid.uuid4().hex[:8]}"
    r = _workload(mesh, "strict").get(f"http://{host}{path}")
    assert r.status_code == 200, r.text
    assert (r.json()["workload"], r.json()["path"], r.json()["host"]) == ("outside", path, host)
    assert outside.counts[path] == 1
