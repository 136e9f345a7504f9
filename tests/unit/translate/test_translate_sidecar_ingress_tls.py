"""Sidecar ``ingress[].tls``: TLS terminated by the sidecar with the user's files, only where mesh mTLS is off."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from translate_envoy import envoy_validate

from mizzen.node import InboundPort, Proxy
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate
from mizzen.translate.model import ProxyResources

PEER_AUTH = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: test}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  mtls: {{mode: STRICT}}
  portLevelMtls:
    9080: {{mode: {mode}}}
---
"""
SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: ingress-sidecar, namespace: test}}
spec:
  workloadSelector: {{labels: {{app: httpbin}}}}
  ingress:
  - port: {{number: 9080, protocol: {protocol}, name: external}}
    defaultEndpoint: 0.0.0.0:80
    tls: {tls}
"""
MUTUAL = "{mode: MUTUAL, serverCertificate: /c/tls.crt, privateKey: /c/tls.key, caCertificates: /ca/ca.crt}"
PROXY = Proxy(
    id="httpbin.test",
    type="sidecar",
    name="httpbin",
    namespace="test",
    labels={"app": "httpbin"},
    inbound=(InboundPort(9080, "https", "HTTPS", 20001, 30001),),
)


def _translate(tls: str = MUTUAL, *, mode: str = "DISABLE", protocol: str = "HTTPS") -> ProxyResources:
    text = PEER_AUTH.format(mode=mode) + SIDECAR.format(protocol=protocol, tls=tls)
    return translate(PROXY, mesh_from_yaml(text))


def _chains(res: ProxyResources) -> list[dict[str, Any]]:
    return list(res.listeners["127.0.0.1_20001"]["filter_chains"])


def _tls(chain: dict[str, Any]) -> dict[str, Any]:
    return dict(chain["transport_socket"]["typed_config"])


def test_mutual_on_a_disabled_port_terminates_with_the_files_and_requires_a_client_certificate() -> None:
    """One chain (TLS only) with file-cert:<crt>~<key>, file-root:<ca>, ALPN h2/http1.1, client cert required."""
    res = _translate()
    (chain,) = _chains(res)
    assert chain["filter_chain_match"] == {"transport_protocol": "tls"}
    tls = _tls(chain)
    common = tls["common_tls_context"]
    assert [s["name"] for s in common["tls_certificate_sds_secret_configs"]] == ["file-cert:/c/tls.crt~/c/tls.key"]
    validation = common["combined_validation_context"]["validation_context_sds_secret_config"]
    assert validation["name"] == "file-root:/ca/ca.crt"
    assert validation["sds_config"]["api_config_source"]["grpc_services"][0]["envoy_grpc"]["cluster_name"] == (
        "sds-grpc"
    )
    assert common["alpn_protocols"] == ["h2", "http/1.1"]
    assert tls["require_client_certificate"] is True
    assert "tls_params" not in common
    listener = res.listeners["127.0.0.1_20001"]
    assert [f["name"] for f in listener["listener_filters"]] == ["envoy.filters.listener.tls_inspector"]


def test_https_after_termination_is_routed_as_http_to_the_app() -> None:
    """HTTPS becomes HTTP once decrypted: the chain runs the inbound HTTP connection manager to inbound|9080||."""
    (chain,) = _chains(_translate())
    (hcm,) = chain["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    route = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]
    assert route["route"]["cluster"] == "inbound|9080||"


def test_tls_after_termination_is_proxied_as_tcp_with_the_servers_versions_and_ciphers() -> None:
    """TLS becomes TCP: tcp_proxy to the app; SIMPLE asks for no client certificate; versions and
    cipher suites (duplicates dropped) as Istio's applyServerTLSSettings sets them."""
    tls = (
        "{mode: SIMPLE, serverCertificate: /c/tls.crt, privateKey: /c/tls.key, minProtocolVersion: TLSV1_2,"
        " maxProtocolVersion: TLSV1_3, cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-AES256-GCM-SHA384]}"
    )
    (chain,) = _chains(_translate(tls, protocol="TLS"))
    assert [f["name"] for f in chain["filters"]] == ["envoy.filters.network.tcp_proxy"]
    context = _tls(chain)
    assert context["require_client_certificate"] is False
    assert "combined_validation_context" not in context["common_tls_context"]
    assert context["common_tls_context"]["tls_params"] == {
        "tls_minimum_protocol_version": "TLSv1_2",
        "tls_maximum_protocol_version": "TLSv1_3",
        "cipher_suites": ["ECDHE-RSA-AES256-GCM-SHA384"],
    }


