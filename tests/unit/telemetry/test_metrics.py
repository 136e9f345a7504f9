"""Istio standard metrics from access-log entries: labels, Prometheus text, histograms, TCP counters."""

from __future__ import annotations

import re

from telemetry_fixtures import GATEWAY, PP_ADDR, PRODUCTPAGE, REVIEWS, REVIEWS_V1, V1_ADDR, V3_ADDR

from mizzen.telemetry.entries import http_entry, tcp_entry
from mizzen.telemetry.metrics import Telemetry

OUT_V1 = f"outbound|9080|v1|{REVIEWS}"
OUT_V3 = f"outbound|9080|v3|{REVIEWS}"


def _series(text: str, name: str, **labels: str) -> list[float]:
    """Values of every sample of ``name`` whose labels include ``labels``."""
    values = []
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1).split(",") for k, v in labels.items()):
            values.append(float(m.group(2)))
    return values


def test_outbound_entry_is_reported_by_source_with_workloads_from_node_and_endpoint(telemetry: Telemetry) -> None:
    """An outbound entry names the logging node as source and the upstream host's workload as destination."""
    facts = telemetry.record_http(
        http_entry("outbound", cluster=OUT_V3, upstream=V3_ADDR, authority="reviews:9080"), PRODUCTPAGE
    )
    assert facts.reporter == "source"
    assert (facts.source.workload, facts.source.app, facts.source.version) == ("productpage-v1", "productpage", "v1")
    assert (facts.destination.workload, facts.destination.version) == ("reviews-v3", "v3")
    assert (facts.service.hostname, facts.service.name, facts.service.namespace) == (REVIEWS, "reviews", "default")
    assert facts.security_policy == "unknown"


def test_inbound_entry_uses_peer_header_for_source_and_listener_address_for_service(telemetry: Telemetry) -> None:
    """An inbound entry is reported by destination; the source comes from the peer-id header."""
    telemetry.observe_node(PRODUCTPAGE)
    entry = http_entry("inbound", cluster="inbound|9080||", local=V1_ADDR, authority="reviews:9080", peer=PRODUCTPAGE)
    facts = telemetry.record_http(entry, REVIEWS_V1)
    assert facts.reporter == "destination"
    assert (facts.source.workload, facts.source.version) == ("productpage-v1", "v1")
    assert (facts.destination.workload, facts.destination.version) == ("reviews-v1", "v1")
    assert facts.service.hostname == REVIEWS
    assert facts.security_policy == "none"


def test_inbound_without_peer_header_has_unknown_source(telemetry: Telemetry) -> None:
    """A caller outside the mesh shows up as source_workload unknown."""
    facts = telemetry.record_http(http_entry("inbound", local=V1_ADDR), REVIEWS_V1)
    assert facts.source.workload == "unknown"


def test_prometheus_text_counts_requests_per_destination_version(telemetry: Telemetry) -> None:
    """istio_requests_total splits by destination_version and counts every request."""
    for i in range(10):
        cluster, addr = (OUT_V1, V1_ADDR) if i % 2 else (OUT_V3, V3_ADDR)
        telemetry.record_http(http_entry("outbound", cluster=cluster, upstream=addr), PRODUCTPAGE)
    text = telemetry.prometheus_text()
    assert "# TYPE istio_requests_total counter" in text
    common = {
        "reporter": "source",
        "source_workload": "productpage-v1",
        "destination_service": REVIEWS,
        "response_code": "200",
        "response_flags": "-",
    }
    assert _series(text, "istio_requests_total", destination_version="v1", **common) == [5]
    assert _series(text, "istio_requests_total", destination_version="v3", **common) == [5]


def test_fault_injected_abort_has_code_and_fi_flag(telemetry: Telemetry) -> None:
    """An aborted request is labelled response_code 500 and response_flags FI."""
    telemetry.record_http(
        http_entry("outbound", cluster=f"outbound|9080||{REVIEWS}", code=500, flags=("fault_injected",)), PRODUCTPAGE
    )
    text = telemetry.prometheus_text()
    assert _series(
        text, "istio_requests_total", response_code="500", response_flags="FI", destination_workload="unknown"
    ) == [1]


def test_several_flags_are_joined_in_envoy_order(telemetry: Telemetry) -> None:
    """UF and URX together print as UF,URX like %RESPONSE_FLAGS%."""
    facts = telemetry.record_http(
        http_entry(
            "outbound", cluster=OUT_V1, code=503, flags=("upstream_retry_limit_exceeded", "upstream_connection_failure")
        ),
        PRODUCTPAGE,
    )
    assert facts.response_flags == "UF,URX"


def test_duration_histogram_is_cumulative_with_istio_buckets(telemetry: Telemetry) -> None:
    """Durations land in Istio's buckets; _bucket is cumulative, _sum and _count add up."""
    for ms in (3, 7, 7, 40):
        telemetry.record_http(http_entry("outbound", cluster=OUT_V1, upstream=V1_ADDR, duration_ms=ms), PRODUCTPAGE)
    text = telemetry.prometheus_text()
    name = "istio_request_duration_milliseconds"
    assert _series(text, f"{name}_bucket", le="1") == [0]
    assert _series(text, f"{name}_bucket", le="5") == [1]
    assert _series(text, f"{name}_bucket", le="10") == [3]
    assert _series(text, f"{name}_bucket", le="50") == [4]
    assert _series(text, f"{name}_bucket", le="+Inf") == [4]
    assert _series(text, f"{name}_sum") == [57]
    assert _series(text, f"{name}_count") == [4]


