"""SPIFFE identities as Istio forms them: ``spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>``."""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.security.errors import IdentityError

SCHEME = "spiffe://"
DEFAULT_TRUST_DOMAIN = "cluster.local"


@dataclass(frozen=True, order=True)
class SpiffeId:
    """A workload identity."""

    trust_domain: str
    namespace: str
    service_account: str

    def __post_init__(self) -> None:
        for field, value in (
            ("trust domain", self.trust_domain),
            ("namespace", self.namespace),
            ("service account", self.service_account),
        ):
            if not value or "/" in value or any(c.isspace() for c in value):
                raise IdentityError(f"invalid {field} {value!r} for a SPIFFE ID")

    @property
    def uri(self) -> str:
        """``spiffe://cluster.local/ns/default/sa/bookinfo-reviews``."""
        return f"{SCHEME}{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return self.uri

    @classmethod
    def parse(cls, uri: str) -> SpiffeId:
        """Parse Istio's form; :class:`IdentityError` for anything else."""
        if not uri.startswith(SCHEME):
            raise IdentityError(f"not a SPIFFE ID (must start with {SCHEME}): {uri!r}")
        parts = uri[len(SCHEME) :].split("/")
        if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa":
            raise IdentityError(f"not an Istio SPIFFE ID (spiffe://<trust-domain>/ns/<ns>/sa/<sa>): {uri!r}")
        return cls(parts[0], parts[2], parts[4])
