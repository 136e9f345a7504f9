"""DestinationRule TLS and auto mTLS -> outbound cluster transport sockets (Istio's cluster_tls rules)."""

from __future__ import annotations

import pytest
from security_fixtures import destination_rule, parse_cluster_fields

from mizzen.config.models.destination_rule import ClientTLSSettings
from mizzen.translate.security.upstream import UpstreamTarget, UpstreamTransport, client_tls_for, upstream_transport

HOST = "reviews.default.svc.cluster.local"
SAS = ("spiffe://cluster.local/ns/default/sa/bookinfo-reviews",)
TARGET = UpstreamTarget(cluster_name=f"outbound|9080||{HOST}", sni=f"outbound_.9080_._.{HOST}", service_accounts=SAS)

DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings:
    - port: {number: 9443}
      tls: {mode: SIMPLE}
    - port: {number: 9090}
      loadBalancer: {simple: RANDOM}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: DISABLE}
  - name: v2
    labels: {version: v2}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 9080}
        loadBalancer: {simple: RANDOM}
"""


@pytest.mark.parametrize(
    ("subset", "port", "mode"),
    [
        (None, 9080, "ISTIO_MUTUAL"),
        (None, 9443, "SIMPLE"),
        (None, 9090, None),
        ("v1", 9080, "DISABLE"),
        ("v2", 9080, "ISTIO_MUTUAL"),
        ("v3", 9080, None),
        ("v3", 9443, "SIMPLE"),
    ],
    ids=["top", "port-level", "port-level-without-tls", "subset", "subset-inherits", "subset-port-level", "v3-other"],
)
def test_tls_precedence(subset: str | None, port: int, mode: str | None) -> None:
    """Port-level settings replace the top level wholesale; a subset overrides; its port level, wholesale."""
    tls = client_tls_for(destination_rule(DR), subset, port)
    assert (tls.mode if tls else None) == mode


def transport(tls: ClientTLSSettings | None, target: UpstreamTarget = TARGET, **kw: object) -> UpstreamTransport:
    kw.setdefault("service_mode", "PERMISSIVE")
    result = upstream_transport(tls, target, **kw)  # type: ignore[arg-type]
    parse_cluster_fields(result.cluster_fields())
    return result


def context(result: UpstreamTransport) -> dict[str, object]:
    socket = result.transport_socket
    assert socket is not None and socket["name"] == "envoy.transport_sockets.tls"
    config = socket["typed_config"]
    assert isinstance(config, dict)
    return config


def test_auto_mtls_matches_endpoints_with_a_sidecar() -> None:
    """No DR TLS: ISTIO_MUTUAL to endpoints labelled tlsMode=istio, plaintext to the others."""
    result = transport(None)
    assert result.transport_socket is None
    istio, disabled = result.transport_socket_matches
    assert istio["name"] == "tlsMode-istio" and istio["match"] == {"tlsMode": "istio"}
    assert disabled == {
        "name": "tlsMode-disabled",
        "match": {},
        "transport_socket": {
            "name": "envoy.transport_sockets.raw_buffer",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"},
        },
    }
    ctx = istio["transport_socket"]["typed_config"]  # type: ignore[index]
    assert ctx["sni"] == TARGET.sni
    common = ctx["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "istio"]
    assert common["tls_certificate_sds_secret_configs"][0]["name"] == "default"
    validation = common["combined_validation_context"]
    assert validation["default_validation_context"] == {"match_subject_alt_names": [{"exact": SAS[0]}]}
    assert validation["validation_context_sds_secret_config"]["name"] == "ROOTCA"


@pytest.mark.parametrize(
    ("target", "mode", "auto"),
    [
        (UpstreamTarget("c", "s", mesh_external=True), "PERMISSIVE", True),
        (TARGET, "DISABLE", True),
        (TARGET, None, True),
        (TARGET, "STRICT", False),
    ],
    ids=["mesh-external", "namespace-disables-mtls", "mode-unknown", "auto-mtls-off"],
)
def test_no_auto_mtls(target: UpstreamTarget, mode: str | None, auto: bool) -> None:
    """Auto mTLS stays off for MESH_EXTERNAL, a DISABLE destination, or when the mesh turns it off."""
    assert transport(None, target, service_mode=mode, auto_mtls=auto).cluster_fields() == {}


def test_istio_mutual_from_a_destination_rule_is_always_on() -> None:
    """DR ISTIO_MUTUAL is one transport socket (no fallback to plaintext), with HTTP/2 ALPN when h2."""
    tls = ClientTLSSettings(mode="ISTIO_MUTUAL")
    target = UpstreamTarget(TARGET.cluster_name, TARGET.sni, SAS, http2=True)
    ctx = context(transport(tls, target, service_mode="DISABLE"))
    assert ctx["sni"] == TARGET.sni
    assert ctx["common_tls_context"]["alpn_protocols"] == ["istio-peer-exchange", "istio", "h2"]  # type: ignore[index]


def test_istio_mutual_keeps_the_users_sni_and_sans() -> None:
    """ISTIO_MUTUAL with sni/subjectAltNames uses them instead of Istio's defaults."""
    tls = ClientTLSSettings(mode="ISTIO_MUTUAL", sni="my.sni", subject_alt_names=("spiffe://td/ns/x/sa/y",))
    ctx = context(transport(tls))
    assert ctx["sni"] == "my.sni"
    vc = ctx["common_tls_context"]["combined_validation_context"]  # type: ignore[index]
    assert vc["default_validation_context"] == {"match_subject_alt_names": [{"exact": "spiffe://td/ns/x/sa/y"}]}


