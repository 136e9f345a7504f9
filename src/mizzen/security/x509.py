"""The one adapter around ``cryptography``: keys, CSRs, certificates, all as PEM bytes in and out.

Nothing else in Mizzen imports ``cryptography``; callers see only PEM bytes and the plain facts in
:class:`CertInfo` / :class:`CsrInfo`, so the library could be swapped here alone. Keys are ECDSA P-256
(fast to generate, so short test TTLs cost little); certificates are signed with SHA-256.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mizzen.security.errors import CertificateError

_PEM_CERT_BEGIN = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class CertInfo:
    """Facts about one certificate."""

    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    uris: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    subject: str

    def valid_at(self, when: datetime.datetime) -> bool:
        """True when ``when`` lies within the validity period."""
        return self.not_before <= when <= self.not_after


@dataclass(frozen=True)
class CsrInfo:
    """Facts about a certificate signing request whose self-signature checked out."""

    uris: tuple[str, ...]
    dns_names: tuple[str, ...]


def generate_key() -> bytes:
    """A new ECDSA P-256 private key, PEM (PKCS#8, unencrypted)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key_pem: bytes, uris: Sequence[str] = ()) -> bytes:
    """A PEM CSR signed by ``key_pem``, with ``uris`` as URI SANs (Istio's agent puts its SPIFFE ID there)."""
    key = _private_key(key_pem)
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if uris:
        sans = [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def read_csr(csr_pem: bytes) -> CsrInfo:
    """Parse a CSR and check its self-signature; :class:`CertificateError` when it is not a valid CSR."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate signing request: {exc}") from exc
    if not csr.is_signature_valid:
        raise CertificateError("the CSR's signature does not match its public key")
    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    return CsrInfo(uris=uris, dns_names=dns)


def create_root(organisation: str, key_pem: bytes, *, days: int = 3650) -> bytes:
    """A self-signed CA certificate (PEM) for ``key_pem``, subject ``O=<organisation>``."""
    key = _private_key(key_pem)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def create_intermediate(
    parent_cert_pem: bytes, parent_key_pem: bytes, key_pem: bytes, organisation: str, *, days: int = 365
) -> bytes:
    """A CA certificate (PEM) for ``key_pem`` signed by the parent CA (a plug-in intermediate, for instance)."""
    parent = _cert(parent_cert_pem)
    parent_key = _private_key(parent_key_pem)
    public = _private_key(key_pem).public_key()
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)]))
        .issuer_name(parent.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=days), parent.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(parent_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def sign_leaf(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    public_key_from: bytes,
    *,
    uris: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> bytes:
    """A leaf certificate (PEM) for the public key of ``public_key_from`` (a CSR or a private key, PEM).

    The subject is empty and the SANs are exactly the ones given (critical, as RFC 5280 requires for an
    empty subject); usable for TLS server and client authentication, as Istio's workload certificates are.
    """
    ca_cert = _cert(ca_cert_pem)
    ca_key = _private_key(ca_key_pem)
    public = _public_key_of(public_key_from)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    sans += [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if not sans:
        raise CertificateError("a leaf certificate needs at least one subject alternative name")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(sans), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def cert_info(cert_pem: bytes) -> CertInfo:
    """Facts about the first certificate in ``cert_pem``."""
    cert = _cert(cert_pem)
    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        uris=uris,
        dns_names=dns,
        ip_addresses=ips,
        is_ca=is_ca,
        subject=cert.subject.rfc4514_string(),
    )


def split_pem_chain(pem: bytes) -> list[bytes]:
    """The certificates of a PEM bundle, each re-encoded canonically (so equal certificates compare equal)."""
    try:
        certs = x509.load_pem_x509_certificates(pem) if _PEM_CERT_BEGIN in pem else []
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate bundle: {exc}") from exc
    return [c.public_bytes(serialization.Encoding.PEM) for c in certs]


def verify_chain(leaf_pem: bytes, chain_pems: Sequence[bytes], roots_pem: bytes) -> None:
    """Check that ``leaf_pem`` chains through ``chain_pems`` to one of ``roots_pem`` (signatures and dates)."""
    roots = [_cert(p) for p in split_pem_chain(roots_pem)]
    issuers = [_cert(p) for p in chain_pems] + roots
    current = _cert(leaf_pem)
    now = _now()
    for _ in range(len(issuers) + 1):
        if not current.not_valid_before_utc <= now <= current.not_valid_after_utc:
            raise CertificateError(f"certificate {current.subject.rfc4514_string()!r} is outside its validity")
        if any(current == r for r in roots):
            return
        issuer = next((c for c in issuers if c.subject == current.issuer and _signed_by(current, c)), None)
        if issuer is None:
            raise CertificateError(f"no trusted issuer for {current.issuer.rfc4514_string()!r}")
        current = issuer
    raise CertificateError("certificate chain too long or looping")


def key_matches_cert(key_pem: bytes, cert_pem: bytes) -> bool:
    """True when ``key_pem`` is the private key of the first certificate in ``cert_pem``."""
    public = _cert(cert_pem).public_key()
    mine = _private_key(key_pem).public_key()
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        public.public_bytes(serialization.Encoding.DER, fmt) == mine.public_bytes(serialization.Encoding.DER, fmt)
    )


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint of the first certificate, ``AB:CD:...`` as openssl prints it."""
    der = _cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


# --- helpers ----------------------------------------------------------------------------------------
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from exc


def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise CertificateError(f"unsupported private key type {type(key).__name__}")
    return key


def _public_key_of(pem: bytes) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    if b"CERTIFICATE REQUEST" in pem:
        public = x509.load_pem_x509_csr(pem).public_key()
    else:
        public = _private_key(pem).public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise CertificateError(f"unsupported public key type {type(public).__name__}")
    return public


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    public = issuer.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            assert cert.signature_hash_algorithm is not None
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(public, rsa.RSAPublicKey):
            assert cert.signature_hash_algorithm is not None
            public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
