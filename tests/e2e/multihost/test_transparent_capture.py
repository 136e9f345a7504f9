"""`mizzen run --capture` across lab hosts: an app that knows nothing of the mesh (no HTTP_PROXY, no upstream
port: a plain HTTP request to `echo:9080`) is routed by a VirtualService; a captured server is reached by peers
on its own and on another host; the namespace, veth and nft table are gone after a stop, and a crashed agent's
leftovers are removed at its next start.

v1 of `echo` runs on host b in HTTP-proxy mode, v2 captured on host c beside a captured client; a plain
client on b reaches v2 from another host. Requests from the captured client run inside its app's namespaces
(network and mount, so its /etc/hosts), as `kubectl exec` runs a command in a pod."""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.agent import netns, transparent
from mizzen.testing.labmesh import LabMesh, LabWorkload, wait_count

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUTES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route: [{destination: {host: echo, subset: v1}}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-tcp}
spec:
  selector: {app: echo}
  ports: [{name: tcp, port: 9000, targetPort: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo-tcp}
spec:
  host: echo-tcp
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo-tcp}
spec:
  hosts: [echo-tcp]
  tcp:
  - route: [{destination: {host: echo-tcp, subset: v2}}]
"""

# A plain client: no proxy (none in its environment, none in urllib's handlers), the service's name and port.
CLIENT = """
import json, sys, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
n, headers, deadline, out = int(sys.argv[1]), dict(h.split(":", 1) for h in sys.argv[2:]), time.time() + 30, []
while len(out) < n:
    try:
        with opener.open(urllib.request.Request("http://echo:9080/", headers=headers), timeout=5) as resp:
            out.append(json.loads(resp.read())["version"])
    except OSError as exc:  # the app's /etc/hosts lists echo once its sidecar has routes for it
        if out or time.time() > deadline:
            raise SystemExit(f"request {len(out)} failed: {exc}")
        time.sleep(0.2)
