"""Self-signed certificates for tests: a throwaway CA and a server certificate it signed.

    files = make_certificates(tmp_path, ["a.example.com", "*.b.example.com"])
    # files.cert / files.key -> `mizzen create secret tls NAME --cert ... --key ...`
    # files.ca_cert          -> verify the server in an HTTPS client

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


def make_certificates(directory: Path, hosts: Sequence[str], *, name: str = "server") -> TlsFiles:
    """Write ``ca.crt``/``ca.key`` and ``<name>.crt``/``<name>.key`` (SANs = ``hosts``) into ``directory``."""
    if not hosts:
        raise CertificateError("a server certificate needs at least one host name")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.crt", directory / "ca.key", directory / f"{name}.crt",
                     directory / f"{name}.key")
    if importlib.util.find_spec("cryptography") is not None:
        _with_cryptography(files, list(hosts))
    elif shutil.which("openssl"):
        _with_openssl(files, list(hosts))
    else:
        raise CertificateError("neither the 'cryptography' package nor the 'openssl' binary is available")
    return files


def _with_openssl(files: TlsFiles, hosts: list[str]) -> None:
    """The same CA and leaf through ``openssl req`` / ``openssl x509`` (OpenSSL 1.1.1 or newer)."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(VALID_DAYS),
             "-keyout", str(files.ca_key), "-out", str(files.ca_cert), "-subj", f"/CN={CA_NAME}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    csr = files.cert.with_suffix(".csr")
    ext = files.cert.with_suffix(".ext")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(files.key), "-out", str(csr),
             "-subj", f"/CN={hosts[0]}")
    ext.write_text("subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts) + "\n"
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n", encoding="utf-8")
    try:
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(files.ca_cert), "-CAkey", str(files.ca_key),
                 "-set_serial", str(secrets.randbits(63)), "-days", str(VALID_DAYS), "-extfile", str(ext),
                 "-out", str(files.cert))
    finally:
        csr.unlink(missing_ok=True)
        ext.unlink(missing_ok=True)


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")


def _with_cryptography(files: TlsFiles, hosts: list[str]) -> None:  # pragma: no cover - optional dependency
    """The CA and leaf built with ``cryptography`` (imported lazily: it is an optional dependency)."""
    # Imported by name: an optional dependency, absent from the type checker's view when not installed.
    x509: Any = importlib.import_module("cryptography.x509")
    hashes: Any = importlib.import_module("cryptography.hazmat.primitives.hashes")
    serialization: Any = importlib.import_module("cryptography.hazmat.primitives.serialization")
    rsa: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.rsa")
    oid: Any = importlib.import_module("cryptography.x509.oid")
    NameOID, ExtendedKeyUsageOID = oid.NameOID, oid.ExtendedKeyUsageOID

    def key_pem(key: Any) -> bytes:
        return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files.ca_key.write_bytes(key_pem(ca_key))
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


__all__ = ["CertificateError", "TlsFiles", "make_certificates"]
