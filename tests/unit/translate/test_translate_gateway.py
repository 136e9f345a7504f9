"""Ingress gateway semantics (issue 5 item 1): listeners per server port, vhosts from server hosts x VS
hosts, merging, 404, httpsRedirect and HTTPS with credentialName over SDS."""

from __future__ import annotations

import base64
from pathlib import Path

from translate_fixtures import bookinfo, gateway_proxy

from mizzen.node import Proxy
from mizzen.testing.simulation import simulate
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot

PRODUCTPAGE = "outbound|9080||productpage.default.svc.cluster.local"


def gw(
    servers: str, name: str = "gw", namespace: str = "istio-system", selector: str = "{istio: ingressgateway}"
) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {selector}
  servers:
{servers}"""


def vs(name: str, hosts: str, gateways: str, http: str, namespace: str = "default") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: {hosts}
  gateways: {gateways}
  http:
{http}"""


HTTP_8080 = "  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['*']\n"


def go(
    mesh: MeshSnapshot,
    port: int = 8080,
    host: str = "bookinfo.com",
    path: str = "/",
    *,
    proxy: Proxy | None = None,
    **kw: object,
) -> object:
    return simulate(translate(proxy or gateway_proxy(), mesh), listener_port=port, host=host, path=path, **kw)  # type: ignore[arg-type]


def test_bookinfo_gateway_routes_and_404() -> None:
    """bookinfo-gateway: /productpage reaches productpage; an unknown path is 404; names are Istio's."""
    res = translate(gateway_proxy(), bookinfo("bookinfo-gateway.yaml"))
    assert list(res.listeners) == ["0.0.0.0_8080"]
    assert list(res.routes) == ["http.8080"]
    r = simulate(res, listener_port=8080, host="127.0.0.1:8080", path="/productpage")
    assert (r.cluster, r.vhost) == (PRODUCTPAGE, "*:8080")
    assert simulate(res, listener_port=8080, host="x", path="/nope").status == 404
    assert res.listeners["0.0.0.0_8080"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8080}


def test_no_virtual_service_gives_blackhole_404() -> None:
    """A server with no bound VS gets the blackhole:<port> vhost and every request is 404."""
    res = translate(gateway_proxy(), bookinfo(gw(HTTP_8080)))
    assert res.routes["http.8080"]["virtual_hosts"][0]["name"] == "blackhole:8080"
    assert simulate(res, listener_port=8080, host="a", path="/").status == 404


def test_selector_must_match_gateway_labels() -> None:
    """A Gateway selecting other labels gives this proxy no listeners."""
    res = translate(gateway_proxy(), bookinfo(gw(HTTP_8080, selector="{istio: egressgateway}")))
    assert res.listeners == {}


def test_several_virtual_services_merge_catch_all_last() -> None:
    """Two VSs for one host on one gateway merge: creation order, catch-all routes sorted last."""
    a = vs(
        "a",
        "[bookinfo.com]",
        "[istio-system/gw]",
        "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n",
    )
    b = vs(
        "b",
        "[bookinfo.com]",
        "[istio-system/gw]",
        "  - match: [{uri: {prefix: /reviews}}]\n    route: [{destination: {host: reviews}}]\n",
    )
    m = bookinfo(gw(HTTP_8080), a, b)
    assert go(m, path="/reviews/1").cluster == "outbound|9080||reviews.default.svc.cluster.local"  # type: ignore[attr-defined]
    assert go(m, path="/x").cluster == PRODUCTPAGE  # type: ignore[attr-defined]


def test_vhosts_from_server_hosts_times_vs_hosts() -> None:
    """Only VS hosts that intersect the server's hosts attach; the VS host names the vhost."""
    servers = "  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['*.example.com']\n"
    ok = vs(
        "ok",
        "[shop.example.com]",
        "[istio-system/gw]",
        "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n",
    )
    off = vs(
        "other",
        "[other.org]",
        "[istio-system/gw]",
        "  - route: [{destination: {host: reviews, port: {number: 9080}}}]\n",
    )
    m = bookinfo(gw(servers), ok, off)
    rc = translate(gateway_proxy(), m).routes["http.8080"]
    assert [v["name"] for v in rc["virtual_hosts"]] == ["shop.example.com:8080"]
    assert go(m, host="shop.example.com:8080").cluster == PRODUCTPAGE  # type: ignore[attr-defined]
    assert go(m, host="other.org").status == 404  # type: ignore[attr-defined]


def test_server_host_namespace_restricts_virtual_services() -> None:
    """A server host "prod/*" admits only VSs from namespace prod."""
    servers = "  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['prod/*']\n"
    m = bookinfo(
        gw(servers),
        vs(
            "x",
            "['*']",
            "[istio-system/gw]",
            "  - route: [{destination: {host: productpage.default.svc.cluster.local}}]\n",
        ),
    )
    assert go(m).status == 404  # type: ignore[attr-defined]


