"""The security builders placed by the translator: inbound chains per PeerAuthentication mode, RBAC and
JWT filters on sidecar and gateway listeners (checked on ``translate`` output, and evaluated with
the simulator that reads the same filters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from translate_fixtures import NETWORKING, SAMPLES, bookinfo, gateway_proxy, sidecar, workload_entries

from mizzen.node import InboundPort, Proxy
from mizzen.simulate.rbac import Peer, Request, evaluate_listener
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import build_endpoints, translate
from mizzen.translate.model import MeshConfig, MeshSnapshot, load_mesh_config

LISTENER = "127.0.0.1_20001"
SLEEP = Peer.spiffe("default", "sleep")

ALLOW_GET = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: get-only, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]
    to: [{operation: {methods: [GET], ports: ["9080"]}}]
"""

JWT = """
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: '{"keys": []}'
"""


def _pa(mode: str, selector: str = "", port_level: str = "") -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: pa, namespace: default}}
spec:
  {selector}
  mtls: {{mode: {mode}}}
  {port_level}
"""


def _listener(*extra: str, proxy: Proxy | None = None, name: str = LISTENER) -> dict[str, Any]:
    return dict(translate(proxy or sidecar(), bookinfo(*extra)).listeners[name])


def _http_filter_names(chain: dict[str, Any]) -> list[str]:
    return [f["name"] for f in chain["filters"][0]["typed_config"]["http_filters"]]


def _transports(listener: dict[str, Any]) -> list[str]:
    return [c["filter_chain_match"]["transport_protocol"] for c in listener["filter_chains"]]


def test_default_inbound_is_permissive_mtls_and_plaintext() -> None:
    """Without PeerAuthentication an inbound port accepts mTLS (ALPN istio*) and plaintext, via the TLS inspector."""
    lis = _listener()
    assert _transports(lis) == ["tls", "raw_buffer"]
    assert "istio-peer-exchange" in lis["filter_chains"][0]["filter_chain_match"]["application_protocols"]
    assert [f["name"] for f in lis["listener_filters"]] == ["envoy.filters.listener.tls_inspector"]
    tls = lis["filter_chains"][0]["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True
    sds = tls["common_tls_context"]["tls_certificate_sds_secret_configs"][0]
    assert sds["name"] == "default"
    assert sds["sds_config"]["api_config_source"]["grpc_services"][0]["envoy_grpc"]["cluster_name"] == "sds-grpc"


def test_strict_leaves_only_the_mtls_chain_and_refuses_plaintext() -> None:
    """STRICT: one mTLS chain; a plaintext client matches no chain, a mesh client passes."""
    lis = _listener(_pa("STRICT"))
    assert _transports(lis) == ["tls"]
    assert not evaluate_listener(lis, Request(port=20001), Peer()).allowed
    assert evaluate_listener(lis, Request(port=20001), SLEEP).allowed


def test_disable_is_plaintext_only_without_inspector() -> None:
    """DISABLE: a single plaintext chain and no TLS inspector."""
    lis = _listener(_pa("DISABLE"))
    assert _transports(lis) == ["raw_buffer"]
    assert "listener_filters" not in lis


def test_port_level_mtls_applies_to_the_workload_port() -> None:
    """portLevelMtls (keyed by the workload port 9080) decides that port's chains."""
    selector = "selector: {matchLabels: {app: productpage}}"
    lis = _listener(_pa("PERMISSIVE", selector, "portLevelMtls: {9080: {mode: STRICT}}"))
    assert _transports(lis) == ["tls"]


def test_inbound_http_chain_gets_jwt_then_rbac_before_router() -> None:
    """Istio's filter order on every inbound chain: jwt_authn, RBAC, then fault/cors/router; XFCC set."""
    lis = _listener(ALLOW_GET, JWT)
    for chain in lis["filter_chains"]:
        assert _http_filter_names(chain) == [
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.rbac",
            "envoy.filters.http.fault",
            "envoy.filters.http.cors",
            "envoy.filters.http.router",
        ]
        assert chain["filters"][0]["typed_config"]["forward_client_cert_details"] == "APPEND_FORWARD"


