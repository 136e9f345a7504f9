"""meshstats: reading Envoy's Prometheus text of the stats access logger into Istio's series (pure)."""

from __future__ import annotations

import math

from mizzen import meshstats
from mizzen.meshstats import HTTP_LABELS, TCP_LABELS, read, render

CLIENT = (
    'envoy_istio_requests_total{reporter="source",source_workload="productpage-v1",'
    'source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",'
    'destination_workload="reviews-v2",destination_workload_namespace="default",'
    'destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews,spiffe://x/y",'
    'destination_service="reviews.default.svc.cluster.local",destination_service_name="reviews",'
    'destination_service_namespace="default",mz_content_type="{ct}",mz_authority="reviews:9080",'
    'response_code="200",grpc_response_status="-",response_flags="-",connection_security_policy="unknown"}} {n}'
)


def _client(ct: str, n: int) -> str:
    return CLIENT.replace("{ct}", ct).replace("{n}", str(n)).replace("}}", "}")


def test_client_series_are_fixed_up_and_equal_series_added() -> None:
    text = "\n".join(["# TYPE envoy_istio_requests_total counter", _client("", 3), _client("text/html; chars", 2)])
    reading = read(text)
    assert len(reading.counters) == 1
    ((key, value),) = reading.counters.items()
    labels = key.label_map()
    assert value == 5
    assert labels["request_protocol"] == "http"
    assert labels["destination_principal"] == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert labels["source_app"] == "unknown"  # absent tag
    assert labels["grpc_response_status"] == ""
    assert labels["connection_security_policy"] == "unknown"
    assert key.authority == ""  # the service is known


def test_grpc_content_type() -> None:
    (key,) = read(_client("application/grpc", 1)).counters
    assert key.label_map()["request_protocol"] == "grpc"


def test_server_side_peer_tag_principal_and_denial() -> None:
    line = (
        'envoy_istio_requests_total{reporter="destination",mz_peer="productpage-v1;default;productpage;v1;'
        'productpage;v1;Kubernetes",source_principal="spiffe://cluster.local/ns/default/sa/pp",'
        'destination_workload="reviews-v1",mz_details="rbac_access_denied_matched_policy[none]",'
        'response_code="403",response_flags="-"} 4'
    )
    (key,) = read(line).counters
    labels = key.label_map()
    assert labels["source_workload"] == "productpage-v1"
    assert labels["source_version"] == "v1"
    assert labels["source_cluster"] == "Kubernetes"
    assert labels["connection_security_policy"] == "mutual_tls"
    assert key.denied
    plaintext = line.replace('source_principal="spiffe://cluster.local/ns/default/sa/pp"', 'source_principal=""')
    (key2,) = read(plaintext.replace("mz_peer=", "x=")).counters
    assert key2.label_map()["connection_security_policy"] == "none"
    assert key2.label_map()["source_workload"] == "unknown"


def test_no_cluster_keeps_the_authority_as_service() -> None:
    line = (
        'envoy_istio_requests_total{reporter="source",destination_service="",'
        'mz_authority="ratings:9080",response_code="503"} 1'
    )
    (key,) = read(line).counters
    assert key.label_map()["destination_service"] == "ratings"
    assert key.authority == "ratings:9080"


def test_histogram_buckets_and_render_round_trip() -> None:
    tags = 'reporter="source",response_code="200"'
    lines = [
        f'envoy_istio_request_duration_milliseconds_bucket{{{tags},le="{le}"}} {n}'
        for le, n in (("0.5", 0), ("1", 2), ("+Inf", 3))
    ]
    lines += [
        f"envoy_istio_request_duration_milliseconds_sum{{{tags}}} 7.5",
        f"envoy_istio_request_duration_milliseconds_count{{{tags}}} 3",
    ]
    reading = read("\n".join(lines) + '\nenvoy_cluster_upstream_rq_total{envoy_cluster_name="x"} 9\n')
    ((key, hist),) = reading.histograms.items()
    assert key.metric == "istio_request_duration_milliseconds"
    assert hist.bounds == (0.5, 1.0, math.inf) and hist.counts == [0, 2, 3] and hist.total == 3 and hist.sum == 7.5
    assert reading.counters == {}
    text = render([reading, reading])
    assert 'istio_request_duration_milliseconds_bucket{reporter="source",' in text
    assert 'le="+Inf"} 6' in text and "istio_request_duration_milliseconds_count{" in text
    again = read("\n".join("envoy_" + line for line in text.splitlines() if not line.startswith("#")))
    assert next(iter(again.histograms.values())).counts == [0, 4, 6]


def test_tcp_labels_have_no_response_code() -> None:
    line = 'envoy_istio_tcp_connections_opened_total{reporter="source",request_protocol="tcp",response_flags="-"} 2'
    (key,) = read(line).counters
    assert len(key.labels) == len(TCP_LABELS) and "response_code" not in key.label_map()
    assert key.label_map()["request_protocol"] == "tcp"
    assert len(HTTP_LABELS) == len(TCP_LABELS) + 2


def test_escaped_values_and_series_limit() -> None:
    lines = [
        f'envoy_istio_requests_total{{reporter="source",mz_authority="a\\"{i}",destination_service=""}} 1'
        for i in range(5)
    ]
    reading = read("\n".join(lines), max_series=3)
    assert len(reading.counters) == 3 and reading.dropped == 2
    assert {k.label_map()["destination_service"] for k in reading.counters} == {'a"0', 'a"1', 'a"2'}


def test_peer_header_value() -> None:
    value = meshstats.peer_header_value({"workload": "a", "namespace": "b", "app": "c;d"})
    assert value == "a;b;c_d;unknown;unknown;unknown;unknown"


def test_canonical_names_follow_istios_label_precedence() -> None:
    """Canonical service: canonical-name, then app.kubernetes.io/name, then app, then the workload name;
    revision: canonical-revision, then app.kubernetes.io/version, then version, then "latest"."""
    labels = {"app": "a", "app.kubernetes.io/name": "k8s-name", "version": "v1", "app.kubernetes.io/version": "2"}
    assert meshstats.canonical_service(labels, "w") == "k8s-name"
    assert meshstats.canonical_revision(labels) == "2"
    assert meshstats.canonical_service({"app": "a"}, "w") == "a"
    assert (meshstats.canonical_service({}, "w"), meshstats.canonical_revision({})) == ("w", "latest")
    fields = meshstats.peer_fields("w", "ns", {"app": "a", "version": "v1"})
    assert meshstats.peer_header_value(fields) == "w;ns;a;v1;a;v1;Kubernetes"
    assert meshstats.stat_name("istio_requests_total") == "requests_total"
