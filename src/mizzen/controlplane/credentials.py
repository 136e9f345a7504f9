"""Credentials in the store: the internal ``Credential`` kind, and the in-memory index tokens are checked against.

The store holds one ``security.mizzen.io/v1`` ``Credential`` per token (salted hash, scope, expiry,
revoked flag; never the token). The :class:`CredentialIndex` is loaded from the store at start and kept
current by the store's change events (:meth:`CredentialIndex.on_store_event`), so a credential created or
revoked through another control plane on a shared store takes effect here too. Listeners registered with
:meth:`CredentialIndex.subscribe` hear about every change (the xDS server re-checks open streams).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from mizzen.config.kinds import internal_kind
from mizzen.config.resource import Metadata, Resource
from mizzen.security import credentials as creds
from mizzen.security.credentials import Credential, CredentialType
from mizzen.security.errors import IdentityError
from mizzen.store import ConfigStore
from mizzen.store.errors import NotFound

log = logging.getLogger(__name__)

KIND = "Credential"
_INFO = internal_kind(KIND)
assert _INFO is not None
API_VERSION = _INFO.preferred_api_version


class Unauthenticated(Exception):
    """The token is missing, malformed, unknown, revoked or expired; ``str()`` says which."""


@dataclass(frozen=True)
class Minted:
    """A new credential: the token (shown once) and its record."""

    token: str
    credential: Credential


def to_resource(cred: Credential) -> Resource:
    """The store object for ``cred`` (name = credential id, namespace = the workload's)."""
    labels = {"security.mizzen.io/type": cred.type}
    return Resource(API_VERSION, KIND, Metadata(name=cred.id, namespace=cred.namespace, labels=labels), cred.to_spec())


def from_resource(resource: Resource) -> Credential:
    """Read a stored ``Credential`` back (:class:`IdentityError` for a corrupt record)."""
    return Credential.from_spec(resource.name, resource.namespace, resource.spec)


class CredentialIndex:
    """Every credential of the store, by id, for constant-time token checks."""

    def __init__(self, store: ConfigStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._by_id: dict[str, Credential] = {}
        self._listeners: list[Callable[[], None]] = []
        for resource in store.list(KIND):
            self._add(resource)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change to a credential."""
        self._listeners.append(listener)

    def on_store_event(self, event_type: str, resource: Resource) -> None:
        """Fold one store change of kind ``Credential`` into the index."""
        if event_type == "DELETED":
            self._by_id.pop(resource.name, None)
        else:
            self._add(resource)
        self._changed()

    def authenticate(self, token: str | None) -> Credential:
        """The credential ``token`` belongs to; :class:`Unauthenticated` when it is unusable, saying why."""
        if not token:
            raise Unauthenticated("no credential was presented")
        try:
            cred_id, secret = creds.parse_token(token)
        except IdentityError as exc:
            raise Unauthenticated(str(exc)) from exc
        cred = self._by_id.get(cred_id)
        if cred is None or not cred.matches(secret):
            raise Unauthenticated("the credential is not valid for this control plane")
        problem = cred.problem(self._clock())
        if problem is not None:
            raise Unauthenticated(problem)
        return cred

    def is_valid(self, cred_id: str) -> bool:
        """True while the credential exists, is not revoked and has not expired."""
        cred = self._by_id.get(cred_id)
        return cred is not None and cred.problem(self._clock()) is None

    def get(self, cred_id: str) -> Credential | None:
        """The credential with this id, revoked or not, or None."""
        return self._by_id.get(cred_id)

    def all(self) -> list[Credential]:
        """Every credential, oldest first."""
        return sorted(self._by_id.values(), key=lambda c: (c.created, c.id))

    def create(
        self,
        type: CredentialType,
        name: str,
        namespace: str = "",
        service_account: str = "",
        *,
        ttl: float | None = None,
        auto: bool = False,
    ) -> Minted:
        """Mint, store and index a new credential (blocking store call: run it in a worker thread)."""
        token, cred = creds.mint(type, name, namespace, service_account, now=self._clock(), ttl=ttl, auto=auto)
        self._store.apply([to_resource(cred)])
        self._by_id[cred.id] = cred  # at once: the watch event that follows only confirms it
        self._changed()
        log.info("created %s (id %s)", cred.describe(), cred.id)
        return Minted(token, cred)

    def revoke(self, cred_id: str) -> Credential:
        """Mark a credential revoked in the store; :class:`NotFound` for an unknown id."""
        cred = self._by_id.get(cred_id)
        if cred is None:
            raise NotFound(KIND, "", cred_id)
        revoked = cred.revoke()
        self._store.apply([to_resource(revoked)])
        self._by_id[cred_id] = revoked
        self._changed()
        log.info("revoked %s (id %s)", cred.describe(), cred.id)
        return revoked

    def _add(self, resource: Resource) -> None:
        try:
            self._by_id[resource.name] = from_resource(resource)
        except IdentityError as exc:  # a damaged record must not take the control plane down
            log.error("ignoring stored credential %s: %s", resource.name, exc)

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # a listener's bug must not undo a revocation
                log.exception("credential change listener failed")