def test_gateway_reference_forms() -> None:
    """A VS names its gateway as name (own namespace) or ns/name."""
    same_ns = vs("x", "['*']", "[gw]", "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n")
    assert go(bookinfo(gw(HTTP_8080, namespace="default"), same_ns)).cluster == PRODUCTPAGE  # type: ignore[attr-defined]
    assert go(bookinfo(gw(HTTP_8080), same_ns)).status == 404  # type: ignore[attr-defined]


def test_https_redirect() -> None:
    """tls.httpsRedirect on an HTTP server makes its vhosts require TLS (301 to https)."""
    servers = "  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['*']\n    tls: {httpsRedirect: true}\n"
    m = bookinfo(
        gw(servers),
        vs(
            "x", "['*']", "[istio-system/gw]", "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n"
        ),
    )
    r = go(m)
    assert r.status == 301  # type: ignore[attr-defined]
    assert translate(gateway_proxy(), m).routes["http.8080"]["virtual_hosts"][0]["require_tls"] == "ALL"


def secret(name: str = "bookinfo-credential", namespace: str = "istio-system") -> str:
    crt = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    key = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\n").decode()
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: {namespace}}}
type: kubernetes.io/tls
data: {{tls.crt: {crt}, tls.key: {key}}}
"""


HTTPS = """  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-credential}
"""


def test_https_simple_with_credential_name() -> None:
    """HTTPS SIMPLE: the secret is served over SDS and the server has its own RDS https.<port>.<name>.<gw>.<ns>."""
    m = bookinfo(
        gw(HTTPS),
        secret(),
        vs(
            "x",
            "[bookinfo.com]",
            "[istio-system/gw]",
            "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n",
        ),
    )
    res = translate(gateway_proxy(), m)
    assert list(res.secrets) == ["kubernetes://bookinfo-credential"]
    assert list(res.routes) == ["https.8443.https.gw.istio-system"]
    chain = res.listeners["0.0.0.0_8443"]["filter_chains"][0]
    assert chain["filter_chain_match"] == {"transport_protocol": "tls", "server_names": ["bookinfo.com"]}
    sds = chain["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificate_sds_secret_configs"]
    assert sds[0]["name"] == "kubernetes://bookinfo-credential" and "ads" in sds[0]["sds_config"]
    r = simulate(res, listener_port=8443, host="bookinfo.com", sni="bookinfo.com", scheme="https")
    assert r.cluster == PRODUCTPAGE


def test_https_without_secret_is_left_out() -> None:
    """An HTTPS server whose credential does not exist produces no listener (Istio waits for it)."""
    m = bookinfo(
        gw(HTTPS),
        vs(
            "x",
            "[bookinfo.com]",
            "[istio-system/gw]",
            "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n",
        ),
    )
    assert translate(gateway_proxy(), m).listeners == {}


def test_gateway_gets_clusters_for_services() -> None:
    """Gateways receive outbound clusters and endpoints (and no sidecar listeners)."""
    res = translate(gateway_proxy(), bookinfo("bookinfo-gateway.yaml"))
    assert PRODUCTPAGE in res.clusters and PRODUCTPAGE in res.endpoints
    assert "PassthroughCluster" not in res.clusters


def test_https_passthrough_routes_by_sni() -> None:
    """An HTTPS server with tls.mode PASSTHROUGH forwards by SNI from the bound VS's tls rules."""
    servers = """  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [nginx.example.com]
    tls: {mode: PASSTHROUGH}
"""
    route = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: default}
spec:
  hosts: [nginx.example.com]
  gateways: [istio-system/gw]
  tls:
  - match: [{port: 8443, sniHosts: [nginx.example.com]}]
    route: [{destination: {host: my-nginx, port: {number: 443}}}]
"""
    res = translate(gateway_proxy(), bookinfo(gw(servers), route))
    r = simulate(res, listener_port=8443, sni="nginx.example.com")
    assert r.cluster == "outbound|443||my-nginx.default.svc.cluster.local"
    assert simulate(res, listener_port=8443, sni="other.example.com").error == "no filter chain"


def test_server_port_translated_to_gateway_service_target_port() -> None:
    """Server port 80 binds the gateway Service's targetPort 8080 (Istio's port translation)."""
    service = """apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080}]
