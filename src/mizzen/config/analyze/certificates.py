"""Certificate checks for gateway secrets (the one place the analyzers use ``cryptography``)."""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from collections.abc import Mapping
from typing import Any

from cryptography import x509

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", re.S)
# Key pairs a gateway credential may use: Istio's generic secret keys, then Kubernetes' TLS keys.
CERT_KEY_PAIRS = (("cert", "key"), ("tls.crt", "tls.key"))


def _decoded(data: Mapping[str, Any], key: str) -> bytes:
    value = data.get(key)
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def secret_certificate(data: Mapping[str, Any]) -> bytes | None:
    """The certificate of a secret's ``data`` (base64 values) when it has a non-empty cert and key."""
    for cert, key in CERT_KEY_PAIRS:
        pem, pkey = _decoded(data, cert), _decoded(data, key)
        if pem and pkey:
            return pem
    return None


def certificate_problem(pem: bytes, now: datetime.datetime) -> str | None:
    """Why the first PEM block is not a certificate valid at ``now``, or ``None``."""
    m = _PEM.search(pem)
    if m is None:
        return "pem decode failed"
    try:
        der = base64.b64decode(b"".join(m.group(2).split()))
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error) as exc:
        return f"not a certificate: {exc}"
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return "certificate is expired or not yet valid"
    return None
