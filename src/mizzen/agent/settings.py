"""Where the agent finds things: ``$MIZZEN_HOME`` layout, control-plane addresses, its credential, the mesh root.

Environment overrides (shared with the CLI): ``MIZZEN_HOME`` (default ``~/.mizzen``), ``MIZZEN_ADDRESS``
(HTTP API, default: what a local control plane wrote to ``$MIZZEN_HOME/controlplane.address``, else
``http://127.0.0.1:15014``), ``MIZZEN_XDS_ADDRESS`` (default: what the control plane advertises, else
``127.0.0.1:15010``), ``MIZZEN_TOKEN`` (else
``--token-file``, else the file ``$MIZZEN_HOME/token``), ``MIZZEN_ROOT_CERT`` (else ``--root-cert``, else
``$MIZZEN_HOME/root-cert.pem``), ``MIZZEN_SECRET_TTL`` (workload certificate lifetime, default 24h),
``MIZZEN_HOST_AGENT`` (``1``: workloads run in one host agent per home, :mod:`mizzen.agent.host`).

Several control-plane replicas: both addresses may be comma-separated lists, tried in order
(``--xds-address a:15010,b:15010 --server http://a:15014,http://b:15014``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mizzen.agent.errors import AgentError, PortSpecError
from mizzen.security.durations import parse_duration

DEFAULT_API_ADDRESS = "http://127.0.0.1:15014"
DEFAULT_XDS_ADDRESS = "127.0.0.1:15010"


def mizzen_home(env: Mapping[str, str] | None = None) -> Path:
    """``$MIZZEN_HOME`` or ``~/.mizzen``."""
    env = os.environ if env is None else env
    return Path(env.get("MIZZEN_HOME") or Path.home() / ".mizzen")


def host_agent_enabled(env: Mapping[str, str] | None = None) -> bool:
    """``MIZZEN_HOST_AGENT=1`` (or ``true``/``yes``): ``mizzen run`` and ``mizzen gateway`` attach to the host agent."""
    env = os.environ if env is None else env
    return env.get("MIZZEN_HOST_AGENT", "").strip().lower() in ("1", "true", "yes")


def api_address(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The control plane's HTTP API base URL (no trailing slash)."""
    env = os.environ if env is None else env
    url = explicit or env.get("MIZZEN_ADDRESS") or _written_address(mizzen_home(env)) or DEFAULT_API_ADDRESS
    if "://" not in url:
        url = f"http://{url}"
    return url.rstrip("/")


def xds_address(explicit: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The (first) control plane's xDS gRPC address as (host, port)."""
    return xds_addresses(explicit, env)[0]


def xds_addresses(explicit: str | None = None, env: Mapping[str, str] | None = None) -> tuple[tuple[str, int], ...]:
    """Every control-plane replica's xDS address as (host, port), in the order given (``a:15010,b:15010``)."""
    env = os.environ if env is None else env
    value = explicit or env.get("MIZZEN_XDS_ADDRESS") or DEFAULT_XDS_ADDRESS
    out: list[tuple[str, int]] = []
    for item in value.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise PortSpecError(f"xDS address must be HOST:PORT (several: HOST:PORT,HOST:PORT), got {item.strip()!r}")
        out.append((host.strip("[]"), int(port)))
    return tuple(out)


def api_addresses(explicit: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every control-plane replica's HTTP API base URL, in the order given (a comma-separated list)."""
    env = os.environ if env is None else env
    value = explicit or env.get("MIZZEN_ADDRESS") or ""
    urls = tuple(api_address(item.strip(), env) for item in value.split(",") if item.strip())
    return urls or (api_address(None, env),)


def _written_address(home: Path) -> str:
    try:
        return (home / "controlplane.address").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def read_token(home: Path, env: Mapping[str, str] | None = None, token_file: Path | None = None) -> str:
    """The agent's credential: ``$MIZZEN_TOKEN``, else ``token_file``, else ``$MIZZEN_HOME/token`` (admin)."""
    env = os.environ if env is None else env
    token = env.get("MIZZEN_TOKEN", "").strip()
    if token:
        return token
    path = token_file or home / "token"
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


def root_certificates(home: Path, env: Mapping[str, str] | None = None, path: Path | None = None) -> bytes | None:
    """The mesh root(s) to verify a TLS control plane with (``path``, else ``$MIZZEN_ROOT_CERT``, else
    ``$MIZZEN_HOME/root-cert.pem``), or None when there is no file."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env["MIZZEN_ROOT_CERT"]) if env.get("MIZZEN_ROOT_CERT") else home / "root-cert.pem"
    try:
        return path.read_bytes()
    except OSError:
        return None


def secret_ttl(env: Mapping[str, str] | None = None) -> float:
    """The workload certificate lifetime to ask for, in seconds (Istio's ``SECRET_TTL``, default 24h)."""
    env = os.environ if env is None else env
    raw = env.get("MIZZEN_SECRET_TTL", "24h")
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise AgentError(f"MIZZEN_SECRET_TTL: {exc}") from exc