def test_rbac_verdicts_on_the_translated_listener() -> None:
    """The translated listener allows sleep's GET on the policy's port, denies POST and other callers."""
    lis = _listener(ALLOW_GET)
    allowed = evaluate_listener(lis, Request(method="GET", port=20001), SLEEP)
    assert allowed.allowed
    assert not evaluate_listener(lis, Request(method="POST", port=20001), SLEEP).allowed
    assert not evaluate_listener(lis, Request(method="GET", port=20001), Peer.spiffe("default", "other")).allowed
    assert not evaluate_listener(lis, Request(method="GET", port=20001), Peer()).allowed


def test_policy_of_another_workload_does_not_attach() -> None:
    """A selector for productpage leaves reviews' listener without RBAC."""
    proxy = sidecar("reviews-v1", "reviews", "v1")
    lis = _listener(ALLOW_GET, proxy=proxy)
    assert "envoy.filters.http.rbac" not in _http_filter_names(lis["filter_chains"][0])


def test_tcp_inbound_gets_network_rbac_before_tcp_proxy() -> None:
    """A TCP port: network RBAC then tcp_proxy in each chain; an HTTP-only ALLOW rule is dropped (deny)."""
    deny_tcp = ALLOW_GET.replace('ports: ["9080"]', 'ports: ["27017"]')
    proxy = Proxy(
        id="mongodb-v1.default",
        type="sidecar",
        name="mongodb-v1",
        namespace="default",
        labels={"app": "productpage"},
        inbound=(InboundPort(27017, "mongo", "TCP", 20010, 30010),),
    )
    lis = _listener(deny_tcp, proxy=proxy, name="127.0.0.1_20010")
    for chain in lis["filter_chains"]:
        assert [f["name"] for f in chain["filters"]] == [
            "envoy.filters.network.rbac",
            "envoy.filters.network.tcp_proxy",
        ]
    assert not evaluate_listener(lis, Request(port=20010), SLEEP).allowed


def test_gateway_gets_policies_selecting_it() -> None:
    """An ingress-gateway policy (selector istio: ingressgateway) lands on the gateway's HCM, not on sidecars."""
    policy = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
