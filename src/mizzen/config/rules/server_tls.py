"""Istio's rules for server-side TLS settings (``validateTLSOptions``), shared by Gateway servers and
Sidecar ingress listeners."""

from __future__ import annotations

from mizzen.config.codes import violation
from mizzen.config.models.gateway import ServerTLSSettings, TLSCertificate
from mizzen.config.rules.common import Found, warn

# BoringSSL's cipher names that Envoy accepts in Gateway cipherSuites (PSK suites excluded).
CIPHER_SUITES = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "AES256-SHA",
        "DES-CBC3-SHA",
    }
)
TERMINATING = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")


def valid_cipher(name: str) -> bool:
    """A known cipher, ``ALL``, or an expression starting with an operator such as ``-`` or ``+``."""
    return name in ("", "ALL") or not name[0].isalnum() or name in CIPHER_SUITES


def _bad(message: str, path: str, out: Found) -> None:
    out.append(violation("MZ2305", message, path))


def check(tls: ServerTLSSettings, path: str, out: Found) -> None:
    """Every violation (and Istio warning) of one server TLS block."""
    _ciphers(tls, path, out)
    mode = tls.mode or "PASSTHROUGH"
    if mode == "ISTIO_MUTUAL":
        _istio_mutual(tls, path, out)
        return
    sources = [
        bool(tls.server_certificate and tls.private_key),
        bool(tls.credential_name),
        bool(tls.credential_names),
        bool(tls.tls_certificates),
    ]
    if mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH") and (
        tls.ca_crl or tls.server_certificate or tls.private_key or tls.ca_certificates or any(sources[1:])
    ):
        warn(f"{mode} mode does not use certificates, they will be ignored", path, out)
    if sum(sources) > 1:
        _bad(
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should "
            "be specified",
            path,
            out,
        )
    if mode in TERMINATING and (tls.credential_name or tls.credential_names):
        return  # the credential is fetched from a secret; no file paths are needed
    if mode in TERMINATING:
        _certificates(tls, mode, path, out)
    if tls.ca_crl:
        if tls.credential_name:
            _bad(
                "CRL is not supported with credentialName. CRL has to be specified in the credential",
                f"{path}.caCrl",
                out,
            )
        if mode == "SIMPLE":
            _bad("CRL is not supported with SIMPLE TLS", f"{path}.caCrl", out)


def _ciphers(tls: ServerTLSSettings, path: str, out: Found) -> None:
    if tls.min_protocol_version in ("TLSV1_0", "TLSV1_1") and not tls.cipher_suites:
        warn(
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include "
            "compatible ciphers.",
            path,
            out,
        )
    invalid, valid, repeated = set(), set(), set()
    for cs in tls.cipher_suites:
        if not valid_cipher(cs):
            invalid.add(cs)
        elif cs in valid:
            repeated.add(cs)
        else:
            valid.add(cs)
    if invalid:
        warn(f"ignoring invalid cipher suites: [{' '.join(sorted(invalid))}]", f"{path}.cipherSuites", out)
    if repeated:
        warn(f"ignoring duplicate cipher suites: [{' '.join(sorted(repeated))}]", f"{path}.cipherSuites", out)


def _istio_mutual(tls: ServerTLSSettings, path: str, out: Found) -> None:
    for present, what in (
        (tls.server_certificate, "server certificate"),
        (tls.private_key, "private key"),
        (tls.ca_certificates, "CA bundle"),
        (tls.tls_certificates, "tlsCertificates"),
        (tls.credential_name, "credentialName"),
        (tls.credential_names, "credentialNames"),
    ):
        if present:
            _bad(f"ISTIO_MUTUAL TLS cannot have associated {what}", path, out)


def _certificates(tls: ServerTLSSettings, mode: str, path: str, out: Found) -> None:
    prefix = "SIMPLE TLS" if mode == "SIMPLE" else "MUTUAL TLS"
    if mode != "SIMPLE" and not tls.ca_certificates:
        _bad(f"{prefix} requires a client CA bundle", f"{path}.caCertificates", out)
    if len(tls.tls_certificates) > 2:
        warn(f"{prefix} can support up to 2 server certificates", f"{path}.tlsCertificates", out)
    if tls.tls_certificates:
        certs = [(c, f"{path}.tlsCertificates[{i}]") for i, c in enumerate(tls.tls_certificates)]
    else:
        certs = [(TLSCertificate(tls.server_certificate, tls.private_key), path)]
    for cert, where in certs:
        if not cert.server_certificate:
            _bad(f"{prefix} requires a server certificate", f"{where}.serverCertificate", out)
        if not cert.private_key:
            _bad(f"{prefix} requires a private key", f"{where}.privateKey", out)