print(json.dumps(out))
"""

# A raw TCP client: one connection per request to echo-tcp:9000 (a TCP service: no Host routing, no proxy).
TCP_CLIENT = """
import json, socket, sys, time
n, deadline, out = int(sys.argv[1]), time.time() + 30, []
while len(out) < n:
    try:
        with socket.create_connection(("echo-tcp", 9000), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\\r\\nHost: echo-tcp\\r\\nConnection: close\\r\\n\\r\\n")
            data = b"".join(iter(lambda: sock.recv(65536), b""))
        out.append(json.loads(data.split(b"\\r\\n\\r\\n", 1)[1])["version"])
    except (OSError, IndexError, ValueError) as exc:
        if out or time.time() > deadline:
            raise SystemExit(f"connection {len(out)} failed: {exc!r}")
        time.sleep(0.2)
print(json.dumps(out))
"""

CAPTURED = ("--capture",)
APP = ("--host", "0.0.0.0")  # a pod's app listens on its pod address, as Envoy reaches it


def _in_app(w: LabWorkload, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``w``'s app's network and mount namespaces (its /etc/hosts), with no proxy variable."""
    pid = w.state()["appPid"]
    env = {"PATH": "/usr/bin:/bin"}
    cmd = ["nsenter", "-t", str(pid), "-n", "-m", "--", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)


def _versions(w: LabWorkload, n: int, *headers: str) -> collections.Counter[str]:
    proc = _in_app(w, [sys.executable, "-c", CLIENT, str(n), *headers])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return collections.Counter(json.loads(proc.stdout))


def _tcp_versions(w: LabWorkload, n: int) -> collections.Counter[str]:
    proc = _in_app(w, [sys.executable, "-c", TCP_CLIENT, str(n)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return collections.Counter(json.loads(proc.stdout))


def _host_view(w: LabWorkload) -> tuple[str, str, str]:
    """(nft tables, links) of ``w``'s host and the machine's named network namespaces."""
    tables = w.host.run(["nft", "list", "tables"]).stdout
    links = w.host.run(["ip", "-o", "link"]).stdout
    return tables, links, subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _assert_gone(w: LabWorkload, capture: dict[str, str]) -> None:
    tables, links, namespaces = _host_view(w)
    assert f"mizzen_{w.name}_{w.namespace}" not in tables, tables
    assert capture["host_veth"] not in links, links
    assert capture["netns"] not in namespaces, namespaces
    assert not Path("/etc/netns", capture["netns"]).exists()
    assert not Path("/etc/netns").exists() or any(Path("/etc/netns").iterdir())  # no empty folder of ours left
    assert not (w.home / "capture" / f"{w.namespace}.{w.name}" / "capture.json").exists()


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture") / "client-env.json"


@pytest.fixture(scope="module")
def placed(lab_mesh: LabMesh, env_file: Path) -> Iterator[dict[str, LabWorkload]]:
    hosts = lab_mesh.lab.hosts
    lock_was_there = transparent.HOST_LOCK.exists()  # the machine-wide allocation lock the agents create
    v1 = lab_mesh.run(hosts["b"], "echo-v1", {"app": "echo", "version": "v1"}, wait=False)
    v2 = lab_mesh.run(hosts["c"], "echo-v2", {"app": "echo", "version": "v2"}, extra=CAPTURED, app_args=APP, wait=False)
    app = (*APP, "--env-file", str(env_file))
    client = lab_mesh.run(hosts["c"], "client", {"app": "client"}, extra=CAPTURED, app_args=app, wait=False)
    plain = lab_mesh.run(hosts["b"], "plain", {"app": "plain"}, wait=False)
    lab_mesh.wait_running(v1, v2, client, plain)
    lab_mesh.apply(ROUTES)
    lab_mesh.wait_synced()
    try:
        yield {"v1": v1, "v2": v2, "client": client, "plain": plain}
    finally:
        _sweep(lab_mesh)
        if not lock_was_there:  # leave the machine as the test found it
            transparent.HOST_LOCK.unlink(missing_ok=True)


def _sweep(lab_mesh: LabMesh) -> None:
    """Stop every agent (each removes its own capture), then remove what a failed test may have left: the
    app namespaces and /etc/netns entries recorded in the hosts' homes live outside the lab's namespaces."""
    for w in lab_mesh.workloads:
        lab_mesh.stop(w)
    for record in lab_mesh.tmp.glob("homes/*/capture/*/capture.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, netns.NetnsError):
            netns.destroy(netns.Layout.from_record(json.loads(record.read_text())["layout"]))


def test_a_captured_app_without_proxy_is_routed_by_a_virtual_service(
    placed: dict[str, LabWorkload], env_file: Path
) -> None:
    """A plain request to echo:9080 from the captured app follows the VirtualService: the header to v2
    (captured, same host), the rest to v1 (another host); the app's environment has no proxy variable."""
    client = placed["client"]
    assert _versions(client, 10) == {"v1": 10}
    assert _versions(client, 10, "x-version:v2") == {"v2": 10}
    env = json.loads(env_file.read_text())
    assert not {k for k in env if k.lower() in ("http_proxy", "https_proxy")}, env
    assert not {k for k in env if "TOKEN" in k or k == "MIZZEN_HOME"}, sorted(env)
    state = client.state()
    assert state["httpProxy"] is None and state["capture"]["app_address"].startswith("10.250.")


def test_a_captured_raw_tcp_client_is_routed_by_a_tcp_route(placed: dict[str, LabWorkload]) -> None:
    """A plain socket to echo-tcp:9000 (a TCP service, resolved through the app's /etc/hosts from its sidecar's
    clusters) goes where the VirtualService's tcp route says: every connection to v2."""
    assert _tcp_versions(placed["client"], 10) == {"v2": 10}


def _counter(lab_mesh: LabMesh, w: LabWorkload, stat: str) -> int:
    """One of ``w``'s sidecar's Envoy counters (0 while Envoy has not created it)."""
    out = lab_mesh.cli(lab_mesh.lab.hosts["cp"], "pc", "stats", w.name, "--filter", stat.replace(".", r"\.")).stdout
    found = [line for line in out.splitlines() if line.startswith(stat + ":")]
    return int(found[0].rpartition(" ")[2]) if found else 0


BLACKHOLED = "cluster.BlackHoleCluster.upstream_cx_none_healthy"
PASSED = "cluster.PassthroughOriginalDst.upstream_cx_total"


def test_dialling_a_capture_port_itself_is_closed_not_looped(lab_mesh: LabMesh, placed: dict[str, LabWorkload]) -> None:
    """A connection straight to the sidecar's outbound capture port (at the app's gateway) is closed at once by
    the blackhole chain (BlackHoleCluster counts it), instead of being passed through back into the same
    listener (no passthrough connection at all)."""
    client = placed["client"]
    capture = client.state()["capture"]
    before = _counter(lab_mesh, client, BLACKHOLED), _counter(lab_mesh, client, PASSED)
    code = """
import socket, sys, time
t = time.monotonic()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
try:
    s.sendall(b"x" * 10)
    closed = s.recv(100) == b""
except ConnectionResetError:  # Envoy resets a connection whose upstream is BlackHoleCluster
    closed = True
print(closed, round(time.monotonic() - t, 2))
"""
    proc = _in_app(client, [sys.executable, "-c", code, capture["host_address"], str(capture["ports"][0])])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    closed, seconds = proc.stdout.split()
    assert closed == "True" and float(seconds) < 5, proc.stdout
    after = _counter(lab_mesh, client, BLACKHOLED), _counter(lab_mesh, client, PASSED)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0), (before, after)


def test_a_captured_server_is_reached_from_another_host(lab_mesh: LabMesh, placed: dict[str, LabWorkload]) -> None:
    """Its endpoint (the host's address, an allocated port) is redirected to its sidecar's inbound capture port."""
    out = lab_mesh.tmp / "plain-v2.jsonl"
    lab_mesh.load(placed["plain"], "http://echo:9080/", out, count=10, headers=["x-version:v2"])
    got = wait_count(out, 10)
    assert [r["code"] for r in got] == [200] * 10 and {r.get("version") for r in got} == {"v2"}, got


def test_stop_removes_everything_and_a_crashed_agents_leftovers_go_at_its_next_start(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload]
) -> None:
    """A clean stop leaves no table, veth, namespace or record; after kill -9 of the agent they are left (the
    table, the record), the next start removes them and says so, and its own stop leaves nothing."""
    client = placed["client"]
    capture = client.state()["capture"]
    assert f"mizzen_{client.name}_default" in _host_view(client)[0]
    assert lab_mesh.stop(client) == 0
    _assert_gone(client, capture)

    hosts = lab_mesh.lab.hosts
    again = lab_mesh.run(hosts["c"], "client", {"app": "client"}, extra=CAPTURED, app_args=APP)
    crashed = again.state()["capture"]
    again.host.signal(again.process, signal.SIGKILL)
    again.process.wait(10)
    assert f"mizzen_{client.name}_default" in _host_view(again)[0]  # what the crash left behind
    assert (again.home / "capture" / "default.client" / "capture.json").exists()

    restarted = lab_mesh.run(hosts["c"], "client", {"app": "client"}, extra=CAPTURED, app_args=APP)
    said = [line for line in restarted.log().splitlines() if "removed what a previous run left behind" in line]
    assert len(said) == 1 and f"nft table {crashed['table']}" in said[0] and crashed["netns"] in said[0], said
    lab_mesh.wait_synced()
    assert _versions(restarted, 5, "x-version:v2") == {"v2": 5}
    layout = restarted.state()["capture"]
    assert lab_mesh.stop(restarted) == 0
    _assert_gone(restarted, layout)
