"""The dashboard views: mesh graph edges, per-version shares, windows and per-service series."""

from __future__ import annotations

from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry
from telemetry_fixtures import GATEWAY, PP, PP_ADDR, PRODUCTPAGE, REVIEWS, REVIEWS_V1, V1_ADDR, V3_ADDR, Clock

from mizzen.telemetry.entries import http_entry
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.series import LATENCY_BOUNDS, percentile


def _drive(telemetry: Telemetry, n: int) -> None:
    """n gateway->productpage requests, each fanning out to reviews v1 or v3 alternately."""
    for i in range(n):
        telemetry.record_http(
            http_entry("gateway", cluster=f"outbound|9080||{PP}", upstream=PP_ADDR, duration_ms=30), GATEWAY
        )
        cluster, addr = (f"outbound|9080|v1|{REVIEWS}", V1_ADDR) if i % 2 else (f"outbound|9080|v3|{REVIEWS}", V3_ADDR)
        telemetry.record_http(
            http_entry("outbound", cluster=cluster, upstream=addr, duration_ms=10 + i % 5), PRODUCTPAGE
        )


def _edge(graph: dict[str, object], source: str, target: str) -> dict[str, object]:
    edges = graph["edges"]
    assert isinstance(edges, list)
    return next(e for e in edges if e["source"] == source and e["target"] == target)


def test_graph_has_gateway_service_and_version_nodes(telemetry: Telemetry) -> None:
    """Nodes: the gateway, productpage and reviews services, and each workload version that served."""
    _drive(telemetry, 10)
    nodes = {n["id"]: n for n in telemetry.graph(60)["nodes"]}  # type: ignore[attr-defined]
    assert nodes["gateway:istio-ingressgateway.istio-system"]["type"] == "gateway"
    assert nodes[f"service:{REVIEWS}"]["label"] == "reviews"
    assert nodes["workload:reviews-v3.default"]["label"] == "reviews v3"
    assert nodes["workload:productpage-v1.default"]["version"] == "v1"


def test_canary_shares_split_evenly_between_versions(telemetry: Telemetry) -> None:
    """A 50/50 split shows share 0.5 on each service->version edge."""
    _drive(telemetry, 100)
    graph = telemetry.graph(60)
    v1 = _edge(graph, f"service:{REVIEWS}", "workload:reviews-v1.default")
    v3 = _edge(graph, f"service:{REVIEWS}", "workload:reviews-v3.default")
    assert (v1["share"], v3["share"]) == (0.5, 0.5)
    assert v1["requests"] == 50


