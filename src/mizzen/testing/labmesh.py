"""A mesh across the hosts of a :class:`~mizzen.testing.multihost.Lab`: the control plane on one, workloads
on others, each host with its own ``MIZZEN_HOME`` (no shared state but the files a user copies by hand:
the mesh root and a workload's token).

    with lab_or_skip() as lab:
        cp, b = lab.add_host("cp"), lab.add_host("b")
        mesh = LabMesh(lab, tmp_path)
        mesh.start_controlplane(cp)
        mesh.apply(SERVICES)
        w = mesh.run(b, "echo-v1", {"app": "echo", "version": "v1"})

The test process lives outside the lab's namespaces; it reaches the control plane's API through a UNIX
socket relayed into the control-plane host (:mod:`mizzen.testing.netclient`), exactly as the CLI on that
host would reach it over loopback.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx

from mizzen.config import load_text
from mizzen.testing.multihost import Host, Lab

API_PORT, XDS_PORT = 15014, 15010  # each host has its own port space: Mizzen's defaults are free in the lab
PY = sys.executable


class LabMeshError(RuntimeError):
    """The lab's mesh did not reach the expected state in time."""


@dataclass
class LabWorkload:
    """One ``mizzen run`` inside a lab host."""

    host: Host
    name: str
    namespace: str
    process: Popen[bytes]
    home: Path
    log_path: Path

    @property
    def proxy_id(self) -> str:
        """``<name>.<namespace>``, as ``proxy-status`` lists it."""
        return f"{self.name}.{self.namespace}"

    def state(self) -> dict[str, Any]:
        """The agent's state file on its host."""
        data = json.loads((self.home / "workloads" / f"{self.namespace}.{self.name}.json").read_text())
        return dict(data)

    def log(self) -> str:
        """What ``mizzen run`` printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class LabMesh:
    """A control plane and workloads on lab hosts; :meth:`close` stops them all (by pid)."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp
        self.cp_host: Host | None = None
        self.cp_process: Popen[bytes] | None = None
        self.socket = tmp / "cp-api.sock"
        self.workloads: list[LabWorkload] = []
        self._http: httpx.Client | None = None
        self._relay: Popen[bytes] | None = None
        self.token = ""

    def home(self, host: Host) -> Path:
        """The ``MIZZEN_HOME`` of ``host`` (each host has its own)."""
        path = self.tmp / "homes" / host.name
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def env(self, host: Host, *, host_agent: bool = True) -> dict[str, str]:
        """The environment of mizzen commands on ``host``: its home, no inherited ``MIZZEN_*`` settings but
        the Envoy binary and (unless ``host_agent`` is False) the host-agent switch, so the lab can run
        under ``MIZZEN_HOST_AGENT=1`` as a single-host mesh does."""
        kept = {"MIZZEN_ENVOY"} | ({"MIZZEN_HOST_AGENT", "MIZZEN_HOST_AGENT_IDLE_SECONDS"} if host_agent else set())
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIZZEN_") or k in kept}
        return {**env, "MIZZEN_HOME": str(self.home(host))}

    # --- control plane -----------------------------------------------------------------------
    def start_controlplane(self, host: Host, *extra: str, timeout: float = 60.0) -> None:
        """``mizzen controlplane --address 0.0.0.0`` on ``host`` (TLS, as on any network address); wait ready."""
        self.cp_host = host
        home = self.home(host)
        argv = [PY, "-m", "mizzen.cli.main", "controlplane", "--address", "0.0.0.0", *extra]
        self.cp_process = host.spawn(argv, log=home / "controlplane.out", env=self.env(host))
        if self._relay is None or self._relay.poll() is not None:
            relay = [PY, "-m", "mizzen.testing.netclient", "forward", "--to", f"127.0.0.1:{API_PORT}"]
            relay += ["--unix", str(self.socket)]
            self._relay = host.spawn(relay, log=self.tmp / "relay.log", env=self.env(host))
        self._wait_ready(home, timeout)

    def _wait_ready(self, home: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.cp_process is not None
            if self.cp_process.poll() is not None:
                raise LabMeshError(f"the control plane exited:\n{(home / 'controlplane.out').read_text()[-3000:]}")
            try:
                self.token = (home / "token").read_text().strip()
                if self.http().get("/readyz").status_code == 200:
                    return
            except (OSError, httpx.HTTPError, ssl.SSLError):
                self.close_http()
            time.sleep(0.2)
        raise LabMeshError(f"control plane not ready after {timeout}s")

    @property
    def root_cert(self) -> Path:
        """The mesh root on the control-plane host (what a user copies to other hosts)."""
        assert self.cp_host is not None
        return self.home(self.cp_host) / "root-cert.pem"

    @property
    def url(self) -> str:
        """The control plane's API as other hosts reach it."""
        assert self.cp_host is not None
        return f"https://{self.cp_host.address}:{API_PORT}"

    def http(self) -> httpx.Client:
        """An admin client for the control plane's API (through the relay; TLS verified against the root)."""
        if self._http is None:
            verify = ssl.create_default_context(cafile=str(self.root_cert))
            transport = httpx.HTTPTransport(uds=str(self.socket), verify=verify)
            headers = {"Authorization": f"Bearer {self.token}"}
            base = f"https://127.0.0.1:{API_PORT}"
            self._http = httpx.Client(transport=transport, base_url=base, headers=headers, timeout=30, trust_env=False)
        return self._http

    def close_http(self) -> None:
        """Drop the API client (after a control-plane restart its connections are dead)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def kill_controlplane(self) -> None:
        """SIGKILL the control plane (a crash)."""
        assert self.cp_host is not None and self.cp_process is not None
        os.kill(self.cp_process.pid, 9)
        self.cp_process.wait(10)
        self.close_http()

    # --- config ------------------------------------------------------------------------------
    def apply(self, text: str) -> None:
        """Apply YAML through the batch API (all-or-nothing)."""
        loaded = load_text(text, file="lab.yaml")
        if not loaded.report.ok:
            raise LabMeshError("; ".join(str(v) for v in loaded.report.errors))
        docs = [r.to_json(server_fields=False) for r in loaded.resources]
        resp = self.http().post("/api/mizzen/v1/apply", json={"documents": docs})
        if resp.status_code >= 400:
            raise LabMeshError(f"apply failed ({resp.status_code}): {resp.text}")

    def mint(self, name: str, namespace: str, service_account: str) -> str:
        """A workload credential, as ``mizzen token create workload`` prints it."""
        body = {"type": "workload", "name": name, "namespace": namespace, "serviceAccount": service_account}
        resp = self.http().post("/api/mizzen/v1/tokens", json=body)
        resp.raise_for_status()
        return str(resp.json()["token"])

    def cli(self, host: Host, *args: str, check: bool = True, timeout: float = 60.0) -> Any:
        """``mizzen ARGS`` on ``host`` with that host's home (a CompletedProcess)."""
        return host.run([PY, "-m", "mizzen.cli.main", *args], env=self.env(host), check=check, timeout=timeout)

    # --- workloads ---------------------------------------------------------------------------
    def run(
        self,
        host: Host,
        name: str,
        labels: Mapping[str, str],
        *,
        namespace: str = "default",
        service_account: str = "default",
        ports: Sequence[str] = ("http=9080",),
        extra: Sequence[str] = (),
        app_args: Sequence[str] = (),
        wait: bool = True,
    ) -> LabWorkload:
        """``mizzen run`` of the echo backend on ``host``, joined with a token file and the copied root."""
        home = self.home(host)
        token_file = home.parent / f"{host.name}-{name}.token"
        token_file.write_text(self.mint(name, namespace, service_account) + "\n")
        token_file.chmod(0o600)
        root = home.parent / f"{host.name}-root.pem"
        root.write_bytes(self.root_cert.read_bytes())
        version = labels.get("version", "")
        app = [PY, "-m", "mizzen.testing.echo", "--port", "{port}", "--name", name, "--version", version, *app_args]
        argv = [PY, "-m", "mizzen.cli.main", "run", "--name", name, "-n", namespace]
        argv += ["--labels", ",".join(f"{k}={v}" for k, v in labels.items()), "--service-account", service_account]
        argv += [a for p in ports for a in ("--port", p)]
        argv += ["--control-plane", self.url, "--token-file", str(token_file), "--root-cert", str(root), *extra]
        log_path = home / "logs" / f"lab-run-{name}.out"
        captured = "--capture" in extra  # refused under the host agent: such a workload runs its own agent
        proc = host.spawn([*argv, "--", *app], log=log_path, env=self.env(host, host_agent=not captured))
        w = LabWorkload(host, name, namespace, proc, home, log_path)
        self.workloads.append(w)
        if wait:
            self.wait_running(w)
        return w

    def wait_running(self, *workloads: LabWorkload, timeout: float = 60.0) -> None:
        """Wait until each workload's agent says running and its proxy is connected to the control plane."""
        for w in workloads:
            deadline = time.monotonic() + timeout
            while True:
                if w.process.poll() is not None:
                    raise LabMeshError(f"{w.name} on {w.host.name} exited ({w.process.returncode}):\n{w.log()}")
                try:
                    if w.state().get("status") == "running" and self.proxy(w.proxy_id) is not None:
                        break
                except (OSError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise LabMeshError(f"{w.name} on {w.host.name} not running after {timeout}s:\n{w.log()}")
                time.sleep(0.2)

    def stop(self, w: LabWorkload, timeout: float = 20.0) -> int:
        """SIGTERM a workload's agent (its whole group) and wait."""
        return w.host.stop(w.process, timeout)

    # --- status ------------------------------------------------------------------------------
    def proxies(self) -> dict[str, Any]:
        """The control plane's proxy list (``GET /api/mizzen/v1/proxies``)."""
        return dict(self.http().get("/api/mizzen/v1/proxies").json())

    def proxy(self, proxy_id: str) -> dict[str, Any] | None:
        """One proxy's record, or None when not connected."""
        return next((p for p in self.proxies()["items"] if p["id"] == proxy_id), None)

    def endpoints(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        """The stored WorkloadEntry ``name`` (None when absent)."""
        resp = self.http().get(f"/apis/networking.istio.io/v1/namespaces/{namespace}/workloadentries/{name}")
        return dict(resp.json()) if resp.status_code == 200 else None

    def wait_synced(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until every proxy ACKed the control plane's current config."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.proxies()
            if last.get("converged") and all(_synced(p) for p in last["items"]):
                return last
            time.sleep(0.1)
        behind = {
            p["id"]: {t: (x.get("status"), x.get("current")) for t, x in p["xds"].items()}
            for p in last.get("items", [])
            if not _synced(p)
        }
        raise LabMeshError(f"not synced after {timeout}s (converged={last.get('converged')}): {json.dumps(behind)}")

    def load(
        self, client: LabWorkload, url: str, out: Path, *, rate: float = 20, count: int = 0, headers: Sequence[str] = ()
    ) -> Popen[bytes]:
        """Requests from ``client``'s sidecar on its host (``count`` 0: until stopped); records in ``out``."""
        proxy = f"http://{client.state()['httpProxy']}"
        argv = [PY, "-m", "mizzen.testing.netclient", "load", url, "--proxy", proxy, "--out", str(out)]
        argv += ["--rate", str(rate), "--count", str(count), *[a for h in headers for a in ("--header", h)]]
        return client.host.spawn(argv, log=out.with_suffix(".log"), env=self.env(client.host))

    def close(self) -> None:
        """Stop every workload side by side (so they deregister), then the control plane's host."""
        for host in self.lab.hosts.values():
            if host is not self.cp_host:
                host.stop_all()
        if self.cp_host is not None:
            self.cp_host.stop_all()
        self.close_http()


def records(path: Path) -> list[dict[str, Any]]:
    """The request records a :meth:`LabMesh.load` wrote."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_count(path: Path, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait until ``path`` holds ``n`` records and return them."""
    deadline = time.monotonic() + timeout
    while len(got := records(path)) < n:
        if time.monotonic() > deadline:
            raise LabMeshError(f"only {len(got)} of {n} requests recorded in {path} after {timeout}s")
        time.sleep(0.2)
    return got


def _synced(proxy: Mapping[str, Any]) -> bool:
    for t in ("CDS", "LDS", "EDS", "RDS"):
        x = proxy["xds"][t]
        if x["status"] == "NOT SENT":
            continue
        if x["status"] == "SYNCED" and (x.get("current") or x.get("versionAcked") == x.get("snapshotVersion", "")):
            continue
        return False
    return True
