"""The control plane's identity half: the mesh CA, the credential index, the admin token and TLS material.

Created once per control plane (:class:`Identity`); the HTTP API, the xDS server and the dashboard all
authenticate against its :attr:`Identity.credentials`. Files it writes in ``$MIZZEN_HOME``: ``token`` (the
admin credential), ``root-cert.pem`` (the mesh roots, for the CLI and local agents), ``ca/`` (a created
CA) and ``tls/`` (the serving certificate, when TLS is on); all mode 0600 in 0700 folders.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mizzen.controlplane.credentials import CredentialIndex, Unauthenticated
from mizzen.controlplane.home import Home
from mizzen.security import x509
from mizzen.security.ca import Issued, MeshCA, write_private
from mizzen.security.credentials import Credential
from mizzen.security.durations import parse_duration
from mizzen.security.spiffe import SpiffeId
from mizzen.store import ConfigStore

log = logging.getLogger(__name__)

ROOT_FILE = "root-cert.pem"
ENV_MAX_TTL = "MIZZEN_MAX_WORKLOAD_CERT_TTL"


@dataclass(frozen=True)
class Transport:
    """How the control plane's ports are served: TLS or plaintext, and the extra names its certificate gets."""

    tls: bool = False  # force TLS on loopback too
    insecure: bool = False  # plaintext even on a network address (warned about)
    sans: tuple[str, ...] = ()

    def uses_tls(self, address: str) -> bool:
        """TLS on any non-loopback address unless ``insecure``; on loopback only when asked."""
        if self.insecure:
            return False
        return self.tls or not is_loopback(address)


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; a wildcard or any other address or name is not."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


class Identity:
    """One control plane's CA, credentials and admin token."""

    def __init__(
        self,
        home: Home,
        store: ConfigStore,
        *,
        trust_domain: str = "cluster.local",
        ca_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        self.trust_domain = trust_domain
        self._ca_dir = ca_dir
        self._max_ttl = datetime.timedelta(seconds=parse_duration(os.environ.get(ENV_MAX_TTL, "2160h")))
        self.credentials = CredentialIndex(store, clock)  # reads only; writes wait for prepare()
        self._ca: MeshCA | None = None
        self.admin_token = ""

    def prepare(self) -> None:
        """Load (or create) the CA, publish the root, ensure the admin token: once this process holds the home."""
        if self._ca_dir is not None:
            self._ca = MeshCA.plugged(self._ca_dir, max_ttl=self._max_ttl)
        else:
            self._ca = MeshCA.load_or_create(self.home.root / "ca", self.trust_domain, max_ttl=self._max_ttl)
        write_private(self.home.root / ROOT_FILE, self._ca.roots_pem)
        self.admin_token = self._ensure_admin()
        self._serving: tuple[bytes, bytes] | None = None  # issued on first use, once per process

    @property
    def ca(self) -> MeshCA:
        """The mesh CA (after :meth:`prepare`)."""
        if self._ca is None:
            raise RuntimeError("the mesh CA is loaded by Identity.prepare() when the control plane starts")
        return self._ca

    @property
    def root_file(self) -> Path:
        """Where the mesh roots are published for the CLI and local agents."""
        return self.home.root / ROOT_FILE

    def identity_of(self, cred: Credential) -> SpiffeId | None:
        """The SPIFFE ID a workload or gateway credential stands for."""
        return cred.identity(self.trust_domain)

    def sign(self, csr_pem: bytes, identity: SpiffeId, ttl: datetime.timedelta | None) -> Issued:
        """A workload certificate for ``identity`` (see :meth:`MeshCA.sign_workload`)."""
        return self.ca.sign_workload(csr_pem, identity, ttl)

    def server_ssl_context(self, address: str, extra_sans: Sequence[str] = ()) -> ssl.SSLContext:
        """A TLS server context with a fresh serving certificate from the mesh CA (files in ``tls/``)."""
        chain, key = self.serving_certificate(address, extra_sans)
        folder = self.home.root / "tls"
        folder.mkdir(mode=0o700, exist_ok=True)
        write_private(folder / "server-cert.pem", chain)
        write_private(folder / "server-key.pem", key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(folder / "server-cert.pem", folder / "server-key.pem")
        return context

    def serving_certificate(self, address: str, extra_sans: Sequence[str] = ()) -> tuple[bytes, bytes]:
        """``(chain PEM, key PEM)`` naming this host, loopback, the bind address and ``extra_sans``."""
        if self._serving is None:
            dns, ips = serving_names(address, extra_sans)
            issued, key = self.ca.issue_server(dns, ips)
            self._serving = (issued.chain_pem, key)
            log.info("serving certificate for %s", ", ".join([*dns, *ips]))
        return self._serving

    def _ensure_admin(self) -> str:
        """The admin token in ``$MIZZEN_HOME/token`` if it is still a valid admin credential, else a new one."""
        existing = self.home.read_token()
        if existing:
            try:
                if self.credentials.authenticate(existing).is_admin:
                    return existing
            except Unauthenticated as exc:
                log.warning("the admin token in %s is not usable (%s); writing a new one", self.home.token_file, exc)
        minted = self.credentials.create("admin", "local")
        self.home.ensure()
        write_private(self.home.token_file, (minted.token + "\n").encode())
        return minted.token


def serving_names(address: str, extra: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """DNS names and IPs for the serving certificate: host name, localhost, loopback, the bind address
    (every address of the host for a wildcard bind) and ``extra``."""
    dns = _unique([socket.gethostname(), "localhost"])
    ips = ["127.0.0.1", "::1"]
    bind = address.strip("[]")
    if bind in ("0.0.0.0", "::", ""):
        ips += _host_addresses()
    elif _is_ip(bind):
        ips.append(bind)
    else:
        dns.append(bind)
    for name in extra:
        (ips if _is_ip(name) else dns).append(name)
    return _unique(dns), _unique(str(ipaddress.ip_address(i)) for i in ips)


def root_fingerprint(roots_pem: bytes) -> str:
    """The SHA-256 fingerprint of the first mesh root (``mizzen up`` prints it)."""
    return x509.fingerprint(roots_pem)


def _host_addresses() -> list[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return []
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
