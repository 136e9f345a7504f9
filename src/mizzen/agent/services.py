"""Everything Envoy talks to instead of the control plane, started before Envoy and stopped after it.

Istio's agent design: the agent holds the workload's credential and serves Envoy on local UNIX sockets
(:class:`~mizzen.agent.sockets.AgentSockets`): ADS and the access-log service are forwarded upstream
(:class:`~mizzen.agent.xdsproxy.XdsProxy`), certificates come from a key generated here
(:class:`~mizzen.agent.certs.CertificateKeeper` via :class:`~mizzen.agent.sds.SecretServer`), spans are
forwarded (:class:`~mizzen.agent.spans.SpanForwarder`), and the control plane reaches Envoy's admin only
through the agent channel (:class:`~mizzen.agent.channel.AdminChannel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mizzen.agent import credential as credentials
from mizzen.agent.bootstrap import AgentPaths
from mizzen.agent.certs import CertificateKeeper
from mizzen.agent.channel import AdminChannel
from mizzen.agent.cpclient import ControlPlaneClient
from mizzen.agent.credential import AgentCredential
from mizzen.agent.errors import ControlPlaneCallError, CredentialError
from mizzen.agent.join import START_RETRY_S
from mizzen.agent.sds import SecretServer
from mizzen.agent.sockets import AgentSockets
from mizzen.agent.spans import SpanForwarder
from mizzen.agent.spec import WorkloadSpec
from mizzen.agent.upstream import Upstream, UpstreamPool
from mizzen.agent.xdsproxy import XdsProxy
from mizzen.node import Proxy

if TYPE_CHECKING:
    from mizzen.agent.runner import ControlPlane

log = logging.getLogger(__name__)


class AgentServices:
    """The running local services of one workload; build with :meth:`start`."""

    def __init__(
        self,
        sockets: AgentSockets,
        credential: AgentCredential,
        client: ControlPlaneClient,
        upstream: Upstream,
        *,
        owns_upstream: bool = True,
    ) -> None:
        """Use :meth:`start`, which opens the sockets and the upstream connection in order."""
        self.sockets = sockets
        self.credential = credential
        self.client = client
        self.upstream = upstream
        self._owns_upstream = owns_upstream  # False: a host agent's shared channel, closed by its pool
        self.xds = XdsProxy(upstream, lambda: credential.token)
        self.sds = SecretServer()
        self.spans = SpanForwarder(client)
        self.certs: CertificateKeeper | None = None
        self.admin: AdminChannel | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(
        cls,
        spec: WorkloadSpec,
        proxy: Proxy,
        cp: ControlPlane,
        home: Path,
        logs: Mapping[str, Path] | None = None,
        on_ready: Callable[[], None] | None = None,
        upstreams: UpstreamPool | None = None,
    ) -> AgentServices:
        """Obtain the credential and the first certificate, then serve; :class:`CredentialError` on failure.
        ``on_ready`` is called each time the agent channel to the control plane opens (:class:`AdminChannel`);
        ``upstreams``: a host agent's shared gRPC channels (default: one of this workload's own)."""
        given = ControlPlaneClient(cp.api_url, cp.token, roots=cp.roots, others=cp.other_api_urls)
        try:
            cred = await _obtain(given, cp.token, spec)
        finally:
            await given.aclose()
        client = given.with_token(cred.token)
        if cp.tls and cp.roots is None:
            raise CredentialError(f"the control plane at {cp.api_url} uses TLS but no mesh root is available")
        roots = cp.roots if cp.tls else None
        upstream = upstreams.get(cp.xds_addresses, roots) if upstreams else Upstream(cp.xds_addresses, roots)
        sockets = AgentSockets.create(home, spec.namespace, spec.name)
        services = cls(sockets, cred, client, upstream, owns_upstream=upstreams is None)
        try:
            await services._serve(proxy, cp.secret_ttl_s, logs or {}, on_ready)
        except BaseException:
            await services.stop()
            raise
        return services

    async def _serve(
        self, proxy: Proxy, ttl_s: float, logs: Mapping[str, Path], on_ready: Callable[[], None] | None
    ) -> None:
        s = self.sockets
        await self.xds.start(str(s.xds))
        await self.sds.start(str(s.sds))
        await self.spans.start(str(s.spans))
        node_id = proxy.node_id
        self.certs = CertificateKeeper(self.client, lambda secrets: self.sds.publish(node_id, secrets), ttl_s=ttl_s)
        await self.certs.issue()  # before Envoy starts: its first SDS request is answered at once
        self.admin = AdminChannel(self.upstream, lambda: self.credential.token, proxy.id, s.admin, logs, on_ready)
        self.spans.via = self.admin.send_spans
        self._tasks = [
            asyncio.create_task(self.certs.keep_renewed(), name="mizzen-certificates"),
            asyncio.create_task(self.admin.run(), name="mizzen-agent-channel"),
        ]

    async def stop(self) -> None:
        """Stop serving, revoke a self-minted credential, remove the sockets."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in (self.spans, self.sds, self.xds):
            with contextlib.suppress(Exception):  # stopping must go on; each logs its own trouble
                await server.stop()
        if self.credential.auto:
            try:
                await self.client.revoke_self()
            except ControlPlaneCallError as exc:
                log.warning("could not revoke this agent's credential %s: %s", self.credential.id, exc)
        await self.client.aclose()
        if self._owns_upstream:
            await self.upstream.close()
        self.sockets.remove()

    def paths(self) -> AgentPaths:
        """The socket paths for the bootstrap."""
        return self.sockets.paths()


async def _obtain(client: ControlPlaneClient, token: str, spec: WorkloadSpec) -> AgentCredential:
    """The agent's credential, waiting up to :data:`START_RETRY_S` for an unreachable control plane."""
    deadline = asyncio.get_running_loop().time() + START_RETRY_S
    while True:
        try:
            return await credentials.obtain(client, token, spec)
        except ControlPlaneCallError as exc:
            if not exc.unreachable or asyncio.get_running_loop().time() > deadline:
                raise CredentialError(f"cannot obtain this workload's credential: {exc}") from exc
            log.info("control plane not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1.0)
