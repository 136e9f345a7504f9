"""Istio's standard metrics kept by Envoy: the stats access loggers of an HTTP connection manager or a
tcp_proxy (pure builders; names and tags are :mod:`mizzen.meshstats`'s contract).

Theory of operation. At the end of each request (or TCP connection) Envoy's stats access logger adds to
counters and histograms whose tags are access-log format strings. The reporting proxy's own identity is
written in as literals (so these loggers are per proxy, like the listeners that hold them); the other end
comes from what Envoy knows at log time:

- client side (``outbound``, ``gateway``; Istio's ``reporter="source"``): the picked endpoint's metadata
  (``%UPSTREAM_METADATA(mizzen:...)%``, written by :mod:`.endpoints`), the picked cluster's metadata
  (``%CLUSTER_METADATA(mizzen:...)%``, :mod:`.clusters`) and the upstream TLS connection's URI SANs;
- server side (``inbound``; ``reporter="destination"``): the calling sidecar's :data:`~mizzen.meshstats.PEER_HEADER`,
  the downstream TLS connection's URI SANs and the services of the inbound port (literals).

Sizes: Istio's ``request_bytes``/``response_bytes`` are ``request.total_size`` / ``response.total_size``
(headers, uncompressed, plus body). Envoy's closest value without CEL is the stream's bytes on the
downstream wire, ``%DOWNSTREAM_WIRE_BYTES_RECEIVED%`` / ``_SENT%``: headers and body as the HTTP codec
carried them (for HTTP/1.1 the same up to the request/status line; for HTTP/2 the headers HPACK-compressed,
plus framing). ``%CEL(request.total_size)%`` would give Istio's figure exactly, but its two CEL evaluations
per request add about 40% to the logger's Envoy CPU (measured with bench/stats_logger_cost.py).
TCP bytes are counted once, when the connection closes (Istio's filter adds them as they flow; here a
long-lived connection's bytes appear when it ends). ``opened`` is counted when the upstream connection is
made (tcp_proxy's ``TcpUpstreamConnected`` entry), ``closed`` and the bytes at its end entry.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mizzen import meshstats
from mizzen.config.telemetry_settings import DEFAULT_METRICS, ISTIO_METRICS, MetricOverride, MetricsSettings, Side
from mizzen.node import Proxy
from mizzen.registry.model import Service
from mizzen.translate.common import JSONDict

Direction = Literal["outbound", "inbound", "gateway"]

STATS_LOGGER = "envoy.access_loggers.stats"
T_STATS_LOGGER = "type.googleapis.com/envoy.extensions.access_loggers.stats.v3.Config"
METADATA_KEY = "mizzen"  # filter_metadata key of the endpoint and cluster metadata the tags read
# Endpoint metadata fields (meshstats.PEER_FIELDS) and the destination_* tags they fill.
ENDPOINT_TAGS = (
    ("destination_workload", "workload"),
    ("destination_workload_namespace", "namespace"),
    ("destination_app", "app"),
    ("destination_version", "version"),
    ("destination_canonical_service", "canonical_service"),
    ("destination_canonical_revision", "canonical_revision"),
    ("destination_cluster", "cluster"),
)
# Cluster metadata fields and the destination_service* tags they fill.
CLUSTER_TAGS = (
    ("destination_service", "service"),
    ("destination_service_name", "name"),
    ("destination_service_namespace", "namespace"),
)
_SELECTOR = {metric: selector for selector, metric in ISTIO_METRICS.items()}
_HTTP_VALUES = {
    "istio_requests_total": ("", "Unspecified"),
    "istio_request_duration_milliseconds": ("%DURATION%", "Milliseconds"),
    "istio_request_bytes": ("%DOWNSTREAM_WIRE_BYTES_RECEIVED%", "Bytes"),
    "istio_response_bytes": ("%DOWNSTREAM_WIRE_BYTES_SENT%", "Bytes"),
}
_TCP_VALUES = {
    "istio_tcp_connections_opened_total": "",
    "istio_tcp_connections_closed_total": "",
    "istio_tcp_sent_bytes_total": "%BYTES_SENT%",
    "istio_tcp_received_bytes_total": "%BYTES_RECEIVED%",
}
# The raw tags standing for an Istio label: removing the label removes them too.
_RAW_FOR = {
    "request_protocol": (meshstats.CONTENT_TYPE_TAG,),
    "destination_service": (meshstats.AUTHORITY_TAG,),
}


@dataclass(frozen=True)
class ServiceTags:
    """The destination service of an inbound port, as literals: ``host`` (FQDN), ``name``, ``namespace``."""

    host: str
    name: str
    namespace: str


def side_of(direction: Direction) -> Side:
    """Istio's CLIENT (outbound, gateway) or SERVER (inbound) mode."""
    return "server" if direction == "inbound" else "client"


