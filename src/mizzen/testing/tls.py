"""Self-signed certificates for tests: a throwaway CA and server (and client) certificates it signed.

    files = make_certificates(tmp_path, ["a.example.com", "*.b.example.com"])
    # files.cert / files.key -> `mizzen create secret tls NAME --cert ... --key ... [--ca-cert files.ca_cert]`
    # files.ca_cert          -> verify the server in an HTTPS client
    client_cert, client_key = make_client_certificate(files, "client")   # for MUTUAL servers

Uses the ``cryptography`` package when it is installed, else the ``openssl`` binary.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CA_NAME = "Mizzen Test CA"
VALID_DAYS = 2


class CertificateError(RuntimeError):
    """The certificates could not be generated (no ``cryptography`` and no ``openssl``, or openssl failed)."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA certificate (and key) and a server certificate and key signed by it."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class _Leaf:
    """What to put in a leaf certificate."""

    cert: Path
    key: Path
    common_name: str
    dns_names: tuple[str, ...]
    usage: str  # "serverAuth" or "clientAuth"


def make_certificates(directory: Path, hosts: Sequence[str], *, name: str = "server") -> TlsFiles:
    """Write ``ca.crt``/``ca.key`` and ``<name>.crt``/``<name>.key`` (SANs = ``hosts``) into ``directory``."""
    if not hosts:
        raise CertificateError("a server certificate needs at least one host name")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.crt", directory / "ca.key", directory / f"{name}.crt", directory / f"{name}.key")
    backend = _backend()
    backend.ca(files)
    backend.leaf(files, _Leaf(files.cert, files.key, hosts[0], tuple(hosts), "serverAuth"))
    return files


def make_client_certificate(files: TlsFiles, name: str = "client") -> tuple[Path, Path]:
    """A client certificate and key (CN = ``name``) signed by ``files``' CA, beside the CA's files."""
    leaf = _Leaf(files.ca_cert.with_name(f"{name}.crt"), files.ca_cert.with_name(f"{name}.key"), name, (), "clientAuth")
    _backend().leaf(files, leaf)
    return leaf.cert, leaf.key


class _Backend:
    def ca(self, files: TlsFiles) -> None:
        raise NotImplementedError

    def leaf(self, files: TlsFiles, leaf: _Leaf) -> None:
        raise NotImplementedError


def _backend() -> _Backend:
    if importlib.util.find_spec("cryptography") is not None:
        return _Cryptography()
    if shutil.which("openssl"):
        return _OpenSSL()
    raise CertificateError("neither the 'cryptography' package nor the 'openssl' binary is available")


class _OpenSSL(_Backend):
    """``openssl req`` / ``openssl x509`` (OpenSSL 1.1.1 or newer)."""

    def ca(self, files: TlsFiles) -> None:
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            str(VALID_DAYS),
            "-keyout",
            str(files.ca_key),
            "-out",
            str(files.ca_cert),
            "-subj",
            f"/CN={CA_NAME}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )

    def leaf(self, files: TlsFiles, leaf: _Leaf) -> None:
        csr, ext = leaf.cert.with_suffix(".csr"), leaf.cert.with_suffix(".ext")
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(leaf.key),
            "-out",
            str(csr),
            "-subj",
            f"/CN={leaf.common_name}",
        )
        sans = ("subjectAltName=" + ",".join(f"DNS:{h}" for h in leaf.dns_names) + "\n") if leaf.dns_names else ""
        ext.write_text(
            sans + "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={leaf.usage}\n",
            encoding="utf-8",
        )
        try:
            _openssl(
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(files.ca_cert),
                "-CAkey",
                str(files.ca_key),
                "-set_serial",
                str(secrets.randbits(63)),
                "-days",
                str(VALID_DAYS),
                "-extfile",
                str(ext),
                "-out",
                str(leaf.cert),
            )
        finally:
            csr.unlink(missing_ok=True)
            ext.unlink(missing_ok=True)


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")


class _Cryptography(_Backend):  # pragma: no cover - optional dependency
    """The same certificates built with ``cryptography``, imported by name: it is an optional dependency,
    absent from the type checker's view when not installed."""

    def __init__(self) -> None:
        self.x509: Any = importlib.import_module("cryptography.x509")
        self.hashes: Any = importlib.import_module("cryptography.hazmat.primitives.hashes")
        self.ser: Any = importlib.import_module("cryptography.hazmat.primitives.serialization")
        self.rsa: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.rsa")
        self.oid: Any = importlib.import_module("cryptography.x509.oid")

    def _key(self) -> Any:
        return self.rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def _write_key(self, key: Any, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(self.ser.Encoding.PEM, self.ser.PrivateFormat.PKCS8, self.ser.NoEncryption())
        )

    def _builder(self, subject: str, issuer: Any, public_key: Any) -> Any:
        x509, now = self.x509, datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(self.oid.NameOID.COMMON_NAME, subject)])
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        )

    def ca(self, files: TlsFiles) -> None:
        x509, key = self.x509, self._key()
        cert = (
            self._builder(CA_NAME, None, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, self.hashes.SHA256())
        )
        self._write_key(key, files.ca_key)
        files.ca_cert.write_bytes(cert.public_bytes(self.ser.Encoding.PEM))

    def leaf(self, files: TlsFiles, leaf: _Leaf) -> None:
        x509, key = self.x509, self._key()
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        ca_key = self.ser.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        usage = getattr(self.oid.ExtendedKeyUsageOID, "SERVER_AUTH" if leaf.usage == "serverAuth" else "CLIENT_AUTH")
        builder = (
            self._builder(leaf.common_name, ca.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if leaf.dns_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(h) for h in leaf.dns_names]), critical=False
            )
        self._write_key(key, leaf.key)
        leaf.cert.write_bytes(builder.sign(ca_key, self.hashes.SHA256()).public_bytes(self.ser.Encoding.PEM))


__all__ = ["CertificateError", "TlsFiles", "make_certificates", "make_client_certificate"]
