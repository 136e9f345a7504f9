"""DestinationRule traffic policy (issue 4 item 3) on clusters and routes."""

from __future__ import annotations

from typing import Any

from translate_fixtures import PROXY_PORT, bookinfo, sidecar

from mizzen.testing.simulation import simulate
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot

REVIEWS = "reviews.default.svc.cluster.local"


def dr(spec: str, name: str = "reviews") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: default}}
spec:
  host: reviews
{spec}"""


def clusters(mesh: MeshSnapshot) -> dict[str, Any]:
    return dict(translate(sidecar(), mesh).clusters)


def test_simple_load_balancers() -> None:
    """loadBalancer.simple maps to lb_policy; default is LEAST_REQUEST; subset policy overrides."""
    m = bookinfo(
        dr("""  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
  - {name: v2, labels: {version: v2}}
""")
    )
    c = clusters(m)
    assert c[f"outbound|9080||{REVIEWS}"]["lb_policy"] == "ROUND_ROBIN"
    assert c[f"outbound|9080|v1|{REVIEWS}"]["lb_policy"] == "RANDOM"
    assert c[f"outbound|9080|v2|{REVIEWS}"]["lb_policy"] == "ROUND_ROBIN"
    assert c["outbound|9080||ratings.default.svc.cluster.local"]["lb_policy"] == "LEAST_REQUEST"


def test_consistent_hash_cluster_and_route_hash_policy() -> None:
    """consistentHash -> RING_HASH cluster and a route hash_policy; retries drop previous_hosts."""
    m = bookinfo(
        dr("""  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 2048}}}
