"""One readiness check of the app, as Kubernetes runs a probe: httpGet (2xx/3xx), tcpSocket (connects) or
exec (exits 0), each bounded by the probe's timeout. The thresholds live in :mod:`mizzen.agent.readiness`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from mizzen.agent import http11
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.spec import PortSpec


def probe_port(policy: ProbePolicy, ports: tuple[PortSpec, ...], app_ports: Mapping[str, int]) -> int | None:
    """The port to probe: the app's first port by default; a service port number (a WorkloadGroup's probe names
    the port the app serves on a cluster) means the port the agent gave the app for it; else as written."""
    if policy.port is None:
        return app_ports.get(ports[0].name) if ports else None
    named = next((p for p in ports if p.number == policy.port), None)
    return app_ports.get(named.name, policy.port) if named is not None else policy.port


async def check(policy: ProbePolicy, ready_path: str | None, port: int | None, *, where: Where | None = None) -> bool:
    """One probe: True when the app is ready. An exec probe runs in ``where`` (default: this process's
    folder and environment)."""
    try:
        return await asyncio.wait_for(_check(policy, ready_path, port, where), policy.timeout_s)
    except TimeoutError:
        return False


async def _check(policy: ProbePolicy, ready_path: str | None, port: int | None, where: Where | None) -> bool:
    if policy.exec_command:
        return await _exec(policy.exec_command, where or Where())
    if port is None:
        return True  # nothing to probe: a workload serving no port is ready once it runs
    path = policy.http_path or ready_path
    if path:
        try:
            status = await http11.get_status(policy.host, port, path, policy.headers)
        except (OSError, http11.Http11Error):
            return False
        return 200 <= status < 400  # Kubernetes' httpGet probe rule
    try:
        _, writer = await asyncio.open_connection(policy.host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@dataclass(frozen=True)
class Where:
    """The folder and environment a command runs in (None: this process's)."""

    cwd: str | None = None
    env: Mapping[str, str] | None = None


async def _exec(command: tuple[str, ...], where: Where) -> bool:
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=where.cwd,
            env=None if where.env is None else dict(where.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        return await proc.wait() == 0
    except asyncio.CancelledError:  # the probe's timeout: do not leave the command running
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
