"""PeerAuthentication -> a workload port's inbound filter chains (Istio's
``pilot/pkg/networking/core/filterchain_options.go`` and ``security/authn/utils``).

Each inbound port gets one chain per way a client may arrive, told apart by the TLS inspector's
transport protocol and the ClientHello's ALPN:

=========== =================================================================================
mode        chains (HTTP port | TCP port)
=========== =================================================================================
STRICT      mTLS only | mTLS only: a plaintext client matches no chain and is disconnected
PERMISSIVE  mTLS (ALPN ``istio*``) + plaintext | mTLS + plain TLS passed through + plaintext
DISABLE     plaintext only | plaintext only
=========== =================================================================================

An mTLS chain terminates TLS with the workload certificate (SDS ``default`` from the agent on
``sds-grpc``), requires a client certificate and validates it against the mesh root (SDS ``ROOTCA``)
with a SPIFFE URI SAN of the trust domain. The peer's SPIFFE ID is then the connection's
authenticated principal: RBAC ``authenticated`` matchers read it, and the inbound HTTP connection
manager forwards it to the app in ``x-forwarded-client-cert`` (:data:`INBOUND_HCM_CLIENT_CERT`).

Mizzen binds one listener per inbound port (no iptables, no virtual inbound listener), so the chains
need no ``destination_port`` match; everything else reads as Istio's does in ``proxy-config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mizzen.translate.security import names
from mizzen.translate.security.policy import JSON, MtlsMode

ChainProtocol = Literal["HTTP", "TCP"]

INBOUND_HCM_CLIENT_CERT: JSON = {
    "forward_client_cert_details": "APPEND_FORWARD",
    "set_current_client_cert_details": {"subject": True, "uri": True, "dns": True},
}
"""HCM fields of a sidecar's inbound HTTP connection manager (Istio's proxy-header defaults): the app
receives the verified peer identity in ``x-forwarded-client-cert``."""


@dataclass(frozen=True)
class ChainOption:
    """One filter chain of a port: what it matches and whether it terminates mTLS."""

    transport: str
    alpn: tuple[str, ...] = ()
    mtls: bool = False


_MTLS = ChainOption(names.TLS_TRANSPORT, mtls=True)
_MTLS_ISTIO_ALPN = ChainOption(names.TLS_TRANSPORT, names.ALPN_ALL_ISTIO_MTLS, mtls=True)
_PLAIN_TLS = ChainOption(names.TLS_TRANSPORT)
_PLAINTEXT = ChainOption(names.RAW_BUFFER_TRANSPORT)

CHAIN_OPTIONS: dict[tuple[ChainProtocol, MtlsMode], tuple[ChainOption, ...]] = {
    ("HTTP", "STRICT"): (_MTLS,),
    ("HTTP", "PERMISSIVE"): (_MTLS_ISTIO_ALPN, _PLAINTEXT),
    ("HTTP", "DISABLE"): (_PLAINTEXT,),
    ("TCP", "STRICT"): (_MTLS,),
    ("TCP", "PERMISSIVE"): (_MTLS_ISTIO_ALPN, _PLAIN_TLS, _PLAINTEXT),
    ("TCP", "DISABLE"): (_PLAINTEXT,),
}
"""Istio's filter-chain match options per (listener protocol, mode)."""


def sds_secret_config(name: str) -> JSON:
    """An SDS reference to secret ``name`` served by the agent on ``sds-grpc`` (Istio's shape; the
    workload certificate and root do not block listener warming: ``initial_fetch_timeout: 0s``)."""
    source: JSON = {
        "api_config_source": {
            "api_type": "GRPC",
            "set_node_on_first_message_only": True,
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": names.SDS_CLUSTER}}],
        },
        "resource_api_version": "V3",
    }
    if name in (names.SDS_DEFAULT, names.SDS_ROOT):
        source["initial_fetch_timeout"] = "0s"
    return {"name": name, "sds_config": source}