def test_request_and_response_bytes_histograms(telemetry: Telemetry) -> None:
    """Body sizes are observed in istio_request_bytes and istio_response_bytes."""
    telemetry.record_http(http_entry("outbound", cluster=OUT_V1, request_bytes=20, response_bytes=3000), PRODUCTPAGE)
    text = telemetry.prometheus_text()
    assert _series(text, "istio_request_bytes_sum") == [20]
    assert _series(text, "istio_response_bytes_bucket", le="2500") == [0]
    assert _series(text, "istio_response_bytes_bucket", le="5000") == [1]


def test_grpc_content_type_sets_request_protocol(telemetry: Telemetry) -> None:
    """A request with content-type application/grpc is request_protocol grpc."""
    facts = telemetry.record_http(
        http_entry("outbound", cluster=OUT_V1, headers={"content-type": "application/grpc"}), PRODUCTPAGE
    )
    assert facts.protocol == "grpc"


def test_gateway_entry_names_gateway_as_source(telemetry: Telemetry) -> None:
    """Gateway traffic is reported by source with the gateway's workload and app."""
    facts = telemetry.record_http(
        http_entry("gateway", cluster="outbound|9080||productpage.default.svc.cluster.local", upstream=PP_ADDR), GATEWAY
    )
    assert facts.reporter == "source"
    assert (facts.source.workload, facts.source.namespace, facts.source.kind) == (
        "istio-ingressgateway",
        "istio-system",
        "gateway",
    )
    assert facts.destination.workload == "productpage-v1"


def test_no_route_has_nr_flag_and_service_from_authority(telemetry: Telemetry) -> None:
    """A 404 with NR and no cluster takes the destination service from the authority."""
    facts = telemetry.record_http(
        http_entry("gateway", code=404, flags=("no_route_found",), authority="unknown.example.com:8080"), GATEWAY
    )
    assert facts.response_flags == "NR"
    assert facts.service.hostname == "unknown.example.com"


def test_label_values_are_escaped(telemetry: Telemetry) -> None:
    """Quotes in a label value are escaped in the exposition."""
    telemetry.record_http(http_entry("outbound", cluster="PassthroughCluster", authority='a"b'), PRODUCTPAGE)
    assert 'destination_service="a\\"b"' in telemetry.prometheus_text()


def test_tcp_connection_counters_and_byte_growth(telemetry: Telemetry) -> None:
    """Connect, periodic and end entries give one open, one close and the total bytes once."""
    cluster = "outbound|3306||mysql.default.svc.cluster.local"
    telemetry.record_tcp(tcp_entry("outbound", cluster=cluster, kind="TcpUpstreamConnected"), PRODUCTPAGE)
    telemetry.record_tcp(tcp_entry("outbound", cluster=cluster, kind="TcpPeriodic", received=100, sent=10), PRODUCTPAGE)
    telemetry.record_tcp(
        tcp_entry("outbound", cluster=cluster, kind="TcpConnectionEnd", received=150, sent=40), PRODUCTPAGE
    )
    text = telemetry.prometheus_text()
    assert _series(text, "istio_tcp_connections_opened_total", request_protocol="tcp") == [1]
    assert _series(text, "istio_tcp_connections_closed_total") == [1]
    assert _series(text, "istio_tcp_received_bytes_total") == [150]
    assert _series(text, "istio_tcp_sent_bytes_total") == [40]
    assert "response_code" not in "".join(ln for ln in text.splitlines() if ln.startswith("istio_tcp"))


def test_tcp_end_without_connect_entry_counts_open_and_close(telemetry: Telemetry) -> None:
    """A lone end entry (no flush-on-connect) still counts the connection as opened and closed."""
    telemetry.record_tcp(
        tcp_entry("outbound", cluster="outbound|3306||db.default.svc.cluster.local", received=5), PRODUCTPAGE
    )
    text = telemetry.prometheus_text()
    assert _series(text, "istio_tcp_connections_opened_total") == [1]
    assert _series(text, "istio_tcp_connections_closed_total") == [1]


def test_series_cardinality_is_bounded() -> None:
    """Past max_series, new label sets are dropped instead of growing memory."""
    telemetry = Telemetry(max_series=3)
    for i in range(10):
        telemetry.record_http(
            http_entry("outbound", cluster="PassthroughCluster", authority=f"h{i}.example"), PRODUCTPAGE
        )
    assert len(_series(telemetry.prometheus_text(), "istio_requests_total")) == 3
    assert telemetry.requests.dropped == 7
    assert 'mizzen_telemetry_series_dropped_total{metric="istio_requests_total"} 7' in telemetry.prometheus_text()


def test_empty_telemetry_renders_nothing() -> None:
    """With no traffic there are no series and no stray HELP lines."""
    assert Telemetry().prometheus_text() == ""


def test_abort_without_cluster_resolves_short_authority_in_client_namespace(telemetry: Telemetry) -> None:
    """A fault abort has no upstream cluster; 'reviews:9080' from namespace default is reviews.default..."""
    facts = telemetry.record_http(
        http_entry("outbound", code=500, flags=("fault_injected",), authority="reviews:9080"), PRODUCTPAGE
    )
    assert facts.service.hostname == REVIEWS and facts.service.namespace == "default"
