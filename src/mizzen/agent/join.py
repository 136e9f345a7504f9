"""Joining the mesh: ask the control plane where it is reached, and settle this workload's endpoint address.

The agent is given only the control plane's API address (``--control-plane``), a credential and the mesh
root. It asks ``GET /api/mizzen/v1/controlplane`` (over TLS verified against that root, so the answer is
the control plane's own) for the advertised xDS address, unless ``--xds-address`` names one. The workload's
endpoint address, unless ``--address`` names it, is the local address this host uses to reach the
advertised address: the address peers on the control plane's network reach this host at. An endpoint on
loopback cannot be reached from another host, so it is refused when the control plane is remote.

Every way this goes wrong is one :class:`~mizzen.agent.errors.JoinError` saying what to do: the control
plane unreachable (after :data:`START_RETRY_S`), a certificate the root does not sign, a refused credential
(expired, revoked, unknown), an address with no route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mizzen.agent.cpclient import tls_verify
from mizzen.agent.errors import JoinError
from mizzen.agent.spec import WorkloadSpec
from mizzen.hostaddr import is_loopback, source_address_towards

if TYPE_CHECKING:
    from mizzen.agent.runner import ControlPlane

log = logging.getLogger("mizzen.agent")

INFO_PATH = "/api/mizzen/v1/controlplane"
START_RETRY_S = 30.0  # how long an agent started before its control plane waits for it


@dataclasses.dataclass(frozen=True)
class Joined:
    """The control plane as this agent will use it, and the spec with its endpoint address settled."""

    control_plane: ControlPlane
    spec: WorkloadSpec
    advertised: str  # the control plane's advertised address


async def join(cp: ControlPlane, spec: WorkloadSpec, *, xds_given: bool) -> Joined:
    """Learn the xDS address (unless given) and settle the endpoint address (``spec.address == ""``: auto)."""
    info = await _ask(cp)
    advertised = str(info.get("advertiseAddress") or "")
    if not xds_given and info.get("xdsAddress"):
        host, _, port = str(info["xdsAddress"]).rpartition(":")
        cp = dataclasses.replace(cp, xds_address=(host.strip("[]"), int(port)))
    api_host = urlsplit(cp.api_url).hostname or ""
    remote = not is_loopback(api_host)
    address = spec.address or _endpoint_address(advertised or api_host, cp.api_url)
    if spec.proxy_type == "sidecar" and remote and is_loopback(address):
        raise JoinError(
            f"--address {address} is a loopback address, which workloads on other hosts cannot reach, but the "
            f"control plane at {cp.api_url} is on another host; give this host's address (or leave --address out: "
            "the address this host reaches the control plane from is used)"
        )
    return Joined(cp, dataclasses.replace(spec, address=address), advertised)


def _endpoint_address(towards: str, api_url: str) -> str:
    try:
        return source_address_towards(towards)
    except OSError as exc:
        raise JoinError(
            f"no route from this host to the control plane's address {towards} ({api_url}): {exc.strerror or exc}"
        ) from exc


async def _ask(cp: ControlPlane) -> dict[str, Any]:
    """The control plane's answer to :data:`INFO_PATH`, waiting up to :data:`START_RETRY_S` for it to come up."""
    verify = tls_verify(cp.api_url, cp.roots)
    deadline = asyncio.get_running_loop().time() + START_RETRY_S
    headers = {"Authorization": f"Bearer {cp.token}"}
    async with httpx.AsyncClient(base_url=cp.api_url, headers=headers, verify=verify, trust_env=False) as client:
        while True:
            try:
                resp = await client.get(INFO_PATH, timeout=5.0)
            except httpx.HTTPError as exc:
                if _certificate_problem(exc):
                    raise JoinError(
                        f"the control plane at {cp.api_url} presented a certificate the mesh root does not sign "
                        f"({_reason(exc)}): this root is not that control plane's; copy its root-cert.pem "
                        "(`mizzen up` prints the path and fingerprint) and pass it with --root-cert"
                    ) from exc
                if asyncio.get_running_loop().time() > deadline:
                    raise JoinError(
                        f"cannot reach the control plane at {cp.api_url} (for {START_RETRY_S:.0f}s): {_reason(exc)}; "
                        "is it running, bound to an address this host can reach (mizzen up --address 0.0.0.0), "
                        "and is the port open?"
                    ) from exc
                log.info("control plane %s not reachable yet (%s); retrying", cp.api_url, _reason(exc))
                await asyncio.sleep(1.0)
                continue
            if resp.status_code in (401, 403):
                raise JoinError(f"the control plane at {cp.api_url} refused this agent's credential: {_message(resp)}")
            if resp.status_code == 404:  # an older control plane: no discovery, keep the configured xDS address
                return {}
            if not resp.is_success:
                raise JoinError(f"GET {cp.api_url}{INFO_PATH}: HTTP {resp.status_code}: {_message(resp)}")
            body = resp.json()
            return body if isinstance(body, dict) else {}


def _certificate_problem(exc: httpx.HTTPError) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _reason(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    return str(body.get("message") or resp.text[:300]) if isinstance(body, dict) else resp.text[:300]
