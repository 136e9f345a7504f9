"""The stats access loggers: Istio's metrics and tags per direction, disabled metrics, removed and upserted tags."""

from __future__ import annotations

import dataclasses
from typing import Any

from translate_fixtures import bookinfo, sidecar

from mizzen import meshstats
from mizzen.config.telemetry_settings import MetricOverride, MetricsSettings
from mizzen.node import Proxy, Upstream
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig, ProxyResources
from mizzen.translate.stats_logger import ServiceTags, http_stats_loggers, needs_connected_entry, tcp_stats_loggers

PROXY = Proxy(
    id="reviews-v2.default",
    type="sidecar",
    name="reviews-v2",
    namespace="default",
    labels={"app": "reviews", "version": "v2", "service.istio.io/canonical-name": "reviews-canon"},
)
SERVICE = ServiceTags("reviews.default.svc.cluster.local", "reviews", "default")


def _stats(loggers: list[dict[str, object]]) -> dict[str, dict[str, str]]:
    """Stat name -> {tag: value format}, over every counter and histogram of the loggers."""
    out: dict[str, dict[str, str]] = {}
    for log in loggers:
        config = log["typed_config"]
        assert isinstance(config, dict)
        assert config["stat_prefix"] == meshstats.STAT_PREFIX
        for stat in [*config.get("counters", []), *config.get("histograms", [])]:
            out[stat["stat"]["name"]] = {t["name"]: t["value_format"] for t in stat["stat"]["tags"]}
    return out


def test_client_side_tags_name_this_proxy_as_source_and_read_the_destination_from_envoy() -> None:
    """outbound: reporter=source, source_* literals (canonical names as Istio derives them), the
    destination from endpoint/cluster metadata and the upstream TLS connection."""
    stats = _stats(http_stats_loggers(PROXY, "outbound"))
    assert set(stats) == {meshstats.stat_name(m) for m in meshstats.HTTP_METRICS}
    tags = stats["requests_total"]
    assert tags["reporter"] == "source"
    assert tags["source_workload"] == "reviews-v2"
    assert tags["source_workload_namespace"] == "default"
    assert tags["source_canonical_service"] == "reviews-canon"
    assert tags["source_canonical_revision"] == "v2"
    assert tags["source_app"] == "reviews"
    assert tags["source_cluster"] == "Kubernetes"
    assert tags["source_principal"] == "%UPSTREAM_LOCAL_URI_SAN%"
    assert tags["destination_principal"] == "%UPSTREAM_PEER_URI_SAN%"
    assert tags["destination_workload"] == "%UPSTREAM_METADATA(mizzen:workload)%"
    assert tags["destination_service"] == "%CLUSTER_METADATA(mizzen:service)%"
    assert tags["mz_authority"] == "%REQ(:AUTHORITY)%"
    assert tags["connection_security_policy"] == "unknown"
    assert "mz_peer" not in tags and "mz_details" not in tags
    # Every Istio label is a tag or derived by the reader from a raw tag.
    assert set(meshstats.HTTP_LABELS) - set(tags) == {"request_protocol"}


def test_server_side_tags_name_this_proxy_as_destination_and_the_peer_from_the_header() -> None:
    """inbound: reporter=destination, destination_* literals with the port's service, the source from
    the peer header and the downstream TLS connection, no security-policy tag (the reader derives it)."""
    tags = _stats(http_stats_loggers(PROXY, "inbound", service=SERVICE))["requests_total"]
    assert tags["reporter"] == "destination"
    assert tags["destination_workload"] == "reviews-v2"
    assert tags["destination_version"] == "v2"
    assert tags["destination_service"] == "reviews.default.svc.cluster.local"
    assert tags["destination_service_name"] == "reviews"
    assert tags["destination_principal"] == "%DOWNSTREAM_LOCAL_URI_SAN%"
    assert tags["source_principal"] == "%DOWNSTREAM_PEER_URI_SAN%"
    assert tags["mz_peer"] == "%REQ(x-mizzen-peer):256%"
    assert tags["mz_details"] == "%RESPONSE_CODE_DETAILS%"
    assert "connection_security_policy" not in tags and "source_workload" not in tags


