"""Who may open a stream, as which node, and what it may see: the server's only view of credentials.

The xDS server knows nothing of Istio or of Mizzen's credentials. For each stream it asks a
:class:`StreamAuthenticator` for a :class:`StreamGrant` from the gRPC metadata (raising
:class:`Unauthenticated` refuses the stream), asks the grant to :meth:`~StreamGrant.admit` the node the
stream declares *before* the stream is registered (so a refused client never displaces a real proxy),
filters every snapshot through :meth:`~StreamGrant.visible`, and closes streams whose grant stopped being
:meth:`~StreamGrant.valid` when told to re-check (:meth:`mizzen.xds.server.XdsServer.revalidate`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Protocol

from mizzen.xds.protocol import NodeInfo

Metadata = Sequence[tuple[str, str | bytes]]
NameFilter = Callable[[str], bool]


class Unauthenticated(Exception):
    """The stream presented no usable credential; ``str()`` says why (sent as the status details)."""


class StreamGrant(Protocol):
    """What one authenticated stream may do."""

    def admit(self, node: NodeInfo) -> str | None:
        """None when the stream may serve ``node``; else the reason it may not (PERMISSION_DENIED)."""
        ...

    def valid(self) -> bool:
        """False once the credential behind the grant was revoked or expired."""
        ...

    def visible(self, type_url: str) -> NameFilter | None:
        """None when every resource of ``type_url`` may be sent; else a predicate on resource names."""
        ...


class StreamAuthenticator(Protocol):
    """Turns a stream's gRPC metadata into a grant."""

    def authenticate(self, metadata: Metadata) -> StreamGrant:
        """The grant for these credentials; raises :class:`Unauthenticated` to refuse the stream."""
        ...


def bearer(metadata: Metadata) -> str | None:
    """The token of an ``authorization: Bearer <token>`` metadata entry, if any."""
    for key, value in metadata:
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class _Everything:
    """A grant that admits any node and sees everything (one shared secret, tests and tools)."""

    def admit(self, node: NodeInfo) -> str | None:
        return None

    def valid(self) -> bool:
        return True

    def visible(self, type_url: str) -> NameFilter | None:
        return None


class BearerToken:
    """Accepts exactly one static token and grants everything: for tests and single-secret tools."""

    def __init__(self, token: str) -> None:
        self._token = token

    def authenticate(self, metadata: Metadata) -> StreamGrant:
        """Everything for the one token, nothing for anything else."""
        given = bearer(metadata)
        if given is None or not hmac.compare_digest(given.encode(), self._token.encode()):
            raise Unauthenticated("missing or wrong bearer token")
        return _Everything()


ALLOW_ALL: StreamGrant = _Everything()