"""
    res = translate(gateway_proxy(), bookinfo("bookinfo-gateway.yaml", policy))
    (gw,) = res.listeners.values()
    config = gw["filter_chains"][0]["filters"][0]["typed_config"]
    names = [f["name"] for f in config["http_filters"]]
    assert names[0] == "envoy.filters.http.rbac"
    assert config["http_filters"][0]["typed_config"]["rules"]["action"] == "DENY"
    assert "envoy.filters.http.rbac" not in _http_filter_names(_listener(policy)["filter_chains"][0])


def test_gateway_jwt_clears_route_cache() -> None:
    """A RequestAuthentication on the gateway: jwt_authn with clear_route_cache (Istio's gateway choice)."""
    ra = JWT.replace("namespace: default", "namespace: istio-system")
    res = translate(gateway_proxy(), bookinfo("bookinfo-gateway.yaml", ra))
    (gw,) = res.listeners.values()
    jwt = gw["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"][0]
    assert jwt["name"] == "envoy.filters.http.jwt_authn"
    assert jwt["typed_config"]["providers"]["origins-0"]["clear_route_cache"] is True


# -- outbound: auto mTLS, DestinationRule TLS, EDS metadata ------------------------------------------

REVIEWS = "reviews.default.svc.cluster.local"
SIDECAR_LABEL = "security.istio.io/tlsMode: istio"


def _with_sidecars() -> str:
    """Bookinfo's WorkloadEntries as agents register them: labelled as running a sidecar."""
    return workload_entries().replace("labels: {app:", f"labels: {{{SIDECAR_LABEL}, app:")


def _mesh(*extra: str, mesh: MeshConfig | None = None) -> MeshSnapshot:
    platform = (SAMPLES / "platform" / "bookinfo.yaml").read_text()
    return mesh_from_yaml(platform, _with_sidecars(), *extra, mesh=mesh)


def _cluster(m: MeshSnapshot, name: str = f"outbound|9080||{REVIEWS}") -> dict[str, Any]:
    return dict(translate(sidecar(), m).clusters[name])


def _eds_metadata(m: MeshSnapshot, name: str = f"outbound|9080||{REVIEWS}") -> list[dict[str, Any]]:
    cla = build_endpoints(sidecar(), m)[name]
    return [lb["metadata"]["filter_metadata"] for group in cla["endpoints"] for lb in group["lb_endpoints"]]


def test_auto_mtls_cluster_matches_sidecar_endpoints() -> None:
    """Default: tlsMode-istio (ISTIO_MUTUAL, Istio's SNI, the service accounts as SANs) and tlsMode-disabled."""
    matches = _cluster(_mesh())["transport_socket_matches"]
    assert [m["name"] for m in matches] == ["tlsMode-istio", "tlsMode-disabled"]
    assert matches[0]["match"] == {"tlsMode": "istio"} and matches[1]["match"] == {}
    tls = matches[0]["transport_socket"]["typed_config"]
    assert tls["sni"] == f"outbound_.9080_._.{REVIEWS}"
    common = tls["common_tls_context"]
    assert common["alpn_protocols"] == ["istio-peer-exchange", "istio"]
    sans = common["combined_validation_context"]["default_validation_context"]["match_subject_alt_names"]
    assert sans == [{"exact": "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"}]
    assert matches[1]["transport_socket"]["name"] == "envoy.transport_sockets.raw_buffer"


def test_eds_labels_only_endpoints_with_a_sidecar() -> None:
    """tlsMode: istio on labelled endpoints; an unlabelled WorkloadEntry (no sidecar) gets none."""
    assert all(md["envoy.transport_socket_match"] == {"tlsMode": "istio"} for md in _eds_metadata(_mesh()))
    plain = build_endpoints(sidecar(), bookinfo())[f"outbound|9080||{REVIEWS}"]
    for group in plain["endpoints"]:
        for lb in group["lb_endpoints"]:
            assert "envoy.transport_socket_match" not in lb["metadata"]["filter_metadata"]


def test_auto_mtls_off_and_namespace_disable_mean_plaintext() -> None:
    """enableAutoMtls false, or the destination namespace's PeerAuthentication DISABLE: no TLS at all."""
    assert "transport_socket_matches" not in _cluster(_mesh(mesh=MeshConfig(enable_auto_mtls=False)))
    disabled = _mesh(_pa("DISABLE"))
    assert "transport_socket_matches" not in _cluster(disabled)
    assert all("envoy.transport_socket_match" not in md for md in _eds_metadata(disabled))


def test_destination_rule_all_mtls_is_istio_mutual_per_subset() -> None:
    """destination-rule-all-mtls.yaml: every subset cluster gets one ISTIO_MUTUAL socket with its SNI."""
    m = _mesh((NETWORKING / "destination-rule-all-mtls.yaml").read_text())
    cluster = _cluster(m, f"outbound|9080|v2|{REVIEWS}")
    assert "transport_socket_matches" not in cluster
    tls = cluster["transport_socket"]["typed_config"]
    assert tls["sni"] == f"outbound_.9080_.v2_.{REVIEWS}"
    assert tls["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"] == "default"
    assert all(md["envoy.transport_socket_match"] == {"tlsMode": "istio"} for md in _eds_metadata(m))


def test_destination_rule_disable_wins_over_auto_mtls() -> None:
    """DR tls DISABLE: plaintext cluster, and the endpoints lose their tlsMode label."""
    dr = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {tls: {mode: DISABLE}}
"""
    m = _mesh(dr)
    cluster = _cluster(m)
    assert "transport_socket" not in cluster and "transport_socket_matches" not in cluster
    assert all("envoy.transport_socket_match" not in md for md in _eds_metadata(m))


def test_mesh_external_service_gets_no_auto_mtls() -> None:
    """A MESH_EXTERNAL ServiceEntry is never auto-mTLS'd."""
    se = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}]
