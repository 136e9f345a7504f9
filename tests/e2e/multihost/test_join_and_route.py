"""Joining hosts and routing across them: v1 on host b, v2 and a client on host c, the control plane on cp."""

from __future__ import annotations

import collections
import json
import math
import sys
from pathlib import Path

import pytest

from mizzen.testing.labmesh import LabMesh, LabWorkload, wait_count

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
