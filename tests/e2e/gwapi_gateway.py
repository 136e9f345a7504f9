"""A `mizzen gateway --for <Gateway>` process for e2e tests, and Gateway API status helpers."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from mizzen.testing.controlplane import RunningControlPlane
from mizzen.testing.mesh import Mesh, MeshError

GATEWAYS = "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/gateways/{name}"


def gateway_service(name: str, namespace: str, ports: dict[int, int]) -> str:
    """The Service Istio's deployment would create for Gateway ``name``, with the targetPorts a test
    picks (free ports, so tests running side by side never compete for 8080): ``{port: targetPort}``.
    `mizzen gateway --for` leaves a Service it did not create as it is."""
    lines = "".join(f"  - {{name: p{p}, port: {p}, targetPort: {t}}}\n" for p, t in ports.items())
    return f"""apiVersion: v1
kind: Service
metadata: {{name: {name}-istio, namespace: {namespace}}}
spec:
  selector: {{gateway.networking.k8s.io/gateway-name: {name}}}
  ports:
{lines}"""


class GatewayFor:
    """`mizzen gateway --for NAME -n NS`: started by pid, stopped by pid (SIGTERM, then SIGKILL)."""

    def __init__(self, cp: RunningControlPlane, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        self.log_path = cp.home / "logs" / f"gateway-for-{namespace}.{name}.out"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "mizzen.cli.main", "gateway", "--for", name, "-n", namespace]
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **cp.env()}, start_new_session=True
            )

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def wait_programmed(self, mesh: Mesh, timeout: float = 30.0) -> dict[str, Any]:
        """Like `kubectl wait --for=condition=programmed gtw NAME` with the gateway's pod ready: the Gateway's
        status once Programmed and its gateway has registered its endpoint (Programmed follows the gateway
        proxy's connection, which precedes the registration: traffic sent in between found no endpoint)."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MeshError(f"mizzen gateway --for {self.name} exited:\n{self.log()}")
            status = gateway_status(mesh, self.name, self.namespace)
            if condition(status, "Programmed")[0] == "True" and self._running(mesh):
                mesh.wait_synced()
                return status
            time.sleep(0.1)
        raise MeshError(f"Gateway {self.namespace}/{self.name} not programmed: {status}\n{self.log()}")

    def _running(self, mesh: Mesh) -> bool:
        """The gateway's agent says it is running: its WorkloadEntry is registered."""
        state = mesh.cp.home / "workloads" / f"{self.namespace}.{self.name}-istio.json"
        try:
            return bool(json.loads(state.read_text()).get("status") == "running")
        except (OSError, json.JSONDecodeError):
            return False  # not written yet, or being written


def gateway_status(mesh: Mesh, name: str, namespace: str) -> dict[str, Any]:
    status: dict[str, Any] = mesh.http.get(GATEWAYS.format(ns=namespace, name=name)).json()["status"]
    return status


def condition(status: dict[str, Any], kind: str) -> tuple[str, str, str]:
    c = next(c for c in status["conditions"] if c["type"] == kind)
    return str(c["status"]), str(c["reason"]), str(c["message"])


def get(
    port: int,
    host: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    verify: ssl.SSLContext | bool = False,
    scheme: str = "http",
    retry: bool = True,
) -> httpx.Response:
    """One request to the gateway at 127.0.0.1:<port> for ``host`` (SNI too for https), as curl --resolve."""
    deadline = time.monotonic() + (5.0 if retry else 0.0)
    while True:
        try:
            with httpx.Client(verify=verify, trust_env=False, timeout=10.0) as c:
                ext = {"sni_hostname": host} if scheme == "https" else None
                return c.get(
                    f"{scheme}://127.0.0.1:{port}{path}", headers={"Host": host, **(headers or {})}, extensions=ext
                )
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