def mesh_validation_context(trust_domains: Sequence[str], subject_alt_names: Sequence[str] = ()) -> JSON:
    """Validate the peer against ``ROOTCA``: exact SANs, and SPIFFE IDs of the trust domains."""
    match = [{"exact": san} for san in subject_alt_names]
    match += [{"prefix": f"{names.SPIFFE_PREFIX}{td}/"} for td in trust_domains]
    default: JSON = {"match_subject_alt_names": match} if match else {}
    return {
        "default_validation_context": default,
        "validation_context_sds_secret_config": sds_secret_config(names.SDS_ROOT),
    }


def downstream_tls_context(mode: MtlsMode, protocol: ChainProtocol, trust_domains: Sequence[str]) -> JSON | None:
    """The DownstreamTlsContext of an mTLS chain (``None`` under DISABLE)."""
    if mode == "DISABLE":
        return None
    alpn = names.ALPN_HTTP if protocol == "HTTP" else names.ALPN_TCP_DOWNSTREAM
    return {
        "@type": names.T_DOWNSTREAM_TLS,
        "common_tls_context": {
            "tls_params": {
                "tls_minimum_protocol_version": "TLSv1_2",
                "tls_maximum_protocol_version": "TLSv1_3",
                "cipher_suites": list(names.CIPHER_SUITES),
            },
            "alpn_protocols": list(alpn),
            "tls_certificate_sds_secret_configs": [sds_secret_config(names.SDS_DEFAULT)],
            "combined_validation_context": mesh_validation_context(trust_domains),
        },
        "require_client_certificate": True,
        # No TLS session resumption: a resumed session skips certificate verification, so a client whose
        # certificate has expired (e.g. after its credential was revoked) could go on opening connections.
        # Istio leaves resumption on; Mizzen verifies every handshake (docs/istio-differences.md).
        "disable_stateless_session_resumption": True,
        "disable_stateful_session_resumption": True,
    }


def inbound_filter_chains(
    mode: MtlsMode,
    protocol: ChainProtocol,
    filters: Sequence[JSON],
    *,
    name: str,
    trust_domains: Sequence[str],
) -> list[JSON]:
    """The filter chains of one inbound port under ``mode``, each running ``filters`` (the HTTP
    connection manager, or the network RBAC filters and tcp_proxy). The chains share the filter and
    TLS objects (output is never changed in place; copying an HCM per chain was a fifth of a sidecar's
    listener translation)."""
    tls = downstream_tls_context(mode, protocol, trust_domains)
    chains: list[JSON] = []
    for option in CHAIN_OPTIONS[(protocol, mode)]:
        match: JSON = {"transport_protocol": option.transport}
        if option.alpn:
            match["application_protocols"] = list(option.alpn)
        chain: JSON = {"filter_chain_match": match, "filters": list(filters), "name": name}
        if option.mtls and tls is not None:
            chain["transport_socket"] = {"name": names.TLS_SOCKET, "typed_config": tls}
        chains.append(chain)
    return chains


def tls_inspector() -> JSON:
    """The TLS inspector as Istio configures it (reads at most 512 bytes of the ClientHello)."""
    return {
        "name": names.TLS_INSPECTOR,
        "typed_config": {"@type": names.T_TLS_INSPECTOR, "initial_read_buffer_size": 512},
    }


def inbound_listener_fields(chains: Sequence[JSON]) -> JSON:
    """Listener fields the chains need: the TLS inspector when a chain matches on ``tls`` (without it
    every connection is ``raw_buffer``), and Istio's protocol-detection settings."""
    fields: JSON = {"filter_chains": list(chains)}
    if any(_transport(c) == names.TLS_TRANSPORT for c in chains):
        fields["listener_filters"] = [tls_inspector()]
    fields["listener_filters_timeout"] = "0s"  # Istio's protocolDetectionTimeout default: wait
    fields["continue_on_listener_filters_timeout"] = True
    return fields


def _transport(chain: JSON) -> object:
    match = chain.get("filter_chain_match")
    return match.get("transport_protocol") if isinstance(match, dict) else None
