"""Istio's standard metrics, from Envoy's own stats (scraped) or from access-log entries (ALS).

:class:`Telemetry` is the one object the control plane holds: the scraper feeds it each proxy's reading
of Envoy's ``istio_*`` stats (:meth:`Telemetry.record_reading`), the ALS servicer feeds it entries
(:meth:`Telemetry.record_http`, when the mesh configures an access-log service), the HTTP layer reads
``prometheus_text()``, ``graph()`` and ``service_series()``. It is plain synchronous code, called from the
event loop only, so it needs no locks.

One source counts, never both: ``counting="scrape"`` adds scraped deltas (:mod:`mizzen.telemetry.scraped`)
to Istio's families, with Istio's full label set (:data:`mizzen.meshstats.HTTP_LABELS`), and ALS entries
are only counted as entries; ``counting="als"`` counts ALS entries (the older, shorter label set) and keeps
scraped readings as baselines only, so switching the source later never counts a proxy's history again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection
from typing import Literal

from envoy.data.accesslog.v3 import accesslog_pb2

from mizzen import meshstats
from mizzen.meshstats import Reading, SeriesKey
from mizzen.node import Proxy
from mizzen.registry.model import RegistrySnapshot
from mizzen.telemetry import graph as graph_view
from mizzen.telemetry.labels import Facts, derive, outbound_service, peer_from_node_id, response_flags
from mizzen.telemetry.model import LABEL_NAMES, TCP_LABEL_NAMES, EndpointIndex, Peer, RegistrySource, ServiceRef
from mizzen.telemetry.prom import Family
from mizzen.telemetry.scraped import DEFAULT_GRACE_S, Baselines
from mizzen.telemetry.series import TrafficSeries, is_error, latency_bins

_TCP_CONNECTED = accesslog_pb2.AccessLogType.Value("TcpUpstreamConnected")
_TCP_PERIODIC = accesslog_pb2.AccessLogType.Value("TcpPeriodic")
_MAX_CACHED_PROXIES = 10000
_MAX_OPEN_TCP = 100000  # connections whose byte counts we remember between periodic entries
# Envoy's response_code_details / connection_termination_details when an RBAC filter denies:
# "rbac_access_denied_matched_policy[<policy>]" ("[none]" when no ALLOW policy matched).
RBAC_DENIED = "rbac_access_denied"
Counting = Literal["als", "scrape"]
_H = {n: i for i, n in enumerate(meshstats.HTTP_LABELS)}
_T = {n: i for i, n in enumerate(meshstats.TCP_LABELS)}
_DURATION = "istio_request_duration_milliseconds"


class Telemetry:
    """Aggregates scraped Envoy stats (or access-log entries) into Prometheus metrics and a recent-traffic view.

    ``registry`` returns the current registry snapshot (endpoints resolve upstream addresses to
    workloads); it is re-indexed only when a different snapshot object comes back. ``counting`` names the
    source that counts (see the module docstring); ``grace_s`` is how long a proxy no longer scraped keeps
    its last reading.
    """

    def __init__(
        self,
        registry: RegistrySource | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_series: int = 10000,
        counting: Counting = "als",
        grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        self.counting: Counting = counting
        self.max_series = max_series
        self.baselines = Baselines(grace_s)
        self._by_workload: dict[tuple[str, str], Peer] = {}  # (namespace, name) -> peer of a known proxy
        http_labels = meshstats.HTTP_LABELS if counting == "scrape" else LABEL_NAMES
        tcp_labels = meshstats.TCP_LABELS if counting == "scrape" else TCP_LABEL_NAMES
        self._registry = registry or RegistrySnapshot
        self._snapshot: RegistrySnapshot | None = None
        self._index = EndpointIndex()
        self._clock = clock
        self._nodes: dict[str, Peer] = {}  # node id -> peer, learned from ALS streams
        self._peer_of: dict[int, tuple[Proxy, Peer]] = {}
        self._tcp_seen: dict[tuple[str, str], tuple[int, int]] = {}  # (node, stream id) -> bytes so far
        self.series = TrafficSeries()
        self.entries = Family(
            "mizzen_telemetry_access_log_entries_total",
            "Access-log entries received from proxies.",
            "counter",
            ("type",),
        )
        self.requests = Family(
            "istio_requests_total",
            "Requests, by Istio's standard labels.",
            "counter",
            http_labels,
            max_series=max_series,
        )
        self.duration = Family(
            "istio_request_duration_milliseconds",
            "Request duration in milliseconds.",
            "histogram",
            http_labels,
            max_series=max_series,
        )
        self.request_bytes = Family(
            "istio_request_bytes",
            "Request size (headers and body) in bytes.",
            "histogram",
            http_labels,
            max_series=max_series,
        )
        self.response_bytes = Family(
            "istio_response_bytes",
            "Response size (headers and body) in bytes.",
            "histogram",
            http_labels,
            max_series=max_series,
        )
        self.tcp_sent = Family(
            "istio_tcp_sent_bytes_total",
            "Bytes sent to the downstream in TCP connections.",
            "counter",
            tcp_labels,
            max_series=max_series,
        )
        self.tcp_received = Family(
            "istio_tcp_received_bytes_total",
            "Bytes received from the downstream in TCP connections.",
            "counter",
            tcp_labels,
            max_series=max_series,
        )
        self.tcp_opened = Family(
            "istio_tcp_connections_opened_total",
            "TCP connections opened.",
            "counter",
            tcp_labels,
            max_series=max_series,
        )
        self.tcp_closed = Family(
            "istio_tcp_connections_closed_total",
            "TCP connections closed.",
            "counter",
            tcp_labels,
            max_series=max_series,
        )

    # --- input -------------------------------------------------------------------------------------

    def record_http(self, entry: accesslog_pb2.HTTPAccessLogEntry, node: Proxy) -> Facts:
        """Count one HTTP request logged by ``node``; returns the facts it was counted under."""
        self.entries.inc(("http",))
        common, req, resp = entry.common_properties, entry.request, entry.response
        headers = req.request_headers  # keys are the lower-case names our logger config lists
        reporter, source, destination, service, policy = derive(
            common,
            self._learn(node),
            self._current_index(),
            request_headers=headers,
            authority=req.authority,
            peer_lookup=self._peer,
        )
        protocol = "grpc" if headers.get("content-type", "").startswith("application/grpc") else "http"
        code = resp.response_code.value
        facts = Facts(
            reporter, source, destination, service, protocol, code, response_flags(common.response_flags), policy
        )
        if self.counting != "als":
            return facts  # scraped stats count the requests: never count one twice
        labels = facts.labels()
        duration_ms = _duration_ms(common)
        self.requests.inc(labels)
        self.duration.observe(labels, duration_ms)
        self.request_bytes.observe(labels, req.request_headers_bytes + req.request_body_bytes)
        self.response_bytes.observe(labels, resp.response_headers_bytes + resp.response_body_bytes)
        self._track(facts, duration_ms, is_error(code), denied=resp.response_code_details.startswith(RBAC_DENIED))
        return facts

    def record_tcp(self, entry: accesslog_pb2.TCPAccessLogEntry, node: Proxy) -> Facts:
        """Count one TCP access-log entry (connect, periodic or end) logged by ``node``."""
        self.entries.inc(("tcp",))
        common = entry.common_properties
        reporter, source, destination, service, policy = derive(
            common,
            self._learn(node),
            self._current_index(),
            request_headers={},
            authority="",
            peer_lookup=self._peer,
        )
        facts = Facts(reporter, source, destination, service, "tcp", 0, response_flags(common.response_flags), policy)
        if self.counting != "als":
            return facts  # scraped stats count the connections: never count one twice
        labels = facts.labels(tcp=True)
        kind = common.access_log_type
        key = (node.node_id, common.stream_id)
        known = key in self._tcp_seen
        # Envoy reports the bytes so far on every entry of a connection: count the growth only.
        props = entry.connection_properties
        seen_rx, seen_tx = self._tcp_seen.pop(key, (0, 0))
        self.tcp_received.inc(labels, max(0, props.received_bytes - seen_rx))
        self.tcp_sent.inc(labels, max(0, props.sent_bytes - seen_tx))
        if kind in (_TCP_CONNECTED, _TCP_PERIODIC):
            if len(self._tcp_seen) < _MAX_OPEN_TCP:
                self._tcp_seen[key] = (props.received_bytes, props.sent_bytes)
        else:  # the connection ended (or an entry from a logger without access_log_options)
            self.tcp_closed.inc(labels)
            if reporter == "destination":  # what the server saw of it, once per connection
                denied = common.connection_termination_details.startswith(RBAC_DENIED)
                self._observe_server(facts, denied)
        # Opened on the connect entry; at the end only if no connect entry came (it failed, or the
        # tcp_proxy was configured without flush_access_log_on_connected).
        if kind == _TCP_CONNECTED or (kind != _TCP_PERIODIC and not known):
            self.tcp_opened.inc(labels)
            # TCP carries no peer header, so a server-side entry cannot tell a mesh client from an
            # outside one: the live graph takes TCP hops from the client side only.
            if reporter == "source":
                self._track(facts, _duration_ms(common), bool(common.response_flags.ListFields()))
        return facts

    def observe_node(self, proxy: Proxy) -> None:
        """Learn a proxy's identity (e.g. when it connects over xDS) for peer-id lookups."""
        self._learn(proxy)

    def record_reading(self, proxy: Proxy, reading: Reading) -> Reading:
        """Take one scrape of ``proxy``'s Envoy: its delta since the last one is counted (when scraping
        counts) into Istio's families and the live graph. Returns the delta."""
        change = self.baselines.update(proxy.id, reading)
        if self.counting != "scrape":
            return change
        me = self._learn(proxy)
        index = self._current_index()
        families = self._families()
        resolved: dict[SeriesKey, tuple[str, ...]] = {}
        for key, value in change.counters.items():
            labels = resolved[key] = self._fixed_labels(key, index)
            families[key.metric].inc(labels, value)
        for key, hist in change.histograms.items():
            labels = self._fixed_labels(key, index)
            families[key.metric].add_buckets(labels, hist.bounds, hist.counts, hist.sum, hist.total)
        self._track_scraped(me, change, resolved)
        return change

    def forget_missing(self, present: Collection[str]) -> list[str]:
        """Proxies not in ``present`` (ids) lose their last reading once the grace period has passed."""
        return self.baselines.sweep(present, self._clock())

    # --- output ------------------------------------------------------------------------------------

    def prometheus_text(self) -> str:
        """All metric families in Prometheus text format (ends with a newline when not empty)."""
        out: list[str] = []
        families = tuple(self._families().values())
        for family in (*families, self.entries):
            family.render(out)
        dropped = Family(
            "mizzen_telemetry_series_dropped_total",
            "Samples not recorded because a metric reached its series limit.",
            "counter",
            ("metric",),
        )
        for family in families:
            if family.dropped:
                dropped.inc((family.name,), family.dropped)
        dropped.render(out)
        return "\n".join(out) + "\n" if out else ""

    def graph(self, window_s: float = 60.0) -> dict[str, object]:
        """The mesh graph over the last ``window_s`` seconds (see :mod:`mizzen.telemetry.graph`)."""
        return graph_view.graph(self.series, self._clock(), window_s)

    def service_series(self, service: str, window_s: float = 600.0) -> dict[str, object]:
        """Request rate, error rate and latency percentiles over time for one service."""
        return graph_view.service_series(self.series, service, self._clock(), window_s)

    # --- internals ---------------------------------------------------------------------------------

    def _track(self, facts: Facts, duration_ms: float, error: bool, *, denied: bool = False) -> None:
        # The live graph counts each hop once: from the client's entry when the client is a mesh
        # proxy, from the server's entry only when the caller is outside the mesh (unknown source).
        # The server's entry also says whether the hop was mTLS and whether a policy denied it.
        if facts.reporter == "destination":
            self._observe_server(facts, denied)
            if facts.source.kind != "unknown":
                return
        self.series.add(
            self._clock(),
            facts.source,
            facts.service,
            facts.destination,
            protocol=facts.protocol,
            duration_ms=duration_ms,
            error=error,
        )

    def _families(self) -> dict[str, Family]:
        return {
            f.name: f
            for f in (
                self.requests,
                self.duration,
                self.request_bytes,
                self.response_bytes,
                self.tcp_sent,
                self.tcp_received,
                self.tcp_opened,
                self.tcp_closed,
            )
        }

    def _fixed_labels(self, key: SeriesKey, index: EndpointIndex) -> tuple[str, ...]:
        """The key's labels, with the destination service resolved when Envoy had only the authority
        (a fault abort, a no-route 404: no cluster was picked), as :func:`outbound_service` does for ALS."""
        if not key.authority:
            return key.labels
        pos = _H if key.metric in meshstats.HTTP_METRICS else _T
        namespace = key.labels[pos["source_workload_namespace"]]
        ref = outbound_service("", key.authority, index, namespace if namespace != "unknown" else "default")
        labels = list(key.labels)
        labels[pos["destination_service"]] = ref.hostname
        labels[pos["destination_service_name"]] = ref.name
        labels[pos["destination_service_namespace"]] = ref.namespace
        return tuple(labels)

    def _track_scraped(self, me: Peer, change: Reading, resolved: dict[SeriesKey, tuple[str, ...]]) -> None:
        """The live graph from a scraped delta, each hop counted once as :meth:`_track` does for ALS."""
        now = self._clock()
        for key, value in change.counters.items():
            n = int(value)
            if n <= 0 or key.metric not in (
                "istio_requests_total",
                "istio_tcp_connections_opened_total",
                "istio_tcp_connections_closed_total",
            ):
                continue
            http = key.metric == "istio_requests_total"
            pos = _H if http else _T
            labels = resolved[key]
            server = labels[pos["reporter"]] == "destination"
            source, destination = self._scraped_peers(me, labels, pos, server)
            service = ServiceRef(
                labels[pos["destination_service"]],
                labels[pos["destination_service_name"]],
                labels[pos["destination_service_namespace"]],
            )
            protocol = labels[pos["request_protocol"]]
            if server and key.metric != "istio_tcp_connections_opened_total":
                mtls = labels[pos["connection_security_policy"]] == "mutual_tls"
                self.series.observe_server(
                    now, source, service, destination, protocol=protocol, mtls=mtls, denied=key.denied, count=n
                )
            # TCP carries no peer header: the graph takes TCP hops from the client side only (as for ALS).
            counts = http and (not server or source.kind == "unknown")
            counts = counts or (key.metric == "istio_tcp_connections_opened_total" and not server)
            if not counts:
                continue
            if http:
                errors = n if is_error(_code(labels[pos["response_code"]])) else 0
                hist = change.histograms.get(dataclasses.replace(key, metric=_DURATION))
                latency = latency_bins(hist.bounds, _own_counts(hist.counts)) if hist is not None else {}
            else:
                errors = n if labels[pos["response_flags"]] not in ("-", "") else 0
                latency = {}
            self.series.add_many(
                now, source, service, destination, protocol=protocol, requests=n, errors=errors, latency=latency
            )

    def _scraped_peers(self, me: Peer, labels: tuple[str, ...], pos: dict[str, int], server: bool) -> tuple[Peer, Peer]:
        """(source, destination) of a scraped series reported by ``me``: ``me`` is its own side; the other
        side is a proxy we know by workload and namespace, else what the labels say."""

        def side(prefix: str, namespace_label: str) -> Peer:
            workload, namespace = labels[pos[f"{prefix}_workload"]], labels[pos[namespace_label]]
            principal = labels[pos[f"{prefix}_principal"]]
            known = self._by_workload.get((namespace, workload))
            if known is not None:
                return _with_principal(known, principal)
            if workload == "unknown":
                return Peer(principal=principal)
            app, version = labels[pos[f"{prefix}_app"]], labels[pos[f"{prefix}_version"]]
            return Peer(workload, namespace, app, version, principal, "workload")

        if server:
            return side("source", "source_workload_namespace"), _with_principal(
                me, labels[pos["destination_principal"]]
            )
        return _with_principal(me, labels[pos["source_principal"]]), side(
            "destination", "destination_workload_namespace"
        )

    def _observe_server(self, facts: Facts, denied: bool) -> None:
        self.series.observe_server(
            self._clock(),
            facts.source,
            facts.service,
            facts.destination,
            protocol=facts.protocol,
            mtls=facts.security_policy == "mutual_tls",
            denied=denied,
        )

    def _learn(self, proxy: Proxy) -> Peer:
        # The ALS servicer passes one Proxy object per stream: remember its Peer by identity (the
        # cached tuple keeps the object alive, so its id cannot be reused while cached).
        cached = self._peer_of.get(id(proxy))
        if cached is not None and cached[0] is proxy:
            return cached[1]
        peer = Peer.of_proxy(proxy)
        self._nodes[proxy.node_id] = peer
        if len(self._by_workload) >= _MAX_CACHED_PROXIES:
            self._by_workload.clear()
        self._by_workload[(peer.namespace, peer.workload)] = peer
        if len(self._peer_of) >= _MAX_CACHED_PROXIES:
            self._peer_of.clear()
        self._peer_of[id(proxy)] = (proxy, peer)
        return peer

    def _peer(self, node_id: str) -> Peer | None:
        return self._nodes.get(node_id) or peer_from_node_id(node_id)

    def _current_index(self) -> EndpointIndex:
        snapshot = self._registry()
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._index = EndpointIndex.from_snapshot(snapshot)
        return self._index


def _duration_ms(common: accesslog_pb2.AccessLogCommon) -> float:
    """Istio's request duration: until the last byte went downstream (else the stream's duration)."""
    d = common.time_to_last_downstream_tx_byte
    if not (d.seconds or d.nanos):
        d = common.duration
    return float(d.seconds * 1000.0 + d.nanos / 1e6)


def _code(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _own_counts(cumulative: list[int]) -> list[int]:
    """Per-bucket counts from Prometheus's cumulative ones."""
    return [c - (cumulative[i - 1] if i else 0) for i, c in enumerate(cumulative)]


def _with_principal(peer: Peer, principal: str) -> Peer:
    if peer.principal == principal:
        return peer
    return Peer(peer.workload, peer.namespace, peer.app, peer.version, principal, peer.kind)
