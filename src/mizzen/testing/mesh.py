"""A real mesh for tests: workloads started with ``mizzen run`` against a running control plane.

    with controlplane(tmp) as cp, Mesh(cp) as mesh:
        mesh.apply(SERVICES_YAML)
        client = mesh.run("client", {"app": "client"})
        mesh.run("echo-v1", {"app": "echo", "version": "v1"})
        mesh.wait_synced()
        client.get("http://echo:9080/").json()["version"]

Every process is started by pid and stopped by pid (SIGTERM, then SIGKILL). ``wait_synced`` waits until
the control plane has pushed every store change and every proxy has ACKed what it was sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mizzen.config import load_text
from mizzen.testing.controlplane import RunningControlPlane


class MeshError(RuntimeError):
    """A workload or the mesh did not reach the expected state in time."""


@dataclass
class Workload:
    """One ``mizzen run`` process (agent + app + Envoy)."""

    name: str
    namespace: str
    process: subprocess.Popen[bytes]
    home: Path
    log_path: Path
    _state: dict[str, Any] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        """Where the agent writes this workload's state: ``<home>/workloads/<namespace>.<name>.json``."""
        return self.home / "workloads" / f"{self.namespace}.{self.name}.json"

    def state(self) -> dict[str, Any]:
        """The agent's state file (ports, pids, logs)."""
        if not self._state:
            self._state = json.loads(self.state_file.read_text())
        return self._state

    @property
    def http_proxy(self) -> str:
        """``http://127.0.0.1:<port>``: send requests here to go through this workload's sidecar."""
        return f"http://{self.state()['httpProxy']}"

    def admin(self) -> httpx.Client:
        """A client for this workload's Envoy admin: its 0600 UNIX socket (there is no TCP admin port)."""
        transport = httpx.HTTPTransport(uds=self.state()["adminSocket"])
        return httpx.Client(transport=transport, base_url="http://envoy-admin", timeout=10, trust_env=False)

    def admin_get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """``GET`` one admin endpoint, e.g. ``admin_get("/clusters")``."""
        with self.admin() as client:
            return client.get(path, params=dict(params or {}))

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An HTTP client whose requests go through this workload's sidecar, like the app's own calls."""
        return httpx.Client(proxy=self.http_proxy, timeout=timeout, trust_env=False)

    def get(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> httpx.Response:
        """One GET through the sidecar (a fresh client each call)."""
        with self.client(timeout) as c:
            return c.get(url, headers=dict(headers or {}))

    def stop(self) -> None:
        """SIGTERM the workload's process group; SIGKILL it if it has not exited after 10 s."""
        _stop(self.process)

    def log(self) -> str:
        """What ``mizzen run`` wrote so far (``""`` before it wrote anything), for failure messages."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    _terminate(proc)
    _reap(proc, timeout)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the workload's process group (agent, app, Envoy) unless it already exited."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a terminated workload; SIGKILL its group if it does not exit in time."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class Mesh:
    """Workloads and config on one control plane; a context manager that stops what it started."""

    def __init__(self, cp: RunningControlPlane) -> None:
        self.cp = cp
        # How `mizzen run` / `mizzen gateway` start: the console script's module (a bench may point it elsewhere).
        self.launcher: tuple[str, ...] = (sys.executable, "-m", "mizzen.cli.entry")
        self.workloads: list[Workload] = []
        self.http = cp.client(timeout=30.0, trust_env=False)

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every workload this mesh started (by pid) and close the API client."""
        # Signal every workload first, then wait: they shut down side by side, not one after another.
        for w in reversed(self.workloads):
            _terminate(w.process)
        for w in reversed(self.workloads):
            _reap(w.process, 10.0)
        self.workloads.clear()
        self.http.close()

    # --- config ------------------------------------------------------------------------------
    def apply(self, text: str, *, file: str = "test.yaml") -> dict[str, Any]:
        """Apply YAML through the batch API (all-or-nothing); raises on validation errors."""
        loaded = load_text(text, file=file)
        if not loaded.report.ok:
            raise MeshError("; ".join(str(v) for v in loaded.report.errors))
        docs = [r.to_json(server_fields=False) for r in loaded.resources]
        origins = [{"file": r.origin.file, "lines": dict(r.origin.lines)} for r in loaded.resources]
        resp = self.http.post("/api/mizzen/v1/apply", json={"documents": docs, "origins": origins})
        if resp.status_code >= 400:
            raise MeshError(f"apply failed ({resp.status_code}): {resp.text}")
        return dict(resp.json())

    def delete(self, kind_plural_path: str) -> None:
        """DELETE a REST path, e.g. ``/apis/networking.istio.io/v1/namespaces/default/virtualservices/x``."""
        resp = self.http.delete(kind_plural_path)
        if resp.status_code >= 400:
            raise MeshError(f"delete failed ({resp.status_code}): {resp.text}")

    # --- workloads ---------------------------------------------------------------------------
    def run(
        self,
        name: str,
        labels: Mapping[str, str],
        *,
        namespace: str = "default",
        ports: Sequence[str] = ("http=9080",),
        command: Sequence[str] | None = None,
        ready_path: str | None = "/health",
        service_account: str = "default",
        extra_args: Sequence[str] = (),
        wait: bool = True,
    ) -> Workload:
        """Start ``mizzen run`` (default app: the echo backend) and wait until it is registered."""
        version = labels.get("version", "")
        app = (
            list(command)
            if command
            else [
                sys.executable,
                "-m",
                "mizzen.testing.echo",
                "--port",
                "{port}",
                "--name",
                name,
                *(["--version", version] if version else []),
            ]
        )
        args = [
            *self.launcher,
            "run",
            "--name",
            name,
            "-n",
            namespace,
            "--labels",
            ",".join(f"{k}={v}" for k, v in labels.items()),
            "--service-account",
            service_account,
            *[a for p in ports for a in ("--port", p)],
            *(["--ready-path", ready_path] if ready_path else []),
            *extra_args,
            "--",
            *app,
        ]
        log_path = self.cp.home / "logs" / f"test-run-{namespace}.{name}.out"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.cp.env()}
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        w = Workload(name, namespace, proc, self.cp.home, log_path)
        self.workloads.append(w)
        if wait:
            self._wait_running(w)
        return w

    def run_gateway(
        self,
        name: str = "istio-ingressgateway",
        *,
        namespace: str = "istio-system",
        labels: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 60.0,
    ) -> Workload:
        """Start ``mizzen gateway`` and wait until its Envoy is connected."""
        labels = labels or {"istio": "ingressgateway"}
        args = [*self.launcher, "gateway", "--name", name, "-n", namespace]
        args += ["--labels", ",".join(f"{k}={v}" for k, v in labels.items()), *extra_args]
        log_path = self.cp.home / "logs" / f"test-gateway-{namespace}.{name}.out"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.cp.env()}, start_new_session=True
            )
        gw = Workload(name, namespace, proc, self.cp.home, log_path)
        self.workloads.append(gw)
        self._wait_running(gw, timeout)
        return gw

    def run_all(self, specs: Sequence[tuple[str, Mapping[str, str]]], **kwargs: Any) -> list[Workload]:
        """Start several ``(name, labels)`` workloads at once (same options for all), then wait for each:
        on 2 cores starting them side by side is much faster than one after the other."""
        started = [self.run(name, labels, wait=False, **kwargs) for name, labels in specs]
        self.wait_running(*started)
        return started

    def wait_running(self, *workloads: Workload, timeout: float = 60.0) -> None:
        """Wait until each workload started with ``run(..., wait=False)`` is registered and running."""
        for w in workloads:
            self._wait_running(w, timeout)

    def _wait_running(self, w: Workload, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if w.process.poll() is not None:
                raise MeshError(f"workload {w.name} exited ({w.process.returncode}):\n{w.log()}")
            if w.state_file.exists() and self.proxy(f"{w.name}.{w.namespace}") is not None:
                try:
                    if json.loads(w.state_file.read_text()).get("status") == "running":
                        return
                except json.JSONDecodeError:
                    pass  # being written
            time.sleep(0.1)
        raise MeshError(f"workload {w.name} not running after {timeout}s:\n{w.log()}")

    # --- status ------------------------------------------------------------------------------
    def proxies(self) -> dict[str, Any]:
        """The control plane's proxy list (``/api/mizzen/v1/proxies``): each connected Envoy and its sync state."""
        return dict(self.http.get("/api/mizzen/v1/proxies").json())

    def proxy(self, proxy_id: str) -> dict[str, Any] | None:
        """The proxy entry with this id (``name.namespace``), or ``None`` while it is not connected."""
        return next((p for p in self.proxies()["items"] if p["id"] == proxy_id), None)

    def revision(self) -> int:
        """The store's current revision (a list's ``resourceVersion``): what ``wait_synced`` waits to see pushed."""
        meta = self.http.get("/api/v1/namespaces/default/services").json().get("metadata", {})
        return int(meta.get("resourceVersion", 0))

    def wait_synced(self, timeout: float = 20.0, *, allow_errors: bool = False) -> dict[str, Any]:
        """Wait until every store change is pushed and every proxy ACKed (or, if allowed, NACKed) it."""
        target = self.revision()
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.proxies()
            if (
                last["converged"]
                and last["pushedRevision"] >= target
                and all(_synced(p, allow_errors) for p in last["items"])
            ):
                return last
            time.sleep(0.05)
        raise MeshError(f"mesh not synced after {timeout}s: {json.dumps(last)[:2000]}")


def _synced(proxy: Mapping[str, Any], allow_errors: bool) -> bool:
    """Every type ACKed at the control plane's current version (or NACKed at it, when allowed)."""
    for t in ("CDS", "LDS", "EDS", "RDS"):
        x = proxy["xds"][t]
        current = x.get("snapshotVersion", "")
        if x["status"] == "NOT SENT":
            continue
        if x["status"] == "SYNCED" and (x.get("current") or x.get("versionAcked") == current):
            continue
        if allow_errors and x["status"] == "ERROR" and x.get("versionSent") == current:
            continue
        return False
    return True
