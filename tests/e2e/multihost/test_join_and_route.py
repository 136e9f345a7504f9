"""Joining hosts and routing across them: v1 on host b, v2 and a client on host c, the control plane on cp;
inspection and logs from the control-plane host; and what crosses the wire between hosts (a capture of every
port of the lab's bridge): no credential ever, and under mTLS no plaintext HTTP."""

from __future__ import annotations

import collections
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mizzen.testing.labmesh import LabMesh, LabWorkload, wait_count
from mizzen.testing.netclient import frames

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def placed(lab_mesh: LabMesh) -> dict[str, LabWorkload]:
    hosts = lab_mesh.lab.hosts
    v1 = lab_mesh.run(hosts["b"], "echo-v1", {"app": "echo", "version": "v1"}, wait=False)
    v2 = lab_mesh.run(hosts["c"], "echo-v2", {"app": "echo", "version": "v2"}, wait=False)
    client = lab_mesh.run(hosts["c"], "client", {"app": "client", "version": "v1"}, wait=False)
    lab_mesh.wait_running(v1, v2, client)
    lab_mesh.wait_synced()
    return {"v1": v1, "v2": v2, "client": client}


def _versions(lab_mesh: LabMesh, client: LabWorkload, tmp: Path, n: int, *headers: str) -> collections.Counter[str]:
    out = tmp / f"req-{len(list(tmp.iterdir()))}.jsonl"
    lab_mesh.load(client, "http://echo:9080/", out, rate=100, count=n, headers=headers)
    got = wait_count(out, n)
    assert all(r["code"] == 200 for r in got), [r for r in got if r["code"] != 200][:5]
    return collections.Counter(str(r.get("version")) for r in got)


def _quiet(path: Path, still_s: float = 2.5, limit_s: float = 30) -> None:
    """Wait until ``path`` has not grown for ``still_s``: Envoy flushes access logs each second, so lines of
    requests a test already counted at the client can still land in the file after it returns."""
    deadline, size, since = time.monotonic() + limit_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = path.stat().st_size
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= still_s:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} still grows after {limit_s} s")


def test_joined_workloads_register_their_hosts_address(lab_mesh: LabMesh, placed: dict[str, LabWorkload]) -> None:
    """Without --address or --xds-address, each agent registers the address its host reaches the control
    plane from and learns the advertised xDS address; every host's proxy is SYNCED."""
    hosts = lab_mesh.lab.hosts
    for w, host in ((placed["v1"], "b"), (placed["v2"], "c"), (placed["client"], "c")):
        entry = lab_mesh.endpoints(w.name)
        assert entry is not None and entry["spec"]["address"] == hosts[host].address
    status = lab_mesh.cli(hosts["cp"], "proxy-status").stdout
    for w in placed.values():
        line = next(x for x in status.splitlines() if x.startswith(w.proxy_id))
        assert line.count("SYNCED") >= 3, status
    hosts_seen = {p["id"]: p["host"] for p in lab_mesh.proxies()["items"]}  # the dashboard's Host column
    assert hosts_seen["echo-v1.default"] == hosts["b"].address and hosts_seen["client.default"] == hosts["c"].address
    info = lab_mesh.http().get("/api/mizzen/v1/controlplane").json()
    assert info["xdsAddress"] == f"{hosts['cp'].address}:15010" and info["tls"] is True