def identity(proxy: Proxy) -> dict[str, str]:
    """The reporting proxy's own :data:`~mizzen.meshstats.PEER_FIELDS`."""
    return meshstats.peer_fields(proxy.name, proxy.namespace, proxy.labels)


def http_stats_loggers(
    proxy: Proxy,
    direction: Direction,
    settings: MetricsSettings = DEFAULT_METRICS,
    service: ServiceTags | None = None,
) -> list[JSONDict]:
    """The stats logger of an HTTP connection manager (``[]`` when every HTTP metric is off)."""
    return list(_http_loggers(direction, tuple(_http_tags(proxy, direction, service)), settings))


def tcp_stats_loggers(
    proxy: Proxy,
    direction: Direction,
    settings: MetricsSettings = DEFAULT_METRICS,
    service: ServiceTags | None = None,
) -> list[JSONDict]:
    """The stats loggers of a tcp_proxy: one for its connected entry (opened), one for its end entry
    (closed, bytes). Pair them with tcp_proxy's ``flush_access_log_on_connected``."""
    return list(_tcp_loggers(direction, tuple(_tcp_tags(proxy, direction, service)), settings))


# Built once per distinct (direction, tags, settings) and shared: every push rebuilds every proxy's
# listeners, and these loggers were a third of that. Callers put them in their output as they are
# (output is never changed in place) and get a list of their own.
_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _http_loggers(direction: Direction, tags: tuple[tuple[str, str], ...], settings: MetricsSettings) -> list[JSONDict]:
    side = side_of(direction)
    counters: list[JSONDict] = []
    histograms: list[JSONDict] = []
    for metric, (value, unit) in _HTTP_VALUES.items():
        override = _override(settings, side, metric)
        if override is None:
            continue
        stat = _stat(metric, tags, override)
        if meshstats.HTTP_METRICS[metric] == "counter":
            counters.append({"stat": stat, "value_fixed": 1})
        else:
            histograms.append({"stat": stat, "unit": unit, "value_format": value})
    return _logger(counters, histograms)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _tcp_loggers(direction: Direction, tags: tuple[tuple[str, str], ...], settings: MetricsSettings) -> list[JSONDict]:
    side = side_of(direction)
    opened: list[JSONDict] = []
    ended: list[JSONDict] = []
    for metric, value in _TCP_VALUES.items():
        override = _override(settings, side, metric)
        if override is None:
            continue
        counter: JSONDict = {"stat": _stat(metric, tags, override)}
        counter.update({"value_format": value} if value else {"value_fixed": 1})
        (opened if metric == "istio_tcp_connections_opened_total" else ended).append(counter)
    loggers = [{**log, "filter": _log_types(["TcpUpstreamConnected"])} for log in _logger(opened, [])]
    loggers += [{**log, "filter": _log_types(["TcpConnectionEnd"])} for log in _logger(ended, [])]
    return loggers


def needs_connected_entry(direction: Direction, settings: MetricsSettings = DEFAULT_METRICS) -> bool:
    """Whether a tcp_proxy must log when its upstream connects (the opened-connections counter is on)."""
    return _override(settings, side_of(direction), "istio_tcp_connections_opened_total") is not None


def _override(settings: MetricsSettings, side: Side, metric: str) -> MetricOverride | None:
    """The metric's override on ``side``, ``None`` when the metric is off there."""
    selector = _SELECTOR[metric]
    return settings.override(side, selector) if settings.is_on(side, selector) else None


def _logger(counters: Sequence[JSONDict], histograms: Sequence[JSONDict]) -> list[JSONDict]:
    if not counters and not histograms:
        return []
    config: JSONDict = {"@type": T_STATS_LOGGER, "stat_prefix": meshstats.STAT_PREFIX}
    if counters:
        config["counters"] = list(counters)
    if histograms:
        config["histograms"] = list(histograms)
    return [{"name": STATS_LOGGER, "typed_config": config}]


def _log_types(types: list[str]) -> JSONDict:
    return {"log_type_filter": {"types": types}}


def _stat(metric: str, tags: Sequence[tuple[str, str]], override: MetricOverride) -> JSONDict:
    """A stat with the metric's tags: the removed ones (and the raw tags standing for them) left out,
    the upserted ones set to the value of their CEL expression."""
    removed = set(override.removed_tags)
    for label in override.removed_tags:
        removed.update(_RAW_FOR.get(label, ()))
    upserted = dict(override.upserted_tags)
    out = [(name, f"%CEL({upserted.pop(name)})%" if name in upserted else value) for name, value in tags]
    out += [(name, f"%CEL({expr})%") for name, expr in upserted.items()]
    return {
        "name": meshstats.stat_name(metric),
        "tags": [_tag(name, value) for name, value in out if name not in removed],
    }


