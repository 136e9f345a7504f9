"""A control plane killed with SIGKILL and restarted: every sidecar resyncs, and traffic never notices.

Envoy keeps serving its last config while the control plane is away; the agent's prompt reconnect
(``mizzen.agent.upstream``) and the ADS retry backoff in the bootstrap bring every proxy back to SYNCED
soon after the restart (``bench/resync.py`` measures how soon; issue 15 asks for at most 2.5 s). The
restarted control plane serves what was applied before the kill from its first push on: a VirtualService
sends every request to one version, and no request reaches the other, before, during or after.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen.testing.controlplane import restart, start_controlplane
from mizzen.testing.mesh import Mesh, MeshError

pytestmark = pytest.mark.e2e

SERVICE = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
"""
ONLY_B = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http: [{route: [{destination: {host: echo, subset: b}}]}]
"""


class Traffic:
    """Requests through a sidecar every 20 ms in a thread, each outcome kept."""

    def __init__(self, http_proxy: str) -> None:
        self.outcomes: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(http_proxy,), daemon=True)
        self._thread.start()

    def _run(self, http_proxy: str) -> None:
        with httpx.Client(proxy=http_proxy, trust_env=False, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    resp = client.get("http://echo:9080/")
                    self.outcomes.append(resp.json()["version"] if resp.status_code == 200 else resp.status_code)
                except (httpx.HTTPError, ValueError) as exc:
                    self.outcomes.append(repr(exc))
                time.sleep(0.02)

    def stop(self) -> list[Any]:
        self._stop.set()
        self._thread.join(10)
        return self.outcomes


def wait_reconnected(mesh: Mesh, ids: set[str], timeout: float) -> None:
    """Until every proxy in ``ids`` is connected to the (new) control plane and all are SYNCED."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = mesh.proxies()["items"]
        if ids <= {p["id"] for p in items if p["connected"]}:
            mesh.wait_synced(max(1.0, deadline - time.monotonic()))
            return
        time.sleep(0.05)
    raise MeshError(f"proxies {sorted(ids)} did not reconnect within {timeout} s")


def test_killed_control_plane_restarts_and_every_proxy_resyncs_without_a_failed_request(tmp_path: Path) -> None:
    """SIGKILL of the control plane, a restart on the same ports: every sidecar reconnects and is SYNCED
    again, and requests through the client's sidecar succeed all along, each routed by the VirtualService
    applied before the kill (the restarted control plane never served a config without it)."""
    cp = start_controlplane(tmp_path / "home")
    try:
        with Mesh(cp) as mesh:
            mesh.apply(SERVICE)
            mesh.apply(ONLY_B)
            client = mesh.run("client", {"app": "client"})
            mesh.run_all([("echo-a", {"app": "echo", "version": "a"}), ("echo-b", {"app": "echo", "version": "b"})])
            mesh.wait_synced()
            ids = {p["id"] for p in mesh.proxies()["items"]}
            assert ids == {"client.default", "echo-a.default", "echo-b.default"}
            traffic = Traffic(client.http_proxy)
            time.sleep(0.5)
            cp.kill()
            time.sleep(1.0)  # the proxies notice and start retrying
            cp = mesh.cp = restart(cp, same_ports=True)
            wait_reconnected(mesh, ids, timeout=30)
            time.sleep(0.5)
            outcomes = traffic.stop()
            failed = [o for o in outcomes if o != "b"]
            assert len(outcomes) > 40 and not failed, f"{len(failed)} of {len(outcomes)} failed: {failed[:5]}"
            assert all(w.process.poll() is None for w in mesh.workloads), "a workload exited"
            ready_line = [line for line in cp.log().splitlines() if "control plane ready" in line][-1]
            phases = [p.split()[0] for p in ready_line.split("after the process started: ")[1].split(", ")]
            assert phases.index("store") < phases.index("xDS"), ready_line  # loaded before anyone is served
    finally:
        cp.stop()
