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


def test_allow_any_passes_unknown_tls_port_tunnels_through_the_tunnel_listener() -> None:
    """ALLOW_ANY: CONNECT to any host on a TLS port in scope (*:443) enters connect_443, whose default
    chain passes through by SNI; REGISTRY_ONLY has no such vhost (the catch-all blackholes)."""
    assert _connect_targets(None, WILDCARD_SE)["*:443"] == "connect_443"
    assert "*:443" not in _connect_targets(REGISTRY_ONLY, WILDCARD_SE)
    assert not any(d.startswith("*:") for d in _connect_targets(None))  # no TLS port in scope: none
