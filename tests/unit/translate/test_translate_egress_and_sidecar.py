"""ServiceEntry egress (issue 4 item 4) and the Sidecar resource (item 5)."""

from __future__ import annotations

from translate_fixtures import PROXY_PORT, bookinfo, sidecar

from mizzen.node import InboundPort
from mizzen.testing.simulation import simulate
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig

SE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ext, namespace: default}}
spec:
  hosts: [{host}]
  location: MESH_EXTERNAL
  resolution: {resolution}
  ports: [{{number: 80, name: http, protocol: HTTP}}]
{endpoints}"""


def se(host: str = "httpbin.example.com", resolution: str = "DNS", endpoints: str = "") -> str:
    return SE.format(host=host, resolution=resolution, endpoints=endpoints)


def test_dns_service_entry_reachable_by_name() -> None:
    """A DNS ServiceEntry gets a DNS (STRICT_DNS) cluster and a vhost for host and host:80."""
    m = bookinfo(se(endpoints="  endpoints: [{address: 127.0.0.1, ports: {http: 18080}}]\n"))
    res = translate(sidecar(), m)
    c = res.clusters["outbound|80||httpbin.example.com"]
    assert c["cluster_type"]["name"] == "envoy.cluster.dns"
    addr = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (addr["address"], addr["port_value"]) == ("127.0.0.1", 18080)
    for host in ("httpbin.example.com", "httpbin.example.com:80"):
        r = simulate(res, listener_port=PROXY_PORT, host=host)
        assert r.cluster == "outbound|80||httpbin.example.com"


def test_dns_service_entry_without_endpoints_resolves_its_host() -> None:
    """Without endpoints a DNS entry's cluster resolves the host name itself."""
    c = translate(sidecar(), bookinfo(se())).clusters["outbound|80||httpbin.example.com"]
    addr = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (addr["address"], addr["port_value"]) == ("httpbin.example.com", 80)


def test_static_service_entry_uses_eds() -> None:
    """A STATIC ServiceEntry's endpoints arrive over EDS."""
    m = bookinfo(se(resolution="STATIC", endpoints="  endpoints: [{address: 127.0.0.1, ports: {http: 18081}}]\n"))
    res = translate(sidecar(), m)
    assert res.clusters["outbound|80||httpbin.example.com"]["type"] == "EDS"
    assert res.endpoints["outbound|80||httpbin.example.com"]["endpoints"][0]["lb_endpoints"][0]["endpoint"] == {
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 18081}}
    }


def test_resolution_none_forwards_dynamically() -> None:
    """resolution NONE: the cluster is a dynamic forward proxy (Istio's passthrough without iptables)."""
    c = translate(sidecar(), bookinfo(se(resolution="NONE"))).clusters["outbound|80||httpbin.example.com"]
    assert c["cluster_type"]["name"] == "envoy.clusters.dynamic_forward_proxy"


def test_registry_only_blocks_unknown_but_allows_service_entry() -> None:
    """REGISTRY_ONLY: ServiceEntry hosts still route, unknown hosts get 502."""
    m = bookinfo(se(), mesh=MeshConfig(outbound_traffic_policy="REGISTRY_ONLY"))
    res = translate(sidecar(), m)
    assert simulate(res, listener_port=PROXY_PORT, host="httpbin.example.com").cluster.startswith("outbound|80|")
    assert simulate(res, listener_port=PROXY_PORT, host="www.google.com").status == 502


SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: default, namespace: default}}
spec:
{spec}"""


def test_sidecar_egress_hosts_shrink_the_cluster_list() -> None:
    """egress.hosts ["./ratings"] leaves only ratings' clusters (plus the special ones)."""
    full = translate(sidecar(), bookinfo("destination-rule-all.yaml"))
    scoped = translate(
        sidecar(), bookinfo("destination-rule-all.yaml", SIDECAR.format(spec="  egress: [{hosts: [./ratings]}]\n"))
    )
    outbound = [c for c in scoped.clusters if c.startswith("outbound|")]
    assert outbound and all(c.endswith("|ratings.default.svc.cluster.local") for c in outbound)
    assert len(scoped.clusters) < len(full.clusters)
    assert len(scoped.endpoints) < len(full.endpoints)