def test_routing_by_weight_header_and_subset_across_hosts(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """A 70/30 split between hosts stays within 4.5 sigma of 70%; a header match and a subset route pin v2/v1."""
    lab_mesh.apply(
        """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - match: [{headers: {x-version: {exact: v1}}}]
    route: [{destination: {host: echo, subset: v1}}]
  - route:
    - {destination: {host: echo, subset: v1}, weight: 70}
    - {destination: {host: echo, subset: v2}, weight: 30}
"""
    )
    lab_mesh.wait_synced()
    client = placed["client"]
    n = 300
    split = _versions(lab_mesh, client, tmp_path, n)
    sigma = math.sqrt(n * 0.7 * 0.3)
    assert set(split) == {"v1", "v2"} and abs(split["v1"] - 0.7 * n) <= 4.5 * sigma, split
    assert _versions(lab_mesh, client, tmp_path, 20, "x-version:v2") == {"v2": 20}
    assert _versions(lab_mesh, client, tmp_path, 20, "x-version:v1") == {"v1": 20}


def test_inspection_and_logs_of_a_workload_on_another_host(lab_mesh: LabMesh, placed: dict[str, LabWorkload]) -> None:
    """From the control-plane host, `mizzen pc cluster`, `proxy-status NAME` and `mizzen logs [--proxy]` reach
    host b's workload through its agent's channel (no ssh, no shared disk, no admin port)."""
    cp = lab_mesh.lab.hosts["cp"]
    _quiet(placed["v1"].home / "logs" / "echo-v1.access.log")
    access = lab_mesh.cli(cp, "logs", "echo-v1", "--proxy", "--tail", "3").stdout
    assert len(access.splitlines()) == 3 and "GET / HTTP/1.1" in access, access
    local = (placed["v1"].home / "logs" / "echo-v1.access.log").read_text().splitlines()
    assert access.splitlines() == local[-3:]
    app = lab_mesh.cli(cp, "logs", "echo-v1").stdout
    assert app == (placed["v1"].home / "logs" / "echo-v1.app.log").read_text()
    follow = lab_mesh.cli(cp, "logs", "echo-v1", "-f", check=False)
    assert follow.returncode != 0 and "does not run on this host" in follow.stderr
    clusters = lab_mesh.cli(cp, "pc", "cluster", "echo-v1").stdout
    assert "echo.default.svc.cluster.local" in clusters and "inbound" in clusters, clusters
    diff = lab_mesh.cli(cp, "proxy-status", "echo-v1").stdout
    assert "Clusters Match" in diff or "match" in diff.lower(), diff


def test_a_loopback_endpoint_is_refused_for_a_remote_control_plane(lab_mesh: LabMesh, tmp_path: Path) -> None:
    """`mizzen run --address 127.0.0.1` on host b exits with the reason, and the API refuses such an entry from
    b's address too (400 naming spec.address)."""
    b = lab_mesh.lab.hosts["b"]
    w = lab_mesh.run(b, "lonely", {"app": "lonely"}, extra=("--address", "127.0.0.1"), wait=False)
    assert w.process.wait(60) != 0
    assert "loopback address" in w.log() and "other hosts cannot reach" in w.log(), w.log()
    token = lab_mesh.mint("lonely2", "default", "default")
    script = (
        "import httpx, json, sys; "
        "r = httpx.put(sys.argv[1], json=json.loads(sys.argv[2]), headers={'Authorization': 'Bearer ' + sys.argv[3]},"
        " verify=sys.argv[4]); print(r.status_code, r.text)"
    )
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "lonely2", "namespace": "default"},
        "spec": {"address": "127.0.0.1", "serviceAccount": "default"},
    }
    url = f"{lab_mesh.url}/apis/networking.istio.io/v1/namespaces/default/workloadentries/lonely2"
    out = b.run([sys.executable, "-c", script, url, json.dumps(entry), token, str(lab_mesh.root_cert)]).stdout
    assert out.startswith("400") and "spec.address 127.0.0.1 is a loopback address" in out, out


STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
"""
MARKER = "x-wire-marker:find-me-on-the-wire"


def _captured(lab_mesh: LabMesh, tmp: Path, action: Callable[[], None]) -> bytes:
    out = tmp / "frames.bin"
    proc = lab_mesh.lab.capture(out, tmp / "capture.log")
    try:
        action()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    return b"".join(frames(out))


def _call(lab_mesh: LabMesh, client: LabWorkload, out: Path) -> None:
    lab_mesh.load(client, "http://echo:9080/", out, count=10, headers=[MARKER])
    got = wait_count(out, 10)
    assert all(r["code"] == 200 for r in got), got


def test_no_credential_crosses_the_wire_between_hosts(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """A host joining (token, certificate, xDS, agent channel) and requests between hosts: neither the admin
    token nor any workload token appears on the bridge, nor any Authorization header (the control-plane ports
    are TLS)."""
    hosts = lab_mesh.lab.hosts

    def join_and_call() -> None:
        lab_mesh.run(hosts["b"], "wire-v1", {"app": "echo", "version": "v1"})
        lab_mesh.wait_synced()
        _call(lab_mesh, placed["client"], tmp_path / "req.jsonl")

    wire = _captured(lab_mesh, tmp_path, join_and_call)
    assert len(wire) > 10_000  # the capture saw the joining and the requests (TLS records)
    tokens = [lab_mesh.token, *(p.read_text().strip() for p in lab_mesh.tmp.glob("homes/*-*.token"))]
    assert len(tokens) >= 4
    for token in tokens:
        assert token.split(".")[-1].encode() not in wire  # the secret part, in any framing
    assert b"Bearer" not in wire and b"authorization" not in wire.lower()


def test_under_strict_mtls_no_plaintext_http_crosses_the_wire(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """With a mesh-wide STRICT PeerAuthentication a request from host c to host b is encrypted: no HTTP line and
    no header of it on the bridge. (Runs last in this module: it changes the mesh's policy.)"""
    lab_mesh.apply(STRICT)
    lab_mesh.wait_synced()
    wire = _captured(lab_mesh, tmp_path, lambda: _call(lab_mesh, placed["client"], tmp_path / "req.jsonl"))
    assert len(wire) > 1_000
    assert b"find-me-on-the-wire" not in wire and b"HTTP/1.1" not in wire
