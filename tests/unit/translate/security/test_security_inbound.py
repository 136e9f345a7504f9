"""PeerAuthentication modes -> a port's inbound filter chains, TLS contexts and listener filters."""

from __future__ import annotations

import pytest
from security_fixtures import parse, parse_chains

from mizzen.translate.security.inbound import (
    INBOUND_HCM_CLIENT_CERT,
    downstream_tls_context,
    inbound_filter_chains,
    inbound_listener_fields,
)

TCP_PROXY = {
    "name": "envoy.filters.network.tcp_proxy",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "inbound",
        "cluster": "inbound|9080||",
    },
}


def chains(mode: str, protocol: str) -> list[dict[str, object]]:
    return inbound_filter_chains(mode, protocol, [TCP_PROXY], name="10.0.0.1_9080", trust_domains=["cluster.local"])  # type: ignore[arg-type]


def matches(mode: str, protocol: str) -> list[tuple[str, tuple[str, ...], bool]]:
    """(transport protocol, ALPN, terminates mTLS) of each chain."""
    out = []
    for c in chains(mode, protocol):
        m = c["filter_chain_match"]
        assert isinstance(m, dict)
        out.append((m["transport_protocol"], tuple(m.get("application_protocols", ())), "transport_socket" in c))
    return out


ISTIO_ALPN = ("istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2")


@pytest.mark.parametrize(
    ("mode", "protocol", "expected"),
    [
        ("STRICT", "HTTP", [("tls", (), True)]),
        ("PERMISSIVE", "HTTP", [("tls", ISTIO_ALPN, True), ("raw_buffer", (), False)]),
        ("DISABLE", "HTTP", [("raw_buffer", (), False)]),
        ("STRICT", "TCP", [("tls", (), True)]),
        ("PERMISSIVE", "TCP", [("tls", ISTIO_ALPN, True), ("tls", (), False), ("raw_buffer", (), False)]),
        ("DISABLE", "TCP", [("raw_buffer", (), False)]),
    ],
)
def test_chains_per_mode(mode: str, protocol: str, expected: list[tuple[str, tuple[str, ...], bool]]) -> None:
    """STRICT has only mTLS chains (a plaintext client matches nothing); PERMISSIVE adds plaintext (and,
    for TCP, plain TLS passed through); DISABLE is plaintext only."""
    assert matches(mode, protocol) == expected
    parse_chains(chains(mode, protocol))


def test_mtls_context_requires_a_mesh_client_certificate() -> None:
    """The server presents SDS `default`, requires a client cert and validates it against SDS `ROOTCA`
    with a SPIFFE SAN of the trust domain, both from the agent's `sds-grpc` cluster."""
    ctx = downstream_tls_context("STRICT", "HTTP", ["cluster.local"])
    assert ctx is not None and ctx["require_client_certificate"] is True
    common = ctx["common_tls_context"]
    assert isinstance(common, dict)
    assert common["alpn_protocols"] == ["h2", "http/1.1"]
    (cert,) = common["tls_certificate_sds_secret_configs"]
    assert cert["name"] == "default"
    grpc = cert["sds_config"]["api_config_source"]["grpc_services"][0]
    assert grpc == {"envoy_grpc": {"cluster_name": "sds-grpc"}}
    validation = common["combined_validation_context"]
    assert validation["validation_context_sds_secret_config"]["name"] == "ROOTCA"
    assert validation["default_validation_context"] == {
        "match_subject_alt_names": [{"prefix": "spiffe://cluster.local/"}]
    }
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"


def test_tcp_chain_offers_peer_exchange_alpn_and_disable_has_no_tls() -> None:
    """TCP mTLS chains negotiate Istio's `istio-peer-exchange`; DISABLE builds no TLS context."""
    ctx = downstream_tls_context("PERMISSIVE", "TCP", [])
    assert ctx is not None
    assert ctx["common_tls_context"]["alpn_protocols"] == ["istio-peer-exchange", "h2", "http/1.1"]  # type: ignore[index]
    assert ctx["common_tls_context"]["combined_validation_context"]["default_validation_context"] == {}  # type: ignore[index]
    assert downstream_tls_context("DISABLE", "TCP", ["cluster.local"]) is None


def test_listener_gets_tls_inspector_only_when_a_chain_needs_it() -> None:
    """The TLS inspector (512-byte read) is added when a chain matches on `tls`; DISABLE needs none."""
    strict = inbound_listener_fields(chains("STRICT", "HTTP"))
    assert strict["listener_filters"] == [
        {
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
                "initial_read_buffer_size": 512,
            },
        }
    ]
    assert strict["continue_on_listener_filters_timeout"] is True
    assert "listener_filters" not in inbound_listener_fields(chains("DISABLE", "HTTP"))
    from envoy.config.listener.v3 import listener_pb2

    parse(listener_pb2.Listener, {"name": "l", **strict})


def test_chains_do_not_share_filter_objects() -> None:
    """Each chain has its own copy of the filters, so later edits to one chain leave the others alone."""
    a, b = chains("PERMISSIVE", "HTTP")
    assert a["filters"] == b["filters"] and a["filters"] is not b["filters"]


def test_inbound_hcm_forwards_the_verified_peer_identity() -> None:
    """The inbound HCM appends x-forwarded-client-cert with the peer's URI (Istio's proxy-header default)."""
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

    msg = parse(hcm.HttpConnectionManager, {"stat_prefix": "x", **INBOUND_HCM_CLIENT_CERT})
    assert msg.set_current_client_cert_details.uri  # type: ignore[attr-defined]