def test_certificate_pins_go_into_the_client_validation() -> None:
    """MUTUAL with verifyCertificateSpki/Hash: the client certificate must also match a pin."""
    tls = MUTUAL.removesuffix("}") + ", verifyCertificateSpki: [c3BraQ==], verifyCertificateHash: ['ab:cd']}"
    (chain,) = _chains(_translate(tls))
    default = _tls(chain)["common_tls_context"]["combined_validation_context"]["default_validation_context"]
    assert default == {"verify_certificate_spki": ["c3BraQ=="], "verify_certificate_hash": ["ab:cd"]}


def test_optional_mutual_checks_a_client_certificate_only_when_one_is_presented() -> None:
    """OPTIONAL_MUTUAL: the CA validates a presented certificate, but none is required."""
    tls = MUTUAL.replace("mode: MUTUAL", "mode: OPTIONAL_MUTUAL")
    (chain,) = _chains(_translate(tls))
    context = _tls(chain)
    assert context["require_client_certificate"] is False
    root = context["common_tls_context"]["combined_validation_context"]["validation_context_sds_secret_config"]
    assert root["name"] == "file-root:/ca/ca.crt"


@pytest.mark.parametrize("mode", ["STRICT", "PERMISSIVE"])
def test_mesh_mtls_on_the_port_keeps_its_chains_and_ignores_the_users_tls(mode: str) -> None:
    """Istio's rule: user TLS applies only under DISABLE; otherwise the port serves mesh mTLS (workload cert)."""
    chains = _chains(_translate(mode=mode))
    names = {
        s["name"]
        for c in chains
        if "transport_socket" in c
        for s in _tls(c)["common_tls_context"]["tls_certificate_sds_secret_configs"]
    }
    assert names == {"default"}
    if mode == "STRICT":
        assert [c["filter_chain_match"]["transport_protocol"] for c in chains] == ["tls"]


@pytest.mark.parametrize(
    "tls",
    [
        "{mode: PASSTHROUGH, serverCertificate: /c/tls.crt, privateKey: /c/tls.key}",
        "{mode: MUTUAL, serverCertificate: /c/tls.crt, privateKey: /c/tls.key}",
    ],
)
def test_tls_the_sidecar_cannot_terminate_leaves_the_port_as_it_was(tls: str) -> None:
    """PASSTHROUGH, and MUTUAL without a CA (refused at apply): no user certificate on the port."""
    chains = _chains(_translate(tls))
    assert not [c for c in chains if "transport_socket" in c]
    assert [f["name"] for c in chains for f in c["filters"]] == ["envoy.filters.network.tcp_proxy"]


def test_capture_sidecars_match_the_terminating_chain_on_the_listen_port() -> None:
    """Transparent capture: the same TLS chain sits in virtualInbound behind a destination_port match."""
    proxy = dataclasses.replace(PROXY, interception="REDIRECT")
    res = translate(
        proxy, mesh_from_yaml(PEER_AUTH.format(mode="DISABLE") + SIDECAR.format(protocol="HTTPS", tls=MUTUAL))
    )
    chains = [
        c
        for c in res.listeners["virtualInbound"]["filter_chains"]
        if c["filter_chain_match"].get("destination_port") and not c.get("name", "").endswith("-blackhole")
    ]
    (chain,) = chains
    assert chain["filter_chain_match"] == {"destination_port": 20001, "transport_protocol": "tls"}
    assert _tls(chain)["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"].startswith("file-cert:")


@pytest.mark.e2e
def test_real_envoy_accepts_a_terminating_sidecar_ingress_port() -> None:
    """envoy --mode validate accepts the MUTUAL, OPTIONAL_MUTUAL and SIMPLE/TCP terminating listeners."""
    optional = MUTUAL.replace("mode: MUTUAL", "mode: OPTIONAL_MUTUAL")
    simple = "{mode: SIMPLE, serverCertificate: /a, privateKey: /b}"
    for res in (_translate(), _translate(optional), _translate(simple, protocol="TLS")):
        out = envoy_validate(res)
        assert out.returncode == 0, out.stderr[-2000:]
