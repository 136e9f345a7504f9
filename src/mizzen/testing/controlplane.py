"""Start a real control-plane process for tests: free ports, its own ``MIZZEN_HOME``, stopped by pid.

    with controlplane(tmp_path) as cp:
        httpx.get(cp.address + "/api/v1/services", headers=cp.headers())

The process runs ``mizzen controlplane`` (``python -m mizzen.cli.entry controlplane``) exactly as users
do, with its output in ``<home>/controlplane.log`` (shown in errors when it fails to become ready).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mizzen.agent.ports import free_port as _free_port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (outside the ephemeral range: see ``mizzen.agent.ports``)."""
    return _free_port(host)


@dataclass
class RunningControlPlane:
    """A control-plane subprocess and how to reach it."""

    address: str  # http://127.0.0.1:<port>
    token: str
    home: Path
    port: int
    xds_port: int
    process: subprocess.Popen[bytes]
    args: Sequence[str] = field(default_factory=tuple)

    @property
    def xds_address(self) -> str:
        """``127.0.0.1:<port>`` of the ADS server, as agents are given it."""
        return f"127.0.0.1:{self.xds_port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an HTTP client should verify this control plane with (its mesh root when it serves TLS)."""
        if not self.address.startswith("https://"):
            return True
        return ssl.create_default_context(cafile=str(self.home / "root-cert.pem"))

    def client(self, **kwargs: object) -> httpx.Client:
        """An admin HTTP client for the API (TLS verified against the mesh root when on)."""
        return httpx.Client(base_url=self.address, headers=self.headers(), verify=self.verify, **kwargs)  # type: ignore[arg-type]

    def headers(self) -> dict[str, str]:
        """The Authorization header for the API."""
        return {"Authorization": f"Bearer {self.token}"}

    def env(self) -> dict[str, str]:
        """Environment variables that point clients (CLI, agent) at this control plane."""
        return {
            "MIZZEN_HOME": str(self.home),
            "MIZZEN_ADDRESS": self.address,
            "MIZZEN_TOKEN": self.token,
            "MIZZEN_XDS_ADDRESS": self.xds_address,
        }

    def log(self) -> str:
        """The process's output so far."""
        try:
            return (self.home / "controlplane.log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wipe(self) -> None:
        """Delete every stored object through the API (so one process can serve many tests)."""
        from mizzen.config.kinds import KINDS

        with self.client(timeout=30) as client:
            for info in KINDS:
                base = f"/apis/{info.group}/{info.versions[0]}" if info.group else f"/api/{info.versions[0]}"
                listed = client.get(f"{base}/{info.plural}")
                listed.raise_for_status()
                for item in listed.json()["items"]:
                    meta = item["metadata"]
                    client.delete(info.api_path(meta.get("namespace", ""), meta["name"])).raise_for_status()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid and wait; SIGKILL if it does not exit in time."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL by pid (a crash) and reap the process."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_controlplane(
    home: Path | None = None,
    *,
    timeout: float = 120.0,
    extra_args: Sequence[str] = (),
    ports: tuple[int, int] | None = None,
) -> RunningControlPlane:
    """Start a control plane on free ports (or ``ports``: API, xDS) with ``home`` (a new temp dir by default);
    wait for /readyz."""
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="mizzen-home-"))
    home.mkdir(parents=True, exist_ok=True)
    port, xds_port = ports or (free_port(), free_port())
    args = [
        sys.executable,
        "-m",
        "mizzen.cli.entry",  # the `mizzen` console script
        "controlplane",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--xds-port",
        str(xds_port),
        *extra_args,
    ]
    env = {**os.environ, "MIZZEN_HOME": str(home)}
    for key in ("MIZZEN_ADDRESS", "MIZZEN_TOKEN"):
        env.pop(key, None)
    with open(home / "controlplane.log", "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    (home / "controlplane.address").unlink(missing_ok=True)
    cp = RunningControlPlane("", "", home, port, xds_port, proc, args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the control plane exited with code {proc.returncode}:\n{cp.log()}")
        try:
            # The control plane writes its URL (http or https) once it listens.
            cp.address = (home / "controlplane.address").read_text(encoding="utf-8").strip()
            if cp.address and httpx.get(cp.address + "/readyz", timeout=1.0, verify=cp.verify).status_code == 200:
                cp.token = (home / "token").read_text(encoding="utf-8").strip()
                return cp
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    cp.kill()
    raise RuntimeError(f"the control plane was not ready after {timeout}s:\n{cp.log()}")


def restart(cp: RunningControlPlane, *, timeout: float = 120.0, same_ports: bool = False) -> RunningControlPlane:
    """Start a new control plane on the same home (after :meth:`RunningControlPlane.kill` or ``stop``);
    ``same_ports``: on the ports it had (a replica that clients list by address)."""
    extra = cp.args[cp.args.index(str(cp.xds_port)) + 1 :] if str(cp.xds_port) in cp.args else ()
    ports = (cp.port, cp.xds_port) if same_ports else None
    return start_controlplane(cp.home, timeout=timeout, extra_args=extra, ports=ports)


@contextmanager
def controlplane(home: Path | None = None, *, timeout: float = 120.0) -> Iterator[RunningControlPlane]:
    """A running control plane for the duration of a ``with`` block."""
    cp = start_controlplane(home, timeout=timeout)
    try:
        yield cp
    finally:
        cp.stop()


@dataclass
class CliResult:
    """What one ``mizzen`` invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


MizzenCli = Callable[..., CliResult]


def cli_runner(env: dict[str, str]) -> MizzenCli:
    """A ``mizzen ARGS`` invoker (in-process, click's runner) with ``env`` added to the environment.

    Call it as ``run("get", "vs", "-A", input=None, extra_env={...})``; unexpected exceptions propagate.
    """
    from click.testing import CliRunner

    from mizzen.cli.main import cli

    def run(*args: str, input: str | None = None, extra_env: dict[str, str] | None = None) -> CliResult:
        result = CliRunner().invoke(cli, list(args), input=input, env={**env, **(extra_env or {})}, prog_name="mizzen")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