def test_defaults_without_labels() -> None:
    """No app/version labels: canonical service is the workload name, revision "latest", app unknown."""
    bare = Proxy(id="w.ns", type="sidecar", name="w", namespace="ns")
    tags = _stats(http_stats_loggers(bare, "gateway"))["requests_total"]
    assert tags["source_canonical_service"] == "w"
    assert tags["source_canonical_revision"] == "latest"
    assert tags["source_app"] == "unknown"


def test_histograms_have_istio_units_and_sizes() -> None:
    """Duration in milliseconds; sizes are the stream's downstream wire bytes (headers and body)."""
    (log,) = http_stats_loggers(PROXY, "outbound")
    config = log["typed_config"]
    assert isinstance(config, dict)
    hists = {h["stat"]["name"]: (h["unit"], h["value_format"]) for h in config["histograms"]}
    assert hists == {
        "request_duration_milliseconds": ("Milliseconds", "%DURATION%"),
        "request_bytes": ("Bytes", "%DOWNSTREAM_WIRE_BYTES_RECEIVED%"),
        "response_bytes": ("Bytes", "%DOWNSTREAM_WIRE_BYTES_SENT%"),
    }
    assert config["counters"][0]["value_fixed"] == 1


def test_tcp_opened_on_connect_closed_and_bytes_at_the_end() -> None:
    """TCP: one logger for the connected entry (opened), one for the end entry (closed and bytes, once)."""
    loggers = tcp_stats_loggers(PROXY, "inbound", service=SERVICE)
    by_type = {log["filter"]["log_type_filter"]["types"][0]: _stats([log]) for log in loggers}  # type: ignore[index]
    assert set(by_type["TcpUpstreamConnected"]) == {"tcp_connections_opened_total"}
    assert set(by_type["TcpConnectionEnd"]) == {
        "tcp_connections_closed_total",
        "tcp_sent_bytes_total",
        "tcp_received_bytes_total",
    }
    tags = by_type["TcpConnectionEnd"]["tcp_sent_bytes_total"]
    assert tags["request_protocol"] == "tcp"
    assert tags["mz_details"] == "%CONNECTION_TERMINATION_DETAILS%"
    assert "response_code" not in tags
    assert needs_connected_entry("inbound")


def test_disabled_metrics_are_not_emitted() -> None:
    """A metric disabled on one side is absent there and present on the other; Prometheus off: nothing."""
    off = MetricOverride(disabled=True)
    settings = MetricsSettings(
        client=(("REQUEST_DURATION", off), ("TCP_OPENED_CONNECTIONS", off)), server=(("REQUEST_COUNT", off),)
    )
    assert "request_duration_milliseconds" not in _stats(http_stats_loggers(PROXY, "outbound", settings))
    assert "request_duration_milliseconds" in _stats(http_stats_loggers(PROXY, "inbound", settings))
    assert "requests_total" not in _stats(http_stats_loggers(PROXY, "inbound", settings))
    assert len(tcp_stats_loggers(PROXY, "outbound", settings)) == 1
    assert not needs_connected_entry("outbound", settings)
    assert http_stats_loggers(PROXY, "outbound", MetricsSettings(enabled=False)) == []
    assert tcp_stats_loggers(PROXY, "inbound", MetricsSettings(enabled=False)) == []


def test_removed_tags_and_their_raw_tags_are_left_out() -> None:
    """removed_tags drop the tag (request_protocol its raw content type, destination_service the authority)."""
    removed = MetricOverride(removed_tags=frozenset({"request_protocol", "destination_service", "response_flags"}))
    settings = MetricsSettings(client=(("REQUEST_COUNT", removed),))
    stats = _stats(http_stats_loggers(PROXY, "outbound", settings))
    for gone in ("mz_content_type", "destination_service", "mz_authority", "response_flags"):
        assert gone not in stats["requests_total"]
    assert "response_flags" in stats["request_bytes"]  # other metrics keep theirs


def test_upserted_tags_are_cel_expressions() -> None:
    """upserted_tags set an existing tag or add a new one, as %CEL(expr)% (Envoy 1.40 evaluates it, tested e2e)."""
    up = MetricOverride(upserted_tags=(("request_host", "request.host"), ("response_code", "response.code")))
    tags = _stats(http_stats_loggers(PROXY, "outbound", MetricsSettings(client=(("REQUEST_COUNT", up),))))[
        "requests_total"
    ]
    assert tags["request_host"] == "%CEL(request.host)%"
    assert tags["response_code"] == "%CEL(response.code)%"


REVIEWS = "reviews.default.svc.cluster.local"


