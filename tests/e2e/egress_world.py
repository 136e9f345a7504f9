"""The world of Istio's egress tasks for e2e tests: a sandbox (mizzen.testing.sandbox) where made-up
external hosts resolve to a local stand-in site on ports 80/443, a control plane, and Istio's ``sleep``
workload whose environment a test runs Istio's ``curl`` commands with (``kubectl exec sleep -- curl``).

Everything here runs inside the sandbox: call :func:`world` from a function run by ``sandbox.isolated``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mizzen.testing import sandbox
from mizzen.testing.controlplane import controlplane
from mizzen.testing.external import ExternalSite
from mizzen.testing.mesh import Mesh, Workload
from mizzen.testing.tls import TlsFiles, make_certificates

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Where curl (Debian's) finds trusted CAs: inside the sandbox it holds the stand-in site's CA only."""

# Istio's samples/sleep/sleep.yaml, its Service (the Deployment is what `mizzen run` stands in for).
SLEEP = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sleep
---
apiVersion: v1
kind: Service
metadata:
  name: sleep
  labels:
    app: sleep
    service: sleep
spec:
  ports:
  - port: 80
    name: http
  selector:
    app: sleep
"""


@dataclass
class Sleep:
    """Istio's ``sleep`` pod: its sidecar and the environment its container runs with."""

    workload: Workload
    env: dict[str, str]

    def curl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``kubectl exec sleep -- curl ARGS``: curl with the app's environment (its HTTP(S)_PROXY)."""
        return subprocess.run(["curl", *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def access_log(self) -> str:
        """The sidecar's access log (``kubectl logs sleep -c istio-proxy``)."""
        path = Path(self.workload.state()["logs"]["access"])
        return path.read_text() if path.exists() else ""

    def wait_log(self, needle: str, timeout: float = 10.0) -> str:
        """The access-log line containing ``needle`` (Envoy writes the file asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.access_log().splitlines() if needle in line]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no access-log line with {needle!r}:\n{self.access_log()}")


@dataclass
class GatewayProcess:
    """A ``mizzen gateway`` process (Istio's ``istio-ingressgateway``/``istio-egressgateway`` pod)."""

    name: str
    namespace: str
    process: subprocess.Popen[bytes]
    home: Path

    def access_log(self) -> str:
        """The gateway's access log (``kubectl logs -l istio=egressgateway -n istio-system``)."""
        state = json.loads((self.home / "workloads" / f"{self.namespace}.{self.name}.json").read_text())
        path = Path(state["logs"]["access"])
        return path.read_text() if path.exists() else ""

    def wait_log(self, needle: str, timeout: float = 10.0) -> str:
        """The gateway's access-log line containing ``needle``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.access_log().splitlines() if needle in line]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no gateway access-log line with {needle!r}:\n{self.access_log()}")

    def stop(self) -> None:
        """SIGTERM its process group (by its pid), SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


@dataclass
class World:
    """What a test of an egress task works with."""

    mesh: Mesh
    sleep: Sleep
    site: ExternalSite
    certs: TlsFiles
    tmp: Path
    gateways: list[GatewayProcess] = field(default_factory=list)

    def gateway(self, name: str, labels: str, namespace: str = "istio-system") -> GatewayProcess:
        """Start ``mizzen gateway --name NAME -n NAMESPACE --labels LABELS`` and wait until it serves
        as an endpoint of its Service (its WorkloadEntry exists and every proxy has the change)."""
        cp = self.mesh.cp
        args = [sys.executable, "-m", "mizzen.cli.main", "gateway", "--name", name, "-n", namespace]
        log = self.tmp / f"gateway-{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*args, "--labels", labels], stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **cp.env()}, start_new_session=True,
            )  # fmt: skip
        gw = GatewayProcess(name, namespace, proc, cp.home)
        self.gateways.append(gw)
        entry = f"/apis/networking.istio.io/v1/namespaces/{namespace}/workloadentries/{name}"
        deadline = time.monotonic() + 60
        while self.mesh.http.get(entry).status_code != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gateway {name} did not register:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        self.mesh.wait_synced()
        return gw

    def service(self, name: str, namespace: str = "istio-system") -> dict[str, object]:
        """A Service as the API stores it."""
        found: dict[str, object] = self.mesh.http.get(f"/api/v1/namespaces/{namespace}/services/{name}").json()
        return found


@contextmanager
def world(tmp: Path, hosts: Sequence[str], *, mesh_yaml: str = "", https_only: Sequence[str] = ()) -> Iterator[World]:
    """The site for ``hosts`` (trusted by curl), a control plane with ``mesh_yaml``, and ``sleep``."""
    certs = make_certificates(tmp / "certs", list(hosts))
    sandbox.replace_file(CA_BUNDLE, certs.ca_cert.read_text())
    home = tmp / "home"
    home.mkdir()
    if mesh_yaml:
        (home / "mesh.yaml").write_text(mesh_yaml)
    env_file = tmp / "sleep.env.json"
    app = [sys.executable, "-m", "mizzen.testing.echo", "--port", "{port}", "--name", "sleep"]
    with (
        ExternalSite(hosts, certs, https_only=https_only) as site,
        controlplane(home) as cp,
        Mesh(cp) as mesh,
    ):
        mesh.apply(SLEEP)
        workload = mesh.run(
            "sleep", {"app": "sleep"}, ports=["http=80"], service_account="sleep",
            command=[*app, "--env-file", str(env_file)],
        )  # fmt: skip
        mesh.wait_synced()
        env = json.loads(env_file.read_text())
        _wait_listening(env["HTTPS_PROXY"])
        w = World(mesh, Sleep(workload, env), site, certs, tmp)
        try:
            yield w
        finally:
            for gw in w.gateways:
                gw.stop()


def _wait_listening(proxy_url: str, timeout: float = 20.0) -> None:
    """Wait until the sidecar's HTTP-proxy listener accepts connections: Envoy acks LDS while a listener
    still warms (waiting for its RDS), so "synced" alone can precede the first accepted connection."""
    host, _, port = proxy_url.split("://", 1)[-1].rstrip("/").rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def statuses(out: str) -> list[str]:
    """Status codes of ``curl -D -``'s header blocks, in order (one per redirect hop), without the answer
    to curl's own CONNECT (sent only because the app reaches https:// through HTTPS_PROXY; a pod behind
    iptables sends none). Every answer of the stand-in site has a content-type; that one has none."""
    blocks = [b for b in out.replace("\r", "").split("\n\n") if b.startswith("HTTP/")]
    return [b.split()[1] for b in blocks if "content-type" in b.lower()]