def test_edge_rate_errors_and_latency(telemetry: Telemetry) -> None:
    """Edges carry rps over the window, error rate from 5xx, and latency percentiles."""
    _drive(telemetry, 60)
    telemetry.record_http(
        http_entry("outbound", cluster=f"outbound|9080||{REVIEWS}", code=500, flags=("fault_injected",)), PRODUCTPAGE
    )
    edge = _edge(telemetry.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")
    assert edge["requests"] == 61 and edge["rps"] == round(61 / 60, 3)
    assert edge["errorRate"] == round(1 / 61, 4)
    assert 9 <= edge["p50"] <= 14 and edge["p99"] <= 16  # type: ignore[operator]


def test_old_traffic_leaves_the_window_but_edges_stay(telemetry: Telemetry, clock: Clock) -> None:
    """After the window passes, edges remain (stable layout) with zero rate."""
    _drive(telemetry, 4)
    clock.now += 120
    edge = _edge(telemetry.graph(60), "gateway:istio-ingressgateway.istio-system", f"service:{PP}")
    assert edge["requests"] == 0 and edge["rps"] == 0


def test_inbound_entries_from_mesh_peers_are_not_double_counted(telemetry: Telemetry) -> None:
    """The server-side entry of a hop already counted by its client does not add to the graph."""
    _drive(telemetry, 2)
    telemetry.record_http(http_entry("inbound", local=V1_ADDR, authority="reviews:9080", peer=PRODUCTPAGE), REVIEWS_V1)
    edge = _edge(telemetry.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")
    assert edge["requests"] == 2


def test_service_series_by_short_name(telemetry: Telemetry, clock: Clock) -> None:
    """service_series('reviews') finds the service and gives per-step points and per-version rates."""
    _drive(telemetry, 10)
    clock.now += 5
    _drive(telemetry, 10)
    series = telemetry.service_series("reviews", 60)
    assert series["found"] is True and series["service"] == REVIEWS
    points = series["points"]
    assert isinstance(points, list) and len(points) == 12
    assert sum(p["requests"] for p in points) == 20
    assert set(series["versions"]) == {"v1", "v3"}


def test_unknown_service_series_is_empty(telemetry: Telemetry) -> None:
    """An unknown service name gives found false and zero-traffic points."""
    series = telemetry.service_series("nope", 30)
    assert series["found"] is False


def test_percentile_interpolates_within_bins() -> None:
    """Percentiles of binned latencies are within a bin width of the true value."""
    import bisect

    bins: dict[int, int] = {}
    for ms in range(1, 101):
        i = bisect.bisect_left(LATENCY_BOUNDS, float(ms))
        bins[i] = bins.get(i, 0) + 1
    p50, p99 = percentile(bins, 0.5), percentile(bins, 0.99)
    assert p50 is not None and 44 <= p50 <= 56
    assert p99 is not None and 90 <= p99 <= 115
    assert percentile({}, 0.5) is None


def test_nodes_of_vanished_workloads_leave_after_retention(telemetry: Telemetry, clock: Clock) -> None:
    """Once a workload's traffic is older than the retention, its node and edges disappear."""
    _drive(telemetry, 4)
    clock.now += telemetry.series.retention_s + 60
    graph = telemetry.graph(60)
    assert graph["nodes"] == [] and graph["edges"] == []


def test_tcp_hops_are_drawn_once_from_the_client_side(telemetry: Telemetry) -> None:
    """A TCP connection logged by client and server sidecars is one connection on the graph."""
    from mizzen.telemetry.entries import tcp_entry

    cluster = f"outbound|9080||{REVIEWS}"
    telemetry.record_tcp(tcp_entry("outbound", cluster=cluster, upstream=V1_ADDR), PRODUCTPAGE)
    telemetry.record_tcp(tcp_entry("inbound", cluster="inbound|9080||"), REVIEWS_V1)
    edges = telemetry.graph(60)["edges"]
    assert isinstance(edges, list)
    assert sum(e["requests"] for e in edges if e["target"] == f"service:{REVIEWS}") == 1
    assert all(e["protocol"] == "tcp" for e in edges)


def _inbound(peer_spiffe: str | None, code: int = 200, details: str = "via_upstream") -> HTTPAccessLogEntry:
    entry = http_entry("inbound", local=V1_ADDR, authority="reviews:9080", peer=PRODUCTPAGE, code=code)
    entry.response.response_code_details = details
    if peer_spiffe is not None:
        tls = entry.common_properties.tls_properties
        tls.peer_certificate_properties.subject_alt_name.add().uri = peer_spiffe
        tls.local_certificate_properties.subject_alt_name.add().uri = "spiffe://cluster.local/ns/default/sa/reviews"
    return entry


def test_edges_say_whether_the_server_saw_mtls(telemetry: Telemetry) -> None:
    """The client-side edge is marked mutual_tls when the server's entries carry a peer certificate,
    none for plaintext, mixed for both; without server entries it stays unknown (None)."""
    _drive(telemetry, 2)
    edge = _edge(telemetry.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")
    assert edge["security"] is None
    telemetry.record_http(_inbound("spiffe://cluster.local/ns/default/sa/bookinfo-productpage"), REVIEWS_V1)
    edge = _edge(telemetry.graph(60), f"service:{REVIEWS}", "workload:reviews-v1.default")
    assert edge["security"] == "mutual_tls" and edge["requests"] == 1  # counted once, from the client
    telemetry.record_http(_inbound(None), REVIEWS_V1)
    assert _edge(telemetry.graph(60), f"service:{REVIEWS}", "workload:reviews-v1.default")["security"] == "mixed"


def test_edges_count_requests_denied_by_authorization(telemetry: Telemetry) -> None:
    """A server entry with Envoy's rbac_access_denied details counts as denied on the hop's edges; a
    plain 403 from the app does not."""
    _drive(telemetry, 2)
    denied = "rbac_access_denied_matched_policy[none]"
    telemetry.record_http(_inbound("spiffe://cluster.local/ns/x/sa/y", 403, denied), REVIEWS_V1)
    telemetry.record_http(_inbound("spiffe://cluster.local/ns/x/sa/y", 403), REVIEWS_V1)
    graph = telemetry.graph(60)
    assert _edge(graph, "workload:productpage-v1.default", f"service:{REVIEWS}")["denied"] == 1
    assert _edge(graph, f"service:{REVIEWS}", "workload:reviews-v1.default")["denied"] == 1
