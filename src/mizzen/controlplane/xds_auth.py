"""Credentials on the gRPC port: the grant each xDS, access-log and admin-channel stream gets.

A workload or gateway credential is admitted only as its own proxy (node id and node metadata, decoded
exactly as the translator will decode them), sees no ADS secret (sidecar) or only its own namespace's
``credentialName`` secrets (gateway), and stops being valid the moment it is revoked or expires.
"""

from __future__ import annotations

from collections.abc import Callable

from mizzen.controlplane.credentials import CredentialIndex
from mizzen.controlplane.credentials import Unauthenticated as BadCredential
from mizzen.node import proxy_from_node
from mizzen.security.credentials import Credential
from mizzen.security.scope import NodeClaim, node_problem, secret_visible
from mizzen.xds import types as xt
from mizzen.xds.auth import Metadata, NameFilter, StreamGrant, Unauthenticated, bearer
from mizzen.xds.protocol import NodeInfo

SecretIndex = Callable[[], frozenset[tuple[str, str]]]  # (namespace, name) of every stored Secret
# (namespace, credentialName) of every stored DestinationRule's client TLS
CredentialNameIndex = Callable[[], frozenset[tuple[str, str]]]


def claim_of(node: NodeInfo) -> NodeClaim:
    """What a node declares, decoded the way the control plane will use it."""
    proxy = proxy_from_node(node.node_id, node.metadata)
    return NodeClaim(
        node_id=node.node_id,
        name=proxy.name,
        namespace=proxy.namespace,
        service_account=proxy.service_account,
        proxy_type=proxy.type,
    )


class CredentialGrant:
    """The grant of one credential on one stream."""

    def __init__(
        self,
        cred: Credential,
        index: CredentialIndex,
        secrets: SecretIndex,
        dr_credentials: CredentialNameIndex | None = None,
    ) -> None:
        self.credential = cred
        self._index = index
        self._secrets = secrets
        self._dr_credentials = dr_credentials

    def admit(self, node: NodeInfo) -> str | None:
        """Refuse every node but the credential's own proxy (admin: any)."""
        return node_problem(self.credential, claim_of(node))

    def valid(self) -> bool:
        """Still usable: not revoked, not expired."""
        return self._index.is_valid(self.credential.id)

    def visible(self, type_url: str) -> NameFilter | None:
        """Secrets are filtered per credential (see :func:`mizzen.security.scope.secret_visible`)."""
        if type_url != xt.SECRET or self.credential.is_admin:
            return None
        stored = self._secrets()
        named = self._dr_credentials() if self._dr_credentials is not None else frozenset()
        return lambda name: secret_visible(self.credential, name, stored, named)


class CredentialAuthenticator:
    """The :class:`~mizzen.xds.auth.StreamAuthenticator` of the control plane's gRPC port."""

    def __init__(
        self, index: CredentialIndex, secrets: SecretIndex, dr_credentials: CredentialNameIndex | None = None
    ) -> None:
        self._index = index
        self._secrets = secrets
        self._dr_credentials = dr_credentials

    def authenticate(self, metadata: Metadata) -> StreamGrant:
        """The grant for the stream's bearer credential; :class:`Unauthenticated` if it has none that works."""
        return self.grant(metadata)

    def grant(self, metadata: Metadata) -> CredentialGrant:
        """Like :meth:`authenticate`, typed for callers that need the credential."""
        try:
            cred = self._index.authenticate(bearer(metadata))
        except BadCredential as exc:
            raise Unauthenticated(str(exc)) from exc
        return CredentialGrant(cred, self._index, self._secrets, self._dr_credentials)
