"""Istio's metrics and the live graph from scraped Envoy stats: deltas, full labels, each hop once, one source."""

from __future__ import annotations

import re

from scrape_fixtures import REVIEWS, SPIFFE_PP, client, histogram, key, reading, server, tcp
from telemetry_fixtures import GATEWAY, PRODUCTPAGE, REVIEWS_V1, Clock, bookinfo_registry

from mizzen import meshstats
from mizzen.telemetry.entries import http_entry
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.series import percentile

OUT_V1 = f"outbound|9080|v1|{REVIEWS}"


def _scraping(clock: Clock, **kwargs: object) -> Telemetry:
    registry = bookinfo_registry()
    return Telemetry(lambda: registry, clock=clock, counting="scrape", **kwargs)  # type: ignore[arg-type]


def _samples(text: str, name: str, **labels: str) -> list[float]:
    values = []
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1).split(",") for k, v in labels.items()):
            values.append(float(m.group(2)))
    return values


def _edge(graph: dict[str, object], source: str, target: str) -> dict[str, object]:
    edges = graph["edges"]
    assert isinstance(edges, list)
    return next(e for e in edges if e["source"] == source and e["target"] == target)


def test_scraped_deltas_add_up_to_the_proxies_totals(clock: Clock) -> None:
    """Three scrapes of one proxy give its latest cumulative value, not the sum of the readings."""
    t = _scraping(clock)
    for total in (3, 5, 9):
        t.record_reading(PRODUCTPAGE, reading({key(**client()): total}))
    assert _samples(t.prometheus_text(), "istio_requests_total", reporter="source") == [9]


def test_totals_survive_a_restart_and_a_disconnect(clock: Clock) -> None:
    """An Envoy restart (its counter back near zero) adds the new value; a proxy dropped after its grace
    period keeps what it contributed to the control plane's totals."""
    t = _scraping(clock, grace_s=10)
    ok = key(**client())
    t.record_reading(PRODUCTPAGE, reading({ok: 10}))
    t.record_reading(PRODUCTPAGE, reading({ok: 2}))  # restarted, two new requests since
    assert _samples(t.prometheus_text(), "istio_requests_total") == [12]
    t.forget_missing(set())
    clock.now += 11
    assert t.forget_missing(set()) == [PRODUCTPAGE.id]
    assert _samples(t.prometheus_text(), "istio_requests_total") == [12]
    t.record_reading(PRODUCTPAGE, reading({ok: 1}))  # a new Envoy of the same workload
    assert _samples(t.prometheus_text(), "istio_requests_total") == [13]


def test_metrics_carry_istios_full_label_set(clock: Clock) -> None:
    """The families are named as Istio's and labelled with meshstats.HTTP_LABELS (canonical service,
    cluster, grpc_response_status included), in that order."""
    t = _scraping(clock)
    t.record_reading(PRODUCTPAGE, reading({key(**client(destination_canonical_service="reviews")): 1}))
    line = next(x for x in t.prometheus_text().splitlines() if x.startswith("istio_requests_total{"))
    names = re.findall(r'(\w+)="', line)
    assert tuple(names) == meshstats.HTTP_LABELS
    assert 'destination_canonical_service="reviews"' in line


def test_histogram_deltas_land_in_istios_buckets(clock: Clock) -> None:
    """Bucket deltas go to the same buckets; sum and count are the deltas too."""
    t = _scraping(clock)
    dur = key("istio_request_duration_milliseconds", **client())
    t.record_reading(PRODUCTPAGE, reading({}, {dur: histogram(3, 40)}))
    t.record_reading(PRODUCTPAGE, reading({}, {dur: histogram(3, 40, 7, 700)}))
    text = t.prometheus_text()
    name = "istio_request_duration_milliseconds"
    assert _samples(text, f"{name}_bucket", le="5") == [1]
    assert _samples(text, f"{name}_bucket", le="10") == [2]
    assert _samples(text, f"{name}_bucket", le="1000") == [4]
    assert _samples(text, f"{name}_count") == [4] and _samples(text, f"{name}_sum") == [750]


def test_no_cluster_authority_is_resolved_with_the_registry(clock: Clock) -> None:
    """destination_service unknown but the authority known (a fault abort): the registry names the service."""
    t = _scraping(clock)
    labels = client("503", destination_workload="unknown", response_flags="FI")
    labels["destination_service"] = "reviews"  # meshstats puts the authority's host there
    t.record_reading(PRODUCTPAGE, reading({key(authority="reviews:9080", **labels): 2}))
    text = t.prometheus_text()
    assert _samples(text, "istio_requests_total", destination_service=REVIEWS, destination_service_name="reviews") == [
        2
    ]


def test_graph_counts_each_hop_once_from_the_client(clock: Clock) -> None:
    """Client and server both report a mesh hop: the graph counts the client's requests, and takes mTLS and
    denials from the server's series."""
    t = _scraping(clock)
    t.observe_node(PRODUCTPAGE)
    t.record_reading(PRODUCTPAGE, reading({key(**client()): 4, key(**client("503")): 1}))
    t.record_reading(
        REVIEWS_V1,
        reading({key(**server()): 4, key(**server("403"), denied=True): 1}),
    )
    graph = t.graph(60)
    edge = _edge(graph, "workload:productpage-v1.default", f"service:{REVIEWS}")
    assert edge["requests"] == 5 and edge["errors"] == 1
    assert edge["security"] == "mutual_tls" and edge["denied"] == 1
    assert _edge(graph, f"service:{REVIEWS}", "workload:reviews-v1.default")["requests"] == 5