"""
    cluster = _cluster(_mesh(se), "outbound|443||api.example.com")
    assert "transport_socket" not in cluster and "transport_socket_matches" not in cluster


def test_simple_and_mutual_tls_name_files_as_istio_does() -> None:
    """SIMPLE/MUTUAL files become Istio's SDS names (file-root:, file-cert:); no CA means file-root:system."""
    dr = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /etc/ssl/ca.pem, sni: reviews.example}
    portLevelSettings:
    - port: {number: 9080}
      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: SIMPLE}}
"""
    m = _mesh(dr)
    mutual = _cluster(m)["transport_socket"]["typed_config"]["common_tls_context"]
    assert mutual["tls_certificate_sds_secret_configs"][0]["name"] == "file-cert:/c.pem~/k.pem"
    root = mutual["combined_validation_context"]["validation_context_sds_secret_config"]
    assert root["name"] == "file-root:/ca.pem"
    assert root["sds_config"]["api_config_source"]["grpc_services"][0]["envoy_grpc"]["cluster_name"] == "sds-grpc"
    simple = _cluster(m, f"outbound|9080|v1|{REVIEWS}")["transport_socket"]["typed_config"]["common_tls_context"]
    assert simple["combined_validation_context"]["validation_context_sds_secret_config"]["name"] == "file-root:system"


def test_mesh_yaml_turns_auto_mtls_off_and_names_aliases(tmp_path: Path) -> None:
    """mesh.yaml ``enableAutoMtls: false`` and ``trustDomainAliases`` reach MeshConfig; a wrong type is an error."""
    path = tmp_path / "mesh.yaml"
    path.write_text("enableAutoMtls: false\ntrustDomainAliases: [old.example]\n")
    config = load_mesh_config(path)
    assert config.enable_auto_mtls is False and config.trust_domain_aliases == ("old.example",)
    assert MeshConfig().enable_auto_mtls is True
    path.write_text("enableAutoMtls: 'no'\n")
    with pytest.raises(ValueError, match=r"mesh\.yaml: enableAutoMtls must be true or false"):
        load_mesh_config(path)


def test_destination_rule_credential_name_secret_reaches_the_selected_sidecar() -> None:
    """A selected sidecar's DR credentialName: kubernetes://<name> over ADS, served with its CA from the Secret."""
    config = """
apiVersion: v1
kind: Secret
metadata: {name: client-cred}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5, ca.crt: Y2E=}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: productpage}}
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cred, sni: reviews.example}}
"""
    res = translate(sidecar(), _mesh(config))
    tls = res.clusters[f"outbound|9080||{REVIEWS}"]["transport_socket"]["typed_config"]  # type: ignore[index]
    cert_ref = tls["common_tls_context"]["tls_certificate_sds_secret_configs"][0]
    assert cert_ref == {"name": "kubernetes://client-cred", "sds_config": {"ads": {}, "resource_api_version": "V3"}}
    assert set(res.secrets) == {"kubernetes://client-cred", "kubernetes://client-cred-cacert"}
    chain = res.secrets["kubernetes://client-cred"]["tls_certificate"]["certificate_chain"]  # type: ignore[index]
    assert chain == {"inline_bytes": "Y2VydA=="}
    other = translate(sidecar("reviews-v1", "reviews", "v1"), _mesh(config))
    assert other.secrets == {}
