"""Gateway: the listeners (port, protocol, hosts, TLS) of a gateway proxy (``networking.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mizzen.config.schema import UInt32, fld

TLSVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]
ServerTLSMode = Literal["PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"]


@dataclass(frozen=True)
class Port:
    """A listener port: number, protocol and a name unique in the gateway."""

    number: UInt32 = fld(0, required=True)
    protocol: str = fld("", required=True)
    name: str | None = fld()
    target_port: UInt32 | None = fld()


@dataclass(frozen=True)
class TLSCertificate:
    """One certificate/key pair."""

    server_certificate: str | None = fld()
    private_key: str | None = fld()
    ca_certificates: str | None = fld()


@dataclass(frozen=True)
class ServerTLSSettings:
    """TLS termination, passthrough or HTTPS redirect of a server."""

    https_redirect: bool | None = fld()
    mode: ServerTLSMode | None = fld()
    server_certificate: str | None = fld()
    private_key: str | None = fld()
    ca_certificates: str | None = fld()
    ca_crl: str | None = fld()
    credential_name: str | None = fld()
    credential_names: tuple[str, ...] = fld(())
    tls_certificates: tuple[TLSCertificate, ...] = fld(())
    subject_alt_names: tuple[str, ...] = fld(())
    verify_certificate_spki: tuple[str, ...] = fld(())
    verify_certificate_hash: tuple[str, ...] = fld(())
    min_protocol_version: TLSVersion | None = fld()
    max_protocol_version: TLSVersion | None = fld()
    cipher_suites: tuple[str, ...] = fld(())
    ca_cert_credential_name: str | None = fld()
    insecure_skip_verify: bool | None = fld()


@dataclass(frozen=True)
class Server:
    """One listener of the gateway."""

    port: Port | None = fld(required=True)
    bind: str | None = fld()
    hosts: tuple[str, ...] = fld(())
    tls: ServerTLSSettings | None = fld()
    default_endpoint: str | None = fld()
    name: str | None = fld()


@dataclass(frozen=True)
class Gateway:
    """The spec of a Gateway."""

    servers: tuple[Server, ...] = fld(())
    selector: Mapping[str, str] = fld(dict)