def test_sidecar_egress_namespace_wildcards() -> None:
    """egress hosts "*/*.example.com" and "istio-system/*" select by namespace and host pattern."""
    m = bookinfo(se(), SIDECAR.format(spec="  egress: [{hosts: ['*/*.example.com']}]\n"))
    outbound = [c for c in translate(sidecar(), m).clusters if c.startswith("outbound|")]
    assert outbound == ["outbound|80||httpbin.example.com"]


def test_sidecar_outbound_traffic_policy_overrides_mesh() -> None:
    """A workload-selecting Sidecar's REGISTRY_ONLY applies to that workload only."""
    spec = "  workloadSelector: {labels: {app: productpage}}\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n"
    m = bookinfo(SIDECAR.format(spec=spec))
    pp = translate(sidecar(), m)
    other = translate(sidecar("details-v1", "details"), m)
    assert simulate(pp, listener_port=PROXY_PORT, host="x.example:80").status == 502
    assert simulate(other, listener_port=PROXY_PORT, host="x.example:80").cluster == "PassthroughCluster"


def test_sidecar_ingress_adds_inbound_listener() -> None:
    """Sidecar ingress with defaultEndpoint 127.0.0.1:PORT adds an inbound listener and cluster."""
    spec = """  ingress:
  - port: {number: 9443, protocol: TCP, name: tcp}
    defaultEndpoint: 127.0.0.1:31000
"""
    proxy = sidecar()
    res = translate(proxy, bookinfo(SIDECAR.format(spec=spec)))
    assert "127.0.0.1_9443" in res.listeners
    ep = res.clusters["inbound|9443||"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert ep["address"]["socket_address"]["port_value"] == 31000
    assert proxy.inbound == (InboundPort(9080, "http", "HTTP", 20001, 30001),)
    assert "127.0.0.1_20001" in res.listeners


def test_sidecar_egress_hosts_also_scope_virtual_service_hosts() -> None:
    """A VS host outside the Sidecar's egress hosts gets no vhost for that proxy."""
    site = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: site, namespace: default}
spec:
  hosts: [bookinfo.com]
  http: [{route: [{destination: {host: productpage}}]}]
"""
    names = lambda m: [v["name"] for v in translate(sidecar(), m).routes["http_proxy"]["virtual_hosts"]]  # noqa: E731
    assert "bookinfo.com:80" in names(bookinfo(site))
    scoped = bookinfo(site, SIDECAR.format(spec="  egress: [{hosts: [./ratings]}]\n"))
    assert "bookinfo.com:80" not in names(scoped)
    assert "bookinfo.com:80" in names(bookinfo(site, SIDECAR.format(spec="  egress: [{hosts: [./*]}]\n")))


def test_sidecar_egress_port_binds_a_listener() -> None:
    """Istio's no-iptables Sidecar: an egress entry with a port and captureMode NONE gets a listener on
    127.0.0.1:<port> routing by Host over RDS "<port>" to the entry's hosts (without it: scoping only)."""
    spec = """  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    captureMode: NONE
    hosts: [./reviews, ./ratings]
  - hosts: [./*]
"""
    scoping_only = bookinfo(SIDECAR.format(spec=spec.replace("    captureMode: NONE\n", "")))
    assert "127.0.0.1_9080" not in translate(sidecar(), scoping_only).listeners
    res = translate(
        sidecar(), bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml", SIDECAR.format(spec=spec))
    )
    assert "127.0.0.1_9080" in res.listeners
    vhosts = [v["name"] for v in res.routes["9080"]["virtual_hosts"]]
    assert vhosts == ["ratings.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local:9080", "allow_any"]
    r = simulate(res, listener_port=9080, host="reviews:9080")
    assert r.cluster == "outbound|9080|v1|reviews.default.svc.cluster.local"
