"""The agent's SDS server: Envoy's ``sds-grpc`` cluster is this UNIX socket.

It serves the ``default`` (certificate chain + key) and ``ROOTCA`` secrets that
:class:`~mizzen.agent.certs.CertificateKeeper` hands to :meth:`SecretServer.publish`, with the xDS layer's
State-of-the-World server (the one module of the agent that uses it; Istio's agent embeds an SDS server
too). Envoy opens one SDS stream per secret, so streams of one
node do not replace each other here. The socket's folder is private to this user; no credential is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.security.sds import SECRET_TYPE
from mizzen.xds import Snapshot, SnapshotCache, XdsServer


class SecretServer:
    """SDS on a UNIX socket, fed through :meth:`publish`."""

    def __init__(self) -> None:
        self.cache = SnapshotCache()
        self._server = XdsServer(self.cache, sds=True, one_stream_per_node=False)

    def publish(self, node_id: str, secrets: Mapping[str, Mapping[str, Any]]) -> None:
        """Make ``secrets`` (name -> Secret proto-JSON) what ``node_id``'s Envoy has; open streams get them now."""
        self.cache.set(node_id, Snapshot.from_dicts({SECRET_TYPE: secrets}))

    async def start(self, path: str) -> None:
        """Serve on the UNIX socket ``path``."""
        await self._server.start_unix(path)

    async def stop(self) -> None:
        """Close every stream and the socket."""
        await self._server.stop()