def _hcm(res: ProxyResources, listener: str) -> dict[str, Any]:
    config = res.listeners[listener]["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[index]
    assert isinstance(config, dict)
    return config


def test_translation_wires_loggers_peer_header_and_metadata() -> None:
    """A sidecar's HCMs get the stats logger (inbound: with the port's service), its outbound HCM sends
    the peer header, outbound clusters name their service and EDS endpoints their workload."""
    proxy = sidecar()
    res = translate(proxy, bookinfo())
    outbound = _hcm(res, "127.0.0.1_15080")
    assert _stats(outbound["access_log"])["requests_total"]["reporter"] == "source"
    mutation = next(f for f in outbound["http_filters"] if f["name"] == "envoy.filters.http.header_mutation")
    (header,) = [m["append"]["header"] for m in mutation["typed_config"]["mutations"]["request_mutations"]]
    assert header == {
        "key": "x-mizzen-peer",
        "value": "productpage-v1;default;productpage;v1;productpage;v1;Kubernetes",
    }
    inbound = _stats(_hcm(res, "127.0.0.1_20001")["access_log"])["requests_total"]
    assert inbound["destination_service"] == "productpage.default.svc.cluster.local"
    assert inbound["destination_service_name"] == "productpage"
    cluster = res.clusters[f"outbound|9080||{REVIEWS}"]
    assert cluster["metadata"]["filter_metadata"]["mizzen"] == {  # type: ignore[index]
        "service": REVIEWS,
        "name": "reviews",
        "namespace": "default",
    }
    assert res.clusters["PassthroughCluster"]["metadata"] == {  # type: ignore[index]
        "filter_metadata": {"mizzen": {"name": "PassthroughCluster"}}
    }
    lb = res.endpoints[f"outbound|9080||{REVIEWS}"]["endpoints"][0]["lb_endpoints"]  # type: ignore[index]
    found = {
        e["metadata"]["filter_metadata"]["mizzen"]["workload"]: e["metadata"]["filter_metadata"]["mizzen"] for e in lb
    }
    assert found["reviews-v2"] == {
        "workload": "reviews-v2",
        "namespace": "default",
        "app": "reviews",
        "version": "v2",
        "canonical_service": "reviews",
        "canonical_revision": "v2",
        "cluster": "Kubernetes",
    }


def test_metrics_off_means_no_logger_and_no_peer_header() -> None:
    """Prometheus metrics off (and no access-log service): no stats logger, no header_mutation filter."""
    mesh = bookinfo(mesh=MeshConfig(metrics=MetricsSettings(enabled=False)))
    outbound = _hcm(translate(sidecar(), mesh), "127.0.0.1_15080")
    assert "access_log" not in outbound
    assert "envoy.filters.http.header_mutation" not in [f["name"] for f in outbound["http_filters"]]


def test_tcp_proxy_logs_its_connected_entry_for_the_opened_counter() -> None:
    """A tcp_proxy logs on upstream connect (opened counter), and the file log keeps one line per connection."""
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("mongo", 27017, 19017),), access_log="/tmp/a.log")
    tcp = _hcm(translate(proxy, bookinfo()), "127.0.0.1_19017")
    assert tcp["access_log_options"] == {"flush_access_log_on_connected": True}
    file_log = next(log for log in tcp["access_log"] if log["name"] == "envoy.access_loggers.file")
    assert file_log["filter"]["log_type_filter"]["exclude"] is True


def test_two_workloads_share_their_alike_tag_entries() -> None:
    """A tag whose value is the same format string in every proxy is one object for all of them (the
    control plane keeps each sidecar's loggers); a workload's own literals stay its own."""
    other = dataclasses.replace(PROXY, id="ratings-v1.default", name="ratings-v1", labels={"app": "ratings"})

    def entries(proxy: Proxy) -> dict[str, dict[str, str]]:
        config = http_stats_loggers(proxy, "outbound")[0]["typed_config"]
        return {t["name"]: t for t in config["counters"][0]["stat"]["tags"]}

    mine, theirs = entries(PROXY), entries(other)
    assert mine["destination_workload"] is theirs["destination_workload"]
    assert mine["source_workload"] is not theirs["source_workload"]
    assert (mine["source_workload"]["value_format"], theirs["source_workload"]["value_format"]) == (
        "reviews-v2",
        "ratings-v1",
    )
