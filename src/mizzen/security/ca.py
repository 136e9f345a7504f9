"""The mesh CA: a self-signed root created on first start, or the user's plugged-in intermediate.

Both use Istio's four file names in one folder::

    ca-cert.pem     the signing CA certificate        ca-key.pem      its private key (mode 0600)
    root-cert.pem   the mesh root(s) workloads trust  cert-chain.pem  ca-cert up to the root

A created CA lives in ``$MIZZEN_HOME/ca`` (mode 0700); a plugged-in folder (``--ca-dir``) is read, never
written. A workload certificate chain is the leaf plus ``cert-chain.pem`` without the roots, as Envoy
wants it; workloads validate peers against ``root-cert.pem`` (which may hold several roots during a root
rotation).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mizzen.security import x509
from mizzen.security.errors import CAError, CertificateError, CsrIdentityError
from mizzen.security.spiffe import SpiffeId

CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
ROOT_CERT = "root-cert.pem"
CERT_CHAIN = "cert-chain.pem"
PLUGIN_FILES = (CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN)

DEFAULT_WORKLOAD_TTL = datetime.timedelta(hours=24)  # Istio's SECRET_TTL default
MAX_WORKLOAD_TTL = datetime.timedelta(days=90)  # Istio's MAX_WORKLOAD_CERT_TTL default
SERVER_TTL = datetime.timedelta(days=30)
CLOCK_SKEW = datetime.timedelta(minutes=1)  # certificates start a little early: hosts' clocks differ

Clock = Callable[[], datetime.datetime]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Issued:
    """A signed certificate chain (leaf first, PEM each) and the leaf's expiry."""

    chain: tuple[bytes, ...]
    not_after: datetime.datetime

    @property
    def chain_pem(self) -> bytes:
        """The chain as one PEM bundle."""
        return b"".join(self.chain)


class MeshCA:
    """Signs workload and serving certificates with one CA key."""

    def __init__(
        self,
        cert_pem: bytes,
        key_pem: bytes,
        chain_pem: bytes,
        roots_pem: bytes,
        *,
        max_ttl: datetime.timedelta = MAX_WORKLOAD_TTL,
        clock: Clock = _utcnow,
        source: str = "",
    ) -> None:
        """Check that the pieces fit together (key matches, CA flag, chain reaches a root); :class:`CAError` if not."""
        self.source = source
        where = f" in {source}" if source else ""
        try:
            info = x509.cert_info(cert_pem)
            if not info.is_ca:
                raise CAError(f"{CA_CERT}{where} is not a CA certificate (basicConstraints CA:FALSE)")
            if not x509.key_matches_cert(key_pem, cert_pem):
                raise CAError(f"{CA_KEY}{where} is not the private key of {CA_CERT}")
            roots = x509.split_pem_chain(roots_pem)
            if not roots:
                raise CAError(f"{ROOT_CERT}{where} holds no certificate")
            intermediates = [c for c in x509.split_pem_chain(chain_pem) if c not in roots]
            own = x509.split_pem_chain(cert_pem)[:1]
            x509.verify_chain(cert_pem, [c for c in intermediates if c not in own], roots_pem)
        except CertificateError as exc:
            raise CAError(f"the mesh CA{where} is not usable: {exc}") from exc
        self._cert, self._key = x509.split_pem_chain(cert_pem)[0], key_pem
        self._intermediates = tuple(intermediates)
        self.roots_pem = b"".join(roots)
        self.max_ttl = max_ttl
        self._clock = clock
        self.trust_organisation = info.subject

    # --- loading ---------------------------------------------------------------------------------
    @classmethod
    def load_or_create(cls, directory: Path, trust_domain: str, **kwargs: object) -> MeshCA:
        """The CA in ``directory``, created there (self-signed root, key 0600) when it holds none yet."""
        if not (directory / CA_KEY).exists():
            _create(directory, trust_domain)
        return cls.plugged(directory, **kwargs)

    @classmethod
    def plugged(cls, directory: Path, **kwargs: object) -> MeshCA:
        """Istio's "plug in CA certificates": the four files in ``directory``, read only."""
        missing = [f for f in PLUGIN_FILES if not (directory / f).is_file()]
        if missing:
            raise CAError(f"CA folder {directory} lacks {', '.join(missing)} (needs {', '.join(PLUGIN_FILES)})")
        try:
            parts = [(directory / f).read_bytes() for f in (CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT)]
        except OSError as exc:
            raise CAError(f"cannot read the CA folder {directory}: {exc.strerror or exc}") from exc
        return cls(parts[0], parts[1], parts[2], parts[3], source=str(directory), **kwargs)  # type: ignore[arg-type]

    # --- signing ---------------------------------------------------------------------------------
    def sign_workload(self, csr_pem: bytes, identity: SpiffeId, ttl: datetime.timedelta | None = None) -> Issued:
        """A certificate for ``identity`` (its only URI SAN) on the CSR's key; ``ttl`` capped at ``max_ttl``.

        The CSR must be well formed and self-signed; a URI SAN it asks for must be ``identity`` itself.
        """
        info = x509.read_csr(csr_pem)
        if any(u != identity.uri for u in info.uris):
            raise CsrIdentityError(f"the CSR asks for {', '.join(info.uris)}, but the caller is {identity.uri}")
        lifetime = min(ttl or DEFAULT_WORKLOAD_TTL, self.max_ttl)
        if lifetime <= datetime.timedelta(0):
            raise CertificateError("the requested certificate lifetime must be positive")
        return self._issue(csr_pem, lifetime, uris=[identity.uri])

    def issue_server(
        self, dns_names: Sequence[str], ip_addresses: Sequence[str], ttl: datetime.timedelta = SERVER_TTL
    ) -> tuple[Issued, bytes]:
        """A serving certificate (chain) and its new private key for the control plane's own endpoints."""
        key = x509.generate_key()
        return self._issue(key, ttl, dns_names=dns_names, ip_addresses=ip_addresses), key

    def _issue(self, key_source: bytes, lifetime: datetime.timedelta, **sans: Sequence[str]) -> Issued:
        now = self._clock()
        leaf = x509.sign_leaf(
            self._cert, self._key, key_source, not_before=now - CLOCK_SKEW, not_after=now + lifetime, **sans
        )
        chain = (leaf, *self._signing_chain())
        return Issued(chain, x509.cert_info(leaf).not_after)

    def _signing_chain(self) -> tuple[bytes, ...]:
        """The certificates between a leaf and the roots: the CA itself unless it is a root."""
        own = () if self._cert in x509.split_pem_chain(self.roots_pem) else (self._cert,)
        return own + tuple(c for c in self._intermediates if c != self._cert)


def _create(directory: Path, trust_domain: str) -> None:
    """A new self-signed root in ``directory`` (mode 0700), written so a crash leaves no half CA."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = x509.generate_key()
    cert = x509.create_root(trust_domain, key)
    for name, data in ((CA_CERT, cert), (ROOT_CERT, cert), (CERT_CHAIN, cert), (CA_KEY, key)):
        write_private(directory / name, data)  # the key last: its presence means "a complete CA is here"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, created with mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