def test_graph_counts_server_side_requests_from_outside_the_mesh(clock: Clock) -> None:
    """A caller without a sidecar (unknown source) is seen only by the server: its requests count there."""
    t = _scraping(clock)
    outside = server(mtls=False, source_workload="unknown", source_workload_namespace="unknown")
    t.record_reading(REVIEWS_V1, reading({key(**outside): 3}))
    edge = _edge(t.graph(60), "unknown", f"service:{REVIEWS}")
    assert edge["requests"] == 3 and edge["security"] == "none"


def test_graph_latency_comes_from_the_bucket_deltas(clock: Clock) -> None:
    """Percentiles interpolate within Envoy's buckets: 100 requests spread over (10, 25] give a p50 near 17.5."""
    t = _scraping(clock)
    dur = key("istio_request_duration_milliseconds", **client())
    t.record_reading(PRODUCTPAGE, reading({key(**client()): 100}, {dur: histogram(*[20.0] * 100)}))
    edge = _edge(t.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")
    assert 16 <= edge["p50"] <= 19  # type: ignore[operator]
    assert 10 < edge["p99"] <= 25 * 1.15  # type: ignore[operator]  # (the graph's bins are 15% wide)


def test_graph_takes_tcp_hops_from_the_client_and_mtls_from_the_server(clock: Clock) -> None:
    """TCP: opened connections on the client side are the hop's count; closed ones on the server side say mTLS."""
    t = _scraping(clock)
    t.observe_node(PRODUCTPAGE)
    opened = "istio_tcp_connections_opened_total"
    closed = "istio_tcp_connections_closed_total"
    t.record_reading(PRODUCTPAGE, reading({key(opened, **tcp(client())): 2, key(closed, **tcp(client())): 2}))
    t.record_reading(REVIEWS_V1, reading({key(opened, **tcp(server())): 2, key(closed, **tcp(server())): 2}))
    edge = _edge(t.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")
    assert edge["requests"] == 2 and edge["security"] == "mutual_tls"


def test_a_gateway_is_its_own_graph_node(clock: Clock) -> None:
    """The scraped proxy is the reporting side: a gateway's series hang off its gateway node."""
    t = _scraping(clock)
    labels = client(source_workload="istio-ingressgateway", source_workload_namespace="istio-system")
    t.record_reading(GATEWAY, reading({key(**labels): 1}))
    assert _edge(t.graph(60), "gateway:istio-ingressgateway.istio-system", f"service:{REVIEWS}")["requests"] == 1


def test_while_als_counts_scraped_readings_are_baselines_only(clock: Clock) -> None:
    """With the access-log service counting, a scrape adds nothing (a request is never counted twice)."""
    registry = bookinfo_registry()
    t = Telemetry(lambda: registry, clock=clock, counting="als")
    t.record_http(http_entry("outbound", cluster=OUT_V1, upstream=("127.0.0.1", 20001)), PRODUCTPAGE)
    t.record_reading(PRODUCTPAGE, reading({key(**client()): 1}))
    assert _samples(t.prometheus_text(), "istio_requests_total") == [1]
    assert _edge(t.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")["requests"] == 1
    assert PRODUCTPAGE.id in t.baselines


def test_while_scraping_counts_als_entries_are_not_counted_as_requests(clock: Clock) -> None:
    """With scraping counting, an ALS entry that still arrives is only an entry, not a request."""
    t = _scraping(clock)
    t.record_reading(PRODUCTPAGE, reading({key(**client()): 1}))
    t.record_http(http_entry("outbound", cluster=OUT_V1, upstream=("127.0.0.1", 20001)), PRODUCTPAGE)
    text = t.prometheus_text()
    assert _samples(text, "istio_requests_total") == [1]
    assert _samples(text, "mizzen_telemetry_access_log_entries_total", type="http") == [1]
    assert _edge(t.graph(60), "workload:productpage-v1.default", f"service:{REVIEWS}")["requests"] == 1


def test_series_limit_bounds_the_families(clock: Clock) -> None:
    """Past max_series a family drops new series and says so, as for ALS."""
    t = _scraping(clock, max_series=2)
    counters = {key(**client(str(200 + i))): 1 for i in range(5)}
    t.record_reading(PRODUCTPAGE, reading(counters))
    text = t.prometheus_text()
    assert len(_samples(text, "istio_requests_total")) == 2
    assert _samples(text, "mizzen_telemetry_series_dropped_total", metric="istio_requests_total") == [3]


def test_an_envoy_text_reading_flows_into_the_families(clock: Clock) -> None:
    """From Envoy's /stats/prometheus text through meshstats.read: the server side's raw peer tag becomes
    the source labels and the SAN makes it mutual_tls."""
    t = _scraping(clock)
    peer = "productpage-v1;default;productpage;v1;productpage;v1;Kubernetes"
    text = (
        f'envoy_istio_requests_total{{reporter="destination",mz_peer="{peer}",source_principal="{SPIFFE_PP}",'
        f'destination_workload="reviews-v1",destination_service="{REVIEWS}",mz_content_type="",'
        'response_code="200",response_flags="-"} 7\n'
    )
    t.record_reading(REVIEWS_V1, meshstats.read(text))
    out = t.prometheus_text()
    assert _samples(
        out, "istio_requests_total", source_workload="productpage-v1", connection_security_policy="mutual_tls"
    ) == [7]


def test_latency_bins_place_few_observations_at_even_positions() -> None:
    """One observation in (10, 25] sits mid-bucket; the median of the bins is near 17.5."""
    from mizzen.telemetry.series import latency_bins

    bins = latency_bins((10.0, 25.0, float("inf")), [0, 1, 0])
    assert sum(bins.values()) == 1
    p = percentile(bins, 0.5)
    assert p is not None and 15 <= p <= 20
