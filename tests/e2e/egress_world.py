"""The world of Istio's egress tasks for e2e tests: a sandbox (mizzen.testing.sandbox) where made-up
external hosts resolve to a local stand-in site on ports 80/443, a control plane, and Istio's ``sleep``
workload whose environment a test runs Istio's ``curl`` commands with (``kubectl exec sleep -- curl``).

Everything here runs inside the sandbox: call :func:`world` from a function run by ``sandbox.isolated``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
class World:
    """What a test of an egress task works with."""

    mesh: Mesh
    sleep: Sleep
    site: ExternalSite
    certs: TlsFiles
    tmp: Path


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
        yield World(mesh, Sleep(workload, json.loads(env_file.read_text())), site, certs, tmp)