""")
    )
    c = clusters(m)[f"outbound|9080||{REVIEWS}"]
    assert c["lb_policy"] == "RING_HASH" and c["ring_hash_lb_config"] == {"minimum_ring_size": 2048}
    r = simulate(translate(sidecar(), m), listener_port=PROXY_PORT, host="reviews:9080")
    assert r.route["route"]["hash_policy"] == [{"header": {"header_name": "x-user"}}]
    assert r.retry_policy is not None and "retry_host_predicate" not in r.retry_policy


def test_hash_keys_cookie_source_ip_query_and_maglev() -> None:
    """Cookie (with ttl), source IP and query parameter keys; maglev table size."""
    from mizzen.config.models.destination_rule import LoadBalancerSettings
    from mizzen.config.schema import build
    from mizzen.translate.policies.traffic import hash_policy

    def lb(raw: dict[str, object]) -> LoadBalancerSettings:
        settings: LoadBalancerSettings = build(LoadBalancerSettings, raw)
        return settings

    assert hash_policy(lb({"consistentHash": {"httpCookie": {"name": "u", "ttl": "10s"}}})) == [
        {"cookie": {"name": "u", "ttl": "10s"}}
    ]
    assert hash_policy(lb({"consistentHash": {"useSourceIp": True}})) == [
        {"connection_properties": {"source_ip": True}}
    ]
    assert hash_policy(lb({"consistentHash": {"httpQueryParameterName": "q"}})) == [{"query_parameter": {"name": "q"}}]
    maglev = "{consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}"
    m = bookinfo(dr(f"  trafficPolicy: {{loadBalancer: {maglev}}}\n"))
    c = clusters(m)[f"outbound|9080||{REVIEWS}"]
    assert (c["lb_policy"], c["maglev_lb_config"]) == ("MAGLEV", {"table_size": 65537})


def test_circuit_breaking_connection_pool() -> None:
    """Istio's circuit-breaking task: maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1."""
    m = bookinfo(
        dr("""  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1, connectTimeout: 2s}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1, idleTimeout: 30s}
""")
    )
    c = clusters(m)[f"outbound|9080||{REVIEWS}"]
    t = c["circuit_breakers"]["thresholds"][0]
    assert (t["max_connections"], t["max_pending_requests"], t["max_requests"]) == (1, 1, 4294967295)
    assert c["connect_timeout"] == "2s"
    opts = c["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert opts["common_http_protocol_options"] == {"idle_timeout": "30s", "max_requests_per_connection": 1}


def test_outlier_detection() -> None:
    """outlierDetection -> outlier_detection with 100% enforcement and panic threshold from minHealthPercent."""
    m = bookinfo(
        dr("""  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}
""")
    )
    c = clusters(m)[f"outbound|9080||{REVIEWS}"]
    assert c["outlier_detection"] == {
        "consecutive_5xx": 1,
        "enforcing_consecutive_5xx": 100,
        "interval": "1s",
        "base_ejection_time": "180s",
        "max_ejection_percent": 100,
        "enforcing_success_rate": 0,
    }
    assert c["common_lb_config"] == {"healthy_panic_threshold": {"value": 0.0}}


def test_port_level_settings_override() -> None:
    """portLevelSettings for the port replace the top-level block."""
    m = bookinfo(
        dr("""  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: ROUND_ROBIN}
""")
    )
    assert clusters(m)[f"outbound|9080||{REVIEWS}"]["lb_policy"] == "ROUND_ROBIN"


def test_several_rules_merge_subsets_first_policy_wins() -> None:
    """Two DRs for one host: subsets unioned (first name wins), the first trafficPolicy applies."""
    m = bookinfo(
        dr("""  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets: [{name: v1, labels: {version: v1}}]
"""),
        dr(
            """  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets: [{name: v1, labels: {version: v3}}, {name: v2, labels: {version: v2}}]
""",
            name="reviews-more",
        ),
    )
    c = clusters(m)
    assert {f"outbound|9080|v1|{REVIEWS}", f"outbound|9080|v2|{REVIEWS}"} <= set(c)
    assert c[f"outbound|9080|v2|{REVIEWS}"]["lb_policy"] == "RANDOM"
    eps = translate(sidecar(), m).endpoints[f"outbound|9080|v1|{REVIEWS}"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in eps] == [20004]


def test_tls_simple_origination() -> None:
    """tls SIMPLE puts an UpstreamTlsContext with the SNI on the cluster."""
    m = bookinfo(dr("  trafficPolicy: {tls: {mode: SIMPLE, sni: reviews.example}}\n"))
    socket = clusters(m)[f"outbound|9080||{REVIEWS}"]["transport_socket"]
    assert socket["typed_config"]["sni"] == "reviews.example"


def test_h2_upstream_for_grpc_ports() -> None:
    """Ports declared GRPC/HTTP2 get http2_protocol_options on their clusters."""
    svc = """apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 7070}]
"""
    c = clusters(bookinfo(svc))["outbound|7070||echo.default.svc.cluster.local"]
    opts = c["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert opts["explicit_http_config"] == {"http2_protocol_options": {}}


def test_own_service_connection_pool_guards_inbound_cluster() -> None:
    """The DR connectionPool of the proxy's own service also limits its inbound cluster (Istio)."""
    m = bookinfo(dr("  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}\n"))
    reviews = translate(sidecar("reviews-v1", "reviews"), m).clusters["inbound|9080||"]
    assert reviews["circuit_breakers"]["thresholds"][0]["max_connections"] == 7
    other = translate(sidecar(), m).clusters["inbound|9080||"]
    assert other["circuit_breakers"]["thresholds"][0]["max_connections"] == 4294967295


def test_subset_consistent_hash_applies_to_routes_to_that_subset() -> None:
    """A subset-level consistentHash gives routes to that subset a hash policy; other routes none."""
    m = bookinfo(
        dr("""  subsets:
  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: u}}}}
  - {name: v2, labels: {version: v2}}
"""),
        """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /two}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
""",
    )
    res = translate(sidecar(), m)
    assert simulate(res, listener_port=PROXY_PORT, host="reviews:9080").route["route"]["hash_policy"] == [
        {"header": {"header_name": "u"}}
    ]
    assert "hash_policy" not in simulate(res, listener_port=PROXY_PORT, host="reviews:9080", path="/two").route["route"]