"""
    servers = "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n"
    route = vs(
        "x",
        "['*']",
        "[istio-system/gw]",
        "  - match: [{port: 80}]\n    route: [{destination: {host: productpage, port: {number: 9080}}}]\n",
    )
    res = translate(gateway_proxy(), bookinfo(service, gw(servers), route))
    assert list(res.listeners) == ["0.0.0.0_8080"] and list(res.routes) == ["http.8080"]
    assert simulate(res, listener_port=8080, host="a", path="/").cluster == PRODUCTPAGE


def test_https_with_certificate_files_and_duplicate_sni() -> None:
    """serverCertificate/privateKey files work without SDS; a second server with the same SNI is dropped."""
    servers = """  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.com]
    tls: {mode: SIMPLE, serverCertificate: /certs/c.pem, privateKey: /certs/k.pem}
  - port: {number: 8443, name: https-2, protocol: HTTPS}
    hosts: [bookinfo.com]
    tls: {mode: SIMPLE, serverCertificate: /certs/c2.pem, privateKey: /certs/k2.pem}
"""
    res = translate(gateway_proxy(), bookinfo(gw(servers)))
    (chain,) = res.listeners["0.0.0.0_8443"]["filter_chains"]
    certs = chain["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificates"]
    assert certs[0]["certificate_chain"] == {"filename": "/certs/c.pem"}
    assert res.secrets == {}


def test_http_and_https_servers_share_a_port() -> None:
    """A plain-HTTP and a terminated-HTTPS server on one port get separate chains told apart by TLS."""
    servers = (
        HTTP_8080
        + """  - port: {number: 8080, name: https, protocol: HTTPS}
    hosts: ['*']
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
"""
    )
    res = translate(gateway_proxy(), bookinfo(gw(servers)))
    chains = res.listeners["0.0.0.0_8080"]["filter_chains"]
    assert [c.get("filter_chain_match") for c in chains] == [None, {"transport_protocol": "tls"}]
    assert res.listeners["0.0.0.0_8080"]["listener_filters"][0]["name"] == "envoy.filters.listener.tls_inspector"


def _gateway_hcm(mesh: MeshSnapshot) -> dict[str, object]:
    listener = translate(gateway_proxy(), mesh).listeners["0.0.0.0_8080"]
    return dict(listener["filter_chains"][0]["filters"][0]["typed_config"])


def test_gateway_topology_trusts_that_many_forwarded_for_hops() -> None:
    """MeshConfig gatewayTopology.numTrustedProxies N: the gateway's HCM uses the remote address and
    trusts N X-Forwarded-For hops (remoteIpBlocks then see the original client); 0 trusts none."""
    import dataclasses

    mesh = bookinfo("bookinfo-gateway.yaml")
    assert "xff_num_trusted_hops" not in _gateway_hcm(mesh) and _gateway_hcm(mesh)["use_remote_address"] is True
    trusted = dataclasses.replace(mesh, mesh=dataclasses.replace(mesh.mesh, gateway_num_trusted_proxies=2))
    assert _gateway_hcm(trusted)["xff_num_trusted_hops"] == 2


def test_mesh_yaml_gateway_topology_is_read_and_checked(tmp_path: Path) -> None:
    """numTrustedProxies is read from defaultConfig.gatewayTopology; a negative or non-integer value is an
    error naming the file and field."""
    import pytest

    from mizzen.translate.model import load_mesh_config

    mesh_yaml = tmp_path / "m.yaml"
    mesh_yaml.write_text("defaultConfig:\n  gatewayTopology:\n    numTrustedProxies: 1\n")
    assert load_mesh_config(mesh_yaml).gateway_num_trusted_proxies == 1
    mesh_yaml.write_text("{}\n")
    assert load_mesh_config(mesh_yaml).gateway_num_trusted_proxies == 0
    for bad in ("-1", '"1"', "true"):
        mesh_yaml.write_text(f"defaultConfig:\n  gatewayTopology:\n    numTrustedProxies: {bad}\n")
        with pytest.raises(ValueError, match=r"m\.yaml: defaultConfig\.gatewayTopology\.numTrustedProxies"):
            load_mesh_config(mesh_yaml)


def test_a_gateways_own_topology_wins_over_the_mesh_default() -> None:
    """The gateway's ProxyConfig numTrustedProxies (node metadata) replaces the mesh's, 0 included."""
    import dataclasses

    mesh = bookinfo("bookinfo-gateway.yaml")
    trusted = dataclasses.replace(mesh, mesh=dataclasses.replace(mesh.mesh, gateway_num_trusted_proxies=2))
    own = dataclasses.replace(gateway_proxy(), num_trusted_proxies=1)
    none = dataclasses.replace(gateway_proxy(), num_trusted_proxies=0)

    def hcm(proxy: Proxy, snapshot: MeshSnapshot) -> dict[str, object]:
        listener = translate(proxy, snapshot).listeners["0.0.0.0_8080"]
        return dict(listener["filter_chains"][0]["filters"][0]["typed_config"])

    assert hcm(own, mesh)["xff_num_trusted_hops"] == 1
    assert hcm(own, trusted)["xff_num_trusted_hops"] == 1
    assert "xff_num_trusted_hops" not in hcm(none, trusted)
