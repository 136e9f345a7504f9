"""Free local ports for listeners, chosen outside the kernel's ephemeral range.

Ports the kernel picks for ``bind(("", 0))`` come from the ephemeral range, the same range every outgoing
connection on the host takes its source port from. On a host running many sidecars (each opening
connections all the time) a port found free there is often taken by some connection before Envoy binds
it ("Address already in use"). Listener ports are therefore drawn at random from below the ephemeral
range, where only other listeners live; probe sockets stay open until one allocation is complete so its
ports are distinct. Falls back to kernel-chosen ports if that range is exhausted.

Unlike the kernel, random picks by two processes can coincide in the moment between allocation and the
Envoy binding the port (several workloads often start together). Each pick is therefore also reserved
host-wide for a short while: one file per port created with ``O_EXCL`` in a per-user directory; a
reservation older than :data:`RESERVATION_TTL_S` is stale and may be taken over.
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

_DEFAULT_EPHEMERAL = (32768, 60999)
_LOWEST = 20000  # below: well-known and registered services users may run
_ATTEMPTS = 200
_rng = random.SystemRandom()
RESERVATION_TTL_S = 120.0


def _reservations() -> Path:
    path = Path(tempfile.gettempdir()) / f"mizzen-ports-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def reserve(port: int, directory: Path | None = None, now: float | None = None) -> bool:
    """Claim ``port`` host-wide for :data:`RESERVATION_TTL_S`; False when another process holds it."""
    path = (directory or _reservations()) / str(port)
    now = time.time() if now is None else now
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            try:
                if now - path.stat().st_mtime <= RESERVATION_TTL_S:
                    return False
                path.unlink()  # stale: take it over
            except FileNotFoundError:
                continue  # released meanwhile: try again
    return False


def _prune(directory: Path, now: float) -> None:
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if now - entry.stat().st_mtime > RESERVATION_TTL_S:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass  # another process pruned it first


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux), or Linux's default when it cannot be read."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return low, high


def listen_range(ephemeral: tuple[int, int] | None = None) -> tuple[int, int]:
    """Where listener ports are drawn from: below the ephemeral range, or above it if that is too small."""
    low, high = ephemeral or ephemeral_range()
    if low - 1 - _LOWEST >= 2000:
        return _LOWEST, low - 1
    return min(high + 1, 65535), 65535


def _probe(stack: ExitStack, host: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return False
    stack.enter_context(sock)
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that were free on ``host`` a moment ago."""
    low, high = listen_range()
    directory = _reservations()
    _prune(directory, time.time())
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(_ATTEMPTS):
            if len(ports) == count:
                break
            port = _rng.randint(low, high)
            if port not in ports and _probe(stack, host, port) and reserve(port, directory):
                ports.append(port)
        while len(ports) < count:  # the range is crowded: let the kernel choose
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port(host: str = "127.0.0.1") -> int:
    """One TCP port that was free on ``host`` a moment ago."""
    return free_ports(1, host)[0]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
