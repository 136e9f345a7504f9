"""Running the control plane in the background: ``mizzen up``, ``mizzen down``, ``mizzen status``.

``up`` starts ``python -m mizzen.controlplane`` (what ``mizzen controlplane`` runs) as a detached
process (its own session, output appended to ``$MIZZEN_HOME/controlplane.log``) and waits until
``/readyz`` answers; the process writes its own pid file, so ``down`` and ``status`` work the same for a
foreground control plane. Nothing here imports the server, so the CLI may use this module. httpx is
imported where a request is made: ``mizzen controlplane`` loads this module only to exec the server, and
every module it loads first delays each (re)start, hence each proxy's resync (~0.1 s for httpx; issue 15).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mizzen.controlplane.home import Home, running_pid


class ProcessError(Exception):
    """Starting or stopping the background control plane failed."""


@dataclass(frozen=True)
class Status:
    """What ``mizzen status`` reports."""

    pid: int | None
    url: str | None
    healthy: bool
    ready: bool


def controlplane_command(
    address: str,
    port: int,
    xds_port: int,
    store: str | None = None,
    store_password_file: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of a foreground control plane run by this Python (never holding a password);
    ``extra``: more server options (the CA and TLS settings)."""
    store_args = ["--store", store] if store else []
    if store_password_file is not None:
        store_args += ["--store-password-file", str(store_password_file)]
    args = ["--address", address, "--port", str(port), "--xds-port", str(xds_port), *store_args, *extra]
    return server_command(args)


def server_command(args: Sequence[str]) -> list[str]:
    """``python -m mizzen.controlplane ARGS`` with this Python: the server's own entry point."""
    return [sys.executable, "-m", "mizzen.controlplane", *args]


def start_background(
    home: Home,
    address: str,
    port: int,
    xds_port: int,
    timeout: float = 30.0,
    store: str | None = None,
    store_password_file: Path | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Start a detached control plane (``extra``: more server options) and wait for ``/readyz``."""
    existing = running_pid(home)
    if existing is not None:
        raise ProcessError(f"the control plane is already running (pid {existing}, home {home.root})")
    home.ensure()
    home.address_file.unlink(missing_ok=True)  # a crashed run's file must not be probed as ours
    env = {**os.environ, "MIZZEN_HOME": str(home.root)}
    fd = os.open(home.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # the home is private
    with os.fdopen(fd, "ab") as log_fh:
        proc = subprocess.Popen(
            controlplane_command(address, port, xds_port, store, store_password_file, extra),
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ProcessError(
                f"the control plane exited with code {proc.returncode}; last log lines:\n{tail(home, 15)}"
            )
        url = _written_url(home)  # http or https: the server writes its URL once it listens
        if url and probe(url, "/readyz", home):
            return proc.pid
        time.sleep(0.1)
    proc.terminate()
    raise ProcessError(f"the control plane did not become ready within {timeout:.0f}s; see {home.log_file}")


def stop_background(home: Home, timeout: float = 15.0) -> int | None:
    """Stop the control plane recorded in ``home`` (SIGTERM, then SIGKILL); return its pid or ``None``."""
    pid = running_pid(home)
    if pid is None:
        home.pid_file.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    home.pid_file.unlink(missing_ok=True)
    home.address_file.unlink(missing_ok=True)
    return pid


def status(home: Home) -> Status:
    """The recorded pid (if alive), the address it wrote, and its health and readiness."""
    pid = running_pid(home)
    try:
        url = home.address_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        url = None
    if pid is None or url is None:
        return Status(pid, url, False, False)
    return Status(pid, url, probe(url, "/healthz", home), probe(url, "/readyz", home))


def info(home: Home) -> dict[str, str]:
    """Where the running control plane tells agents to reach it (``GET /api/mizzen/v1/controlplane`` with the
    home's admin token); empty when it cannot be asked."""
    url, token = _written_url(home), home.read_token()
    if not url or not token:
        return {}
    import httpx  # lazily: module docstring

    try:
        resp = httpx.get(
            url + "/api/mizzen/v1/controlplane",
            headers={"Authorization": f"Bearer {token}"},
            timeout=2.0,
            verify=_verify(url, home),
        )
    except (httpx.HTTPError, OSError):
        return {}
    body = resp.json() if resp.status_code == 200 else {}
    return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}


def _verify(url: str, home: Home) -> ssl.SSLContext | bool:
    if not url.startswith("https://"):
        return True
    return ssl.create_default_context(cafile=str(home.root / "root-cert.pem"))


def probe(url: str, path: str, home: Home | None = None) -> bool:
    """True when ``GET url+path`` answers 200 (an ``https`` URL is verified against the home's mesh root)."""
    verify: ssl.SSLContext | bool = True
    if url.startswith("https://") and home is not None:
        try:
            verify = ssl.create_default_context(cafile=str(home.root / "root-cert.pem"))
        except OSError:
            return False
    import httpx  # lazily: module docstring

    try:
        return httpx.get(url + path, timeout=1.0, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def _written_url(home: Home) -> str:
    try:
        return home.address_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def tail(home: Home, lines: int) -> str:
    """The last ``lines`` lines of the control-plane log."""
    try:
        text = home.log_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (it is not, after `mizzen up`, but tests may call this directly).
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
