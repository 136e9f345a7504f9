"""Scoped credentials: bearer tokens ``mzt.<id>.<secret>`` and the record kept for each (never the token).

Pure: the caller passes the clock and stores the :class:`Credential`. The secret carries 256 random bits,
so a salted SHA-256 is enough to keep the stored record useless to whoever reads the database (a slow
password hash protects low-entropy secrets; these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from mizzen.security.errors import IdentityError
from mizzen.security.spiffe import SpiffeId

CredentialType = Literal["admin", "workload", "gateway"]
TYPES: tuple[CredentialType, ...] = ("admin", "workload", "gateway")
TOKEN_PREFIX = "mzt"
ADMIN_NAMESPACE = "mizzen-system"  # where admin credentials are filed (they belong to no workload namespace)


@dataclass(frozen=True)
class Credential:
    """What the control plane keeps about one credential."""

    id: str
    type: CredentialType
    name: str  # the workload or gateway it is for (admin: a label such as "cli")
    namespace: str  # the workload's namespace (admin: ADMIN_NAMESPACE)
    service_account: str  # "" for admin
    salt: str
    digest: str
    created: float
    expires: float | None = None
    revoked: bool = False
    auto: bool = False  # minted by an agent for itself; revoked when it stops

    @property
    def is_admin(self) -> bool:
        """An admin credential (CLI, dashboard): not bound to a workload."""
        return self.type == "admin"

    def identity(self, trust_domain: str) -> SpiffeId | None:
        """The SPIFFE ID a workload or gateway credential stands for (None for admin)."""
        if self.is_admin:
            return None
        return SpiffeId(trust_domain, self.namespace, self.service_account)

    def problem(self, now: float) -> str | None:
        """Why the credential cannot be used at ``now`` (revoked, expired), or None."""
        if self.revoked:
            return f"credential {self.id} has been revoked"
        if self.expires is not None and now >= self.expires:
            return f"credential {self.id} expired"
        return None

    def matches(self, secret: str) -> bool:
        """Constant-time check of a token's secret part against the stored digest."""
        return hmac.compare_digest(_digest(self.salt, secret), self.digest)

    def describe(self) -> str:
        """``workload default/reviews-v1 (sa bookinfo-reviews)`` for messages."""
        if self.is_admin:
            return f"admin credential {self.name!r}"
        return f"{self.type} credential for {self.namespace}/{self.name} (service account {self.service_account})"

    def revoke(self) -> Credential:
        """The same record, revoked."""
        return replace(self, revoked=True)

    def to_spec(self) -> dict[str, Any]:
        """The stored form (the store object's ``spec``)."""
        spec: dict[str, Any] = {
            "type": self.type,
            "workload": self.name,
            "serviceAccount": self.service_account,
            "salt": self.salt,
            "sha256": self.digest,
            "created": self.created,
            "revoked": self.revoked,
            "auto": self.auto,
        }
        if self.expires is not None:
            spec["expires"] = self.expires
        return spec

    @classmethod
    def from_spec(cls, id: str, namespace: str, spec: Mapping[str, Any]) -> Credential:
        """Read back :meth:`to_spec`; :class:`IdentityError` for a record that is not one."""
        kind = spec.get("type")
        if kind not in TYPES:
            raise IdentityError(f"credential {id}: unknown type {kind!r}")
        expires = spec.get("expires")
        return cls(
            id=id,
            type=kind,
            name=str(spec.get("workload", "")),
            namespace=namespace,
            service_account=str(spec.get("serviceAccount", "")),
            salt=str(spec.get("salt", "")),
            digest=str(spec.get("sha256", "")),
            created=float(spec.get("created", 0.0)),
            expires=float(expires) if isinstance(expires, int | float) else None,
            revoked=bool(spec.get("revoked", False)),
            auto=bool(spec.get("auto", False)),
        )


def mint(
    type: CredentialType,
    name: str,
    namespace: str,
    service_account: str,
    *,
    now: float,
    ttl: float | None = None,
    auto: bool = False,
) -> tuple[str, Credential]:
    """A new token and its record. Workload and gateway credentials need a namespace and service account."""
    if type not in TYPES:
        raise IdentityError(f"credential type must be one of {', '.join(TYPES)}, not {type!r}")
    if type != "admin" and (not namespace or not service_account or not name):
        raise IdentityError(f"a {type} credential needs a name, a namespace and a service account")
    if ttl is not None and ttl <= 0:
        raise IdentityError("a credential's lifetime must be positive")
    if type != "admin":
        SpiffeId("x", namespace, service_account)  # same character rules as the identity it stands for
    cred_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    record = Credential(
        id=cred_id,
        type=type,
        name=name,
        namespace=namespace if type != "admin" else ADMIN_NAMESPACE,
        service_account=service_account if type != "admin" else "",
        salt=salt,
        digest=_digest(salt, secret),
        created=now,
        expires=now + ttl if ttl is not None else None,
        auto=auto,
    )
    return f"{TOKEN_PREFIX}.{cred_id}.{secret}", record


def parse_token(token: str) -> tuple[str, str]:
    """``(id, secret)`` of a token; :class:`IdentityError` when it is not in Mizzen's format."""
    prefix, _, rest = token.strip().partition(".")
    cred_id, _, secret = rest.partition(".")
    if prefix != TOKEN_PREFIX or not cred_id or not secret:
        raise IdentityError("not a Mizzen credential (expected mzt.<id>.<secret>)")
    return cred_id, secret


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()