def test_disable_means_plaintext_even_with_auto_mtls() -> None:
    """DR tls DISABLE switches auto mTLS off for the cluster."""
    assert transport(ClientTLSSettings(mode="DISABLE")).cluster_fields() == {}
    assert transport(ClientTLSSettings()).cluster_fields() == {}


def test_simple_tls_with_ca_certificates_and_sni() -> None:
    """SIMPLE: no client certificate, the CA file via SDS `file-root:<path>`, SNI as given."""
    tls = ClientTLSSettings(
        mode="SIMPLE", ca_certificates="/etc/ca.pem", sni="api.example.com", subject_alt_names=("api.example.com",)
    )
    result = transport(tls)
    ctx = context(result)
    common = ctx["common_tls_context"]
    assert isinstance(common, dict)
    assert "tls_certificate_sds_secret_configs" not in common
    root = common["combined_validation_context"]["validation_context_sds_secret_config"]
    assert root["name"] == "file-root:/etc/ca.pem"
    assert ctx["sni"] == "api.example.com"
    assert result.alpn_override is False
    assert result.upstream_http_protocol_options == {}


def test_simple_tls_defaults() -> None:
    """SIMPLE without CA uses the OS bundle; without SNI, SNI and SAN checks follow the request's host."""
    result = transport(ClientTLSSettings(mode="SIMPLE"))
    common = context(result)["common_tls_context"]
    assert common["combined_validation_context"]["validation_context_sds_secret_config"]["name"] == "file-root:system"  # type: ignore[index]
    assert result.upstream_http_protocol_options == {"auto_sni": True, "auto_san_validation": True}


def test_insecure_skip_verify_drops_validation() -> None:
    """insecureSkipVerify: an empty validation context (any server certificate), no auto SAN check."""
    result = transport(ClientTLSSettings(mode="SIMPLE", insecure_skip_verify=True))
    assert context(result)["common_tls_context"]["validation_context"] == {}  # type: ignore[index]
    assert result.upstream_http_protocol_options == {"auto_sni": True}


def test_mutual_with_files_and_credential_name() -> None:
    """MUTUAL: a file pair as SDS `file-cert:<cert>~<key>`; or credentialName secrets over ADS on a
    DR with workloadSelector (and on gateways)."""
    files = ClientTLSSettings(mode="MUTUAL", client_certificate="/c.pem", private_key="/k.pem", ca_certificates="/ca")
    common = context(transport(files))["common_tls_context"]
    assert common["tls_certificate_sds_secret_configs"][0]["name"] == "file-cert:/c.pem~/k.pem"  # type: ignore[index]
    cred = ClientTLSSettings(mode="MUTUAL", credential_name="client-cred")
    target = UpstreamTarget("c", "s", dr_has_workload_selector=True)
    common = context(transport(cred, target))["common_tls_context"]
    cert = common["tls_certificate_sds_secret_configs"][0]  # type: ignore[index]
    assert cert == {"name": "kubernetes://client-cred", "sds_config": {"ads": {}, "resource_api_version": "V3"}}
    root = common["combined_validation_context"]["validation_context_sds_secret_config"]  # type: ignore[index]
    assert root["name"] == "kubernetes://client-cred-cacert"
    gateway = UpstreamTarget("c", "s", sidecar=False)
    assert transport(cred, gateway).transport_socket is not None


def test_tls_istio_does_not_apply_is_reported() -> None:
    """MUTUAL without certificates, or credentialName on a plain sidecar DR: no TLS, as in Istio, with
    the reason (which the apply path reports as MZ2784)."""
    bad = transport(ClientTLSSettings(mode="MUTUAL"))
    assert bad.cluster_fields() == {} and "client certificate and private key" in bad.error
    ignored = transport(ClientTLSSettings(mode="SIMPLE", credential_name="c"))
    assert ignored.cluster_fields() == {} and "workloadSelector" in ignored.error


def test_service_entry_sans_default_to_its_identities() -> None:
    """SIMPLE to a ServiceEntry without subjectAltNames verifies the entry's own SANs."""
    target = UpstreamTarget("c", "s", service_accounts=("spiffe://x/ns/y/sa/z",), service_entry=True)
    vc = context(transport(ClientTLSSettings(mode="SIMPLE"), target))["common_tls_context"]
    assert vc["combined_validation_context"]["default_validation_context"] == {  # type: ignore[index]
        "match_subject_alt_names": [{"exact": "spiffe://x/ns/y/sa/z"}]
    }