@functools.lru_cache(maxsize=_CACHE_SIZE * 4)
def _tag(name: str, value: str) -> JSONDict:
    """One tag entry, shared: most are the same format string in every proxy's loggers (a sidecar's
    ~560 of them were 50 KB of the control plane's memory per proxy), and output is never changed in place."""
    return {"name": name, "value_format": value}


def _http_tags(proxy: Proxy, direction: Direction, service: ServiceTags | None) -> list[tuple[str, str]]:
    common = [
        (meshstats.CONTENT_TYPE_TAG, "%REQ(content-type):16%"),
        ("response_code", "%RESPONSE_CODE%"),
        ("grpc_response_status", "%GRPC_STATUS(NUMBER)%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
    ]
    if direction == "inbound":
        return [*_server_tags(proxy, service), *common, (meshstats.DETAILS_TAG, "%RESPONSE_CODE_DETAILS%")]
    return [*_client_tags(proxy), (meshstats.AUTHORITY_TAG, "%REQ(:AUTHORITY)%"), *common]


def _tcp_tags(proxy: Proxy, direction: Direction, service: ServiceTags | None) -> list[tuple[str, str]]:
    common = [("request_protocol", "tcp"), ("response_flags", "%RESPONSE_FLAGS%")]
    if direction == "inbound":
        details = (meshstats.DETAILS_TAG, "%CONNECTION_TERMINATION_DETAILS%")
        return [*_server_tags(proxy, service), *common, details]
    return [*_client_tags(proxy), *common]


def _client_tags(proxy: Proxy) -> list[tuple[str, str]]:
    """reporter=source: this proxy is the source; the destination is what Envoy picked."""
    return [
        ("reporter", "source"),
        *_own("source", proxy),
        ("source_principal", "%UPSTREAM_LOCAL_URI_SAN%"),
        *((tag, f"%UPSTREAM_METADATA({METADATA_KEY}:{key})%") for tag, key in ENDPOINT_TAGS),
        ("destination_principal", "%UPSTREAM_PEER_URI_SAN%"),
        *((tag, f"%CLUSTER_METADATA({METADATA_KEY}:{key})%") for tag, key in CLUSTER_TAGS),
        ("connection_security_policy", meshstats.UNKNOWN),
    ]


def _server_tags(proxy: Proxy, service: ServiceTags | None) -> list[tuple[str, str]]:
    """reporter=destination: this proxy is the destination; the source is the peer header and TLS."""
    svc = service or ServiceTags(meshstats.UNKNOWN, meshstats.UNKNOWN, meshstats.UNKNOWN)
    return [
        ("reporter", "destination"),
        (meshstats.PEER_TAG, f"%REQ({meshstats.PEER_HEADER}):256%"),
        ("source_principal", "%DOWNSTREAM_PEER_URI_SAN%"),
        *_own("destination", proxy),
        ("destination_principal", "%DOWNSTREAM_LOCAL_URI_SAN%"),
        ("destination_service", _literal(svc.host)),
        ("destination_service_name", _literal(svc.name)),
        ("destination_service_namespace", _literal(svc.namespace)),
    ]


def _own(prefix: str, proxy: Proxy) -> Iterable[tuple[str, str]]:
    """The reporting proxy's identity tags (``source_*`` or ``destination_*``), as literals."""
    me = identity(proxy)
    names = {"workload": "workload", "namespace": "workload_namespace"}
    for key in meshstats.PEER_FIELDS:
        yield f"{prefix}_{names.get(key, key)}", _literal(me[key])


def _literal(value: str) -> str:
    """A tag value printing ``value`` as is: ``%`` would start a command (names and labels have none),
    and Envoy requires a non-empty format."""
    return value.replace("%", "_") or meshstats.UNKNOWN


def service_tags(services: Iterable[tuple[str, str, str]]) -> ServiceTags | None:
    """The first of an inbound port's services (host, name, namespace), as Istio's inbound metrics name
    one service even when several select the workload; ``None`` when no service does."""
    for host, name, namespace in services:
        return ServiceTags(host, name, namespace)
    return None


def cluster_metadata(service: Service) -> Mapping[str, str]:
    """The ``mizzen`` cluster metadata of a service's outbound clusters (what :data:`CLUSTER_TAGS` read)."""
    return {"service": service.hostname, "name": service.name, "namespace": service.namespace}


def named_cluster_metadata(cluster: str) -> JSONDict:
    """The metadata of PassthroughCluster and BlackHoleCluster: Istio's ``destination_service_name`` is the
    cluster's name (its ``destination_service`` the request's authority, which the reader substitutes)."""
    return {"filter_metadata": {METADATA_KEY: {"name": cluster}}}
