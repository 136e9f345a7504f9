"""The agent's SDS server: Envoy's ``sds-grpc`` cluster is this UNIX socket.

It serves the ``default`` (certificate chain + key) and ``ROOTCA`` secrets that
:class:`~mizzen.agent.certs.CertificateKeeper` publishes into :attr:`SecretServer.cache`, with the same
State-of-the-World server the control plane uses. Envoy opens one SDS stream per secret, so streams of one
node do not replace each other here. The socket's folder is private to this user; no credential is needed.
"""

from __future__ import annotations

from mizzen.xds import SnapshotCache, XdsServer


class SecretServer:
    """SDS on a UNIX socket, fed through :attr:`cache`."""

    def __init__(self) -> None:
        self.cache = SnapshotCache()
        self._server = XdsServer(self.cache, sds=True, one_stream_per_node=False)

    async def start(self, path: str) -> None:
        await self._server.start_unix(path)

    async def stop(self) -> None:
        await self._server.stop()
