"""Where the agent finds things: ``$MIZZEN_HOME`` layout, control-plane addresses and the API token.

Environment overrides (shared with the CLI): ``MIZZEN_HOME`` (default ``~/.mizzen``), ``MIZZEN_ADDRESS``
(HTTP API, default ``http://127.0.0.1:15014``), ``MIZZEN_XDS_ADDRESS`` (default ``127.0.0.1:15010``),
``MIZZEN_TOKEN`` (else the file ``$MIZZEN_HOME/token``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mizzen.agent.errors import AgentError, PortSpecError

DEFAULT_API_ADDRESS = "http://127.0.0.1:15014"
DEFAULT_XDS_ADDRESS = "127.0.0.1:15010"


def mizzen_home(env: Mapping[str, str] | None = None) -> Path:
    """``$MIZZEN_HOME`` or ``~/.mizzen``."""
    env = os.environ if env is None else env
    return Path(env.get("MIZZEN_HOME") or Path.home() / ".mizzen")


def api_address(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The control plane's HTTP API base URL (no trailing slash)."""
    env = os.environ if env is None else env
    url = explicit or env.get("MIZZEN_ADDRESS") or DEFAULT_API_ADDRESS
    if "://" not in url:
        url = f"http://{url}"
    return url.rstrip("/")


def xds_address(explicit: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The control plane's xDS gRPC address as (host, port)."""
    env = os.environ if env is None else env
    value = explicit or env.get("MIZZEN_XDS_ADDRESS") or DEFAULT_XDS_ADDRESS
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PortSpecError(f"xDS address must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def read_token(home: Path, env: Mapping[str, str] | None = None) -> str:
    """The API/xDS bearer token: ``$MIZZEN_TOKEN`` or ``$MIZZEN_HOME/token``."""
    env = os.environ if env is None else env
    token = env.get("MIZZEN_TOKEN", "").strip()
    if token:
        return token
    path = home / "token"
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise AgentError(
            f"no control-plane token: {path} is not readable ({exc.strerror}); start the control plane "
            "first (it creates the token) or set MIZZEN_TOKEN"
        ) from exc
    if not token:
        raise AgentError(f"{path} is empty; restart the control plane or set MIZZEN_TOKEN")
    return token
