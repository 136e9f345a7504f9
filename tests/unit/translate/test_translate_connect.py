"""Which CONNECT tunnels enter which tunnel listener (HTTPS_PROXY egress, Istio's wildcard egress task)."""

from __future__ import annotations

from translate_fixtures import bookinfo, sidecar

from mizzen.translate import translate
from mizzen.translate.common import JSONDict
from mizzen.translate.model import MeshConfig

REGISTRY_ONLY = MeshConfig(outbound_traffic_policy="REGISTRY_ONLY")

WILDCARD_SE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wikipedia}
spec:
  hosts: ["*.wikipedia.org"]
  ports: [{number: 443, name: https, protocol: HTTPS}]
"""

WWW_SE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: www-wikipedia}
spec:
  hosts: [www.wikipedia.org]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
"""

TLS_VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wikipedia}
spec:
  hosts: ["*.wikipedia.org"]
  tls:
  - match: [{port: 443, sniHosts: ["*.wikipedia.org"]}]
    route: [{destination: {host: www.wikipedia.org, port: {number: 443}}}]
"""


def _connect_targets(mesh: MeshConfig | None, *docs: str) -> dict[str, str]:
    """Each http_proxy domain whose vhost takes CONNECT, with the cluster the tunnel goes to."""
    routes = translate(sidecar(), bookinfo(*docs, mesh=mesh)).routes["http_proxy"]
    out: dict[str, str] = {}
    for vhost in routes["virtual_hosts"]:
        connect: list[JSONDict] = [r for r in vhost["routes"] if "connect_matcher" in r["match"]]
        for domain in vhost["domains"]:
            if connect:
                out[domain] = connect[0]["route"]["cluster"]
    return out


def test_a_name_only_sni_hosts_hold_takes_connect_into_the_tunnel_listener() -> None:
    """A tls rule's sniHosts *.wikipedia.org, no ServiceEntry for the wildcard: CONNECT to it enters connect_443."""
    targets = _connect_targets(REGISTRY_ONLY, WWW_SE, TLS_VS)
    assert targets["*.wikipedia.org:443"] == "connect_443"
    assert targets["*"] == "connect_BlackHoleCluster"


def test_without_the_tls_rule_the_wildcard_stays_blocked() -> None:
    """The same mesh without the VirtualService: only www.wikipedia.org:443 enters the tunnel listener."""
    targets = _connect_targets(REGISTRY_ONLY, WWW_SE)
    assert "*.wikipedia.org:443" not in targets and targets["www.wikipedia.org:443"] == "connect_443"


def test_a_service_vhost_keeps_its_domain() -> None:
    """The wildcard ServiceEntry's own vhost has *.wikipedia.org:443; no second vhost repeats the domain."""
    routes = translate(sidecar(), bookinfo(WILDCARD_SE, TLS_VS, mesh=REGISTRY_ONLY)).routes["http_proxy"]
    domains = [d for v in routes["virtual_hosts"] for d in v["domains"]]
    assert domains.count("*.wikipedia.org:443") == 1


def test_allow_any_sends_unknown_hosts_through_the_passthrough_listener() -> None:
    """ALLOW_ANY: CONNECT to an unknown host enters connect_PassthroughCluster with the CONNECT target in
    the filter state (set only on that route); REGISTRY_ONLY blackholes it and sets nothing."""
    res = translate(sidecar(), bookinfo())
    catch_all = res.routes["http_proxy"]["virtual_hosts"][-1]["routes"][0]
    assert catch_all["route"]["cluster"] == "connect_PassthroughCluster"
    state = catch_all["typed_per_filter_config"]["envoy.filters.http.set_filter_state"]["config"]
    assert state["on_request_headers"][0]["object_key"] == "envoy.upstream.dynamic_host"
    hcm = res.listeners["127.0.0.1_15080"]["filter_chains"][0]["filters"][0]["typed_config"]
    setter = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.set_filter_state"]
    assert setter and setter[0]["disabled"] is True  # off for every other route
    assert "connect_PassthroughCluster" in res.listeners and "connect_PassthroughCluster" in res.clusters
    blocked = translate(sidecar(), bookinfo(mesh=REGISTRY_ONLY))
    assert _connect_targets(REGISTRY_ONLY)["*"] == "connect_BlackHoleCluster"
    assert "connect_PassthroughCluster" not in blocked.listeners
