"""Istio's standard metrics kept by Envoy itself: the names and tags both ends agree on, and their reading.

Theory of operation. Istio's sidecars compute ``istio_requests_total`` and its siblings in a stats filter
stock Envoy lacks. Stock Envoy has the stats access logger (``envoy.access_loggers.stats``): at the end of
every request (or TCP connection) it adds to counters and histograms whose tag values are access-log
format strings. The translator gives every HTTP connection manager and tcp_proxy such a logger, named and
tagged as this module says (:data:`HTTP_METRICS`, :data:`TCP_METRICS`, the tags below), so the per-request
work stays in Envoy's C++; nothing is streamed per request. Readers then scrape Envoy's
``/stats/prometheus?usedonly&filter=^istio\\.`` at an interval and turn the text into Istio's series with
:func:`read`: the control plane over the agent channel (aggregating every proxy), and the agent's merged
per-workload endpoint. Cost grows with proxies x series, never with requests.

Tags. Every Istio label (:data:`HTTP_LABELS`, :data:`TCP_LABELS`) is a tag of the same name, filled by Envoy
from literals (the reporting proxy's own identity, written into its listeners), endpoint metadata
(``%UPSTREAM_METADATA(mizzen:...)%``), cluster metadata (``%CLUSTER_METADATA(mizzen:...)%``) and TLS
(``%UPSTREAM_PEER_URI_SAN%``...). A few are raw and fixed up here:

- ``mz_peer`` (server side only, instead of the ``source_*`` tags): the calling sidecar's identity from the
  :data:`PEER_HEADER` request header its outbound listener adds, :data:`PEER_FIELDS` joined by ``;``.
- ``mz_content_type`` (HTTP, instead of ``request_protocol``): the first 16 characters of the request's
  content-type: ``grpc`` when it is ``application/grpc``, else ``http``. TCP loggers tag ``tcp``.
- ``mz_authority`` (client side): the request's authority, Istio's ``destination_service`` when no cluster
  was picked (a fault abort, a no-route 404).
- ``mz_details`` (server side): response code details / connection termination details, which say
  whether an AuthorizationPolicy denied the request (:data:`RBAC_DENIED`).
- ``connection_security_policy`` is tagged ``unknown`` on the client side, as Istio reports it; on the
  server side it is absent and derived here: ``mutual_tls`` when the peer presented a URI SAN, else ``none``.

Missing values (Envoy prints ``""`` or ``-``) become ``unknown``, as in Istio; a principal list (Envoy joins
several URI SANs with commas) keeps its first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

UNKNOWN = "unknown"
ENVOY_PREFIX = "envoy_"  # Envoy's /stats/prometheus prefixes every stat name with it
# The loggers' ``stat_prefix``: Envoy 1.40 requires a prefix (``stat_prefix``) or a scope (``stats_scope``, which
# the Python protos Mizzen encodes with do not have yet), and joins it with a dot, so Envoy's own name of
# ``istio_requests_total`` is ``istio.requests_total``; its Prometheus exposition turns the dot into ``_``.
STAT_PREFIX = "istio"
ADMIN_QUERY = "usedonly&filter=^istio\\."  # the admin query that selects these stats and nothing else
DEFAULT_CLUSTER = "Kubernetes"  # Istio's default cluster id (source_cluster / destination_cluster)

# Istio's labels, in the order istio-proxy prints them.
HTTP_LABELS = (
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)
TCP_LABELS = tuple(n for n in HTTP_LABELS if n not in ("response_code", "grpc_response_status"))

# Envoy stat name -> kind. The Istio metric's name is the stat's name (Envoy's exposition adds "envoy_").
HTTP_METRICS = {
    "istio_requests_total": "counter",
    "istio_request_duration_milliseconds": "histogram",
    "istio_request_bytes": "histogram",
    "istio_response_bytes": "histogram",
}
TCP_METRICS = {
    "istio_tcp_connections_opened_total": "counter",
    "istio_tcp_connections_closed_total": "counter",
    "istio_tcp_sent_bytes_total": "counter",
    "istio_tcp_received_bytes_total": "counter",
}
HELP = {
    "istio_requests_total": "Requests, by Istio's standard labels.",
    "istio_request_duration_milliseconds": "Request duration in milliseconds.",
    "istio_request_bytes": "Request size (headers and body) in bytes.",
    "istio_response_bytes": "Response size (headers and body) in bytes.",
    "istio_tcp_connections_opened_total": "TCP connections opened.",
    "istio_tcp_connections_closed_total": "TCP connections closed.",
    "istio_tcp_sent_bytes_total": "Bytes sent to the downstream in TCP connections.",
    "istio_tcp_received_bytes_total": "Bytes received from the downstream in TCP connections.",
}

PEER_HEADER = "x-mizzen-peer"
PEER_FIELDS = ("workload", "namespace", "app", "version", "canonical_service", "canonical_revision", "cluster")
PEER_TAG = "mz_peer"
CONTENT_TYPE_TAG = "mz_content_type"
AUTHORITY_TAG = "mz_authority"
DETAILS_TAG = "mz_details"
RAW_TAGS = (PEER_TAG, CONTENT_TYPE_TAG, AUTHORITY_TAG, DETAILS_TAG)
# Envoy's response_code_details / connection_termination_details when an RBAC filter denied:
# "rbac_access_denied_matched_policy[<policy>]" ("[none]" when no ALLOW policy matched).
RBAC_DENIED = "rbac_access_denied"

_IDENTITY = frozenset(n for n in HTTP_LABELS if n.startswith(("source_", "destination_")))
_PEER_LABELS = (
    "source_workload",
    "source_workload_namespace",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
)
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = re.compile(r"\\(.)")


def stat_name(metric: str) -> str:
    """The stat name a logger declares for ``metric`` (under :data:`STAT_PREFIX`): ``requests_total``."""
    return metric.removeprefix(STAT_PREFIX + "_")


def canonical_service(labels: Mapping[str, str], workload: str) -> str:
    """Istio's canonical service of a workload: its ``service.istio.io/canonical-name``,
    ``app.kubernetes.io/name`` or ``app`` label, else the workload name."""
    for key in ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app"):
        if labels.get(key):
            return labels[key]
    return workload


def canonical_revision(labels: Mapping[str, str]) -> str:
    """Istio's canonical revision: ``service.istio.io/canonical-revision``, ``app.kubernetes.io/version``
    or ``version``, else ``latest``."""
    for key in ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"):
        if labels.get(key):
            return labels[key]
    return "latest"


def peer_fields(workload: str, namespace: str, labels: Mapping[str, str]) -> dict[str, str]:
    """A workload's :data:`PEER_FIELDS` (the identity a client sidecar sends, and endpoint metadata holds)."""
    return {
        "workload": workload,
        "namespace": namespace,
        "app": labels.get("app", ""),
        "version": labels.get("version", ""),
        "canonical_service": canonical_service(labels, workload),
        "canonical_revision": canonical_revision(labels),
        "cluster": DEFAULT_CLUSTER,
    }


def peer_header_value(fields: Mapping[str, str]) -> str:
    """The :data:`PEER_HEADER` value naming a proxy (``;`` cannot occur in Kubernetes names or labels)."""
    return ";".join((fields.get(f) or UNKNOWN).replace(";", "_") for f in PEER_FIELDS)


@dataclass(frozen=True)
class SeriesKey:
    """One Istio series: its metric, its label values (in :data:`HTTP_LABELS` / :data:`TCP_LABELS` order),
    and what readers need beyond the labels (a policy denied it; the raw authority when no service)."""

    metric: str
    labels: tuple[str, ...]
    denied: bool = False
    authority: str = ""

    def label_map(self) -> dict[str, str]:
        """The labels by name."""
        names = HTTP_LABELS if self.metric in HTTP_METRICS else TCP_LABELS
        return dict(zip(names, self.labels, strict=True))


@dataclass
class Histogram:
    """A cumulative histogram: counts at or below each upper bound (the last bound is +Inf)."""

    bounds: tuple[float, ...]
    counts: list[int]
    total: int = 0
    sum: float = 0.0

    def add(self, other: Histogram) -> None:
        """Add another histogram with the same bounds (series that differ only in raw tags)."""
        if other.bounds != self.bounds:
            raise ValueError("histograms with different bounds cannot be added")
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.sum += other.sum


@dataclass
class Reading:
    """What one scrape of one proxy said: counter values and histograms by Istio series."""

    counters: dict[SeriesKey, float] = field(default_factory=dict)
    histograms: dict[SeriesKey, Histogram] = field(default_factory=dict)
    dropped: int = 0  # series over the limit, not read


def read(text: str, *, max_series: int = 10000) -> Reading:
    """Istio's series from Envoy's Prometheus text (lines of other stats are ignored).

    Series whose Istio labels are equal after fix-up (e.g. two content types that are both ``http``) are
    added together. At most ``max_series`` distinct series are kept; the rest are counted in ``dropped``.
    """
    reader = _Reader(max_series)
    for line in text.splitlines():
        if line.startswith(ENVOY_PREFIX):
            reader.line(line)
    return reader.finish()


class _Reader:
    def __init__(self, max_series: int) -> None:
        self.reading = Reading()
        self.partial: dict[tuple[str, tuple[tuple[str, str], ...]], _Partial] = {}
        self.max_series = max_series
        # raw tags (less a bucket's le) -> (tags, sorted, le), for this read
        self.parsed: dict[str, tuple[dict[str, str], tuple[tuple[str, str], ...], str | None]] = {}

    def _full(self) -> bool:
        return len(self.reading.counters) + len(self.partial) >= self.max_series

    def line(self, line: str) -> None:
        m = _LINE.match(line)
        if m is None:
            return
        name, raw_labels = m.group(1)[len(ENVOY_PREFIX) :], m.group(2) or ""
        try:
            value = float(m.group(3))
        except ValueError:
            return
        tags, ident, le = self.tags(raw_labels)
        if name in HTTP_METRICS or name in TCP_METRICS:
            self.counter(name, tags, value)
            return
        base, part = _histogram_part(name)
        if base is not None and HTTP_METRICS.get(base) == "histogram":
            self.histogram_line(base, part, tags, ident, le, value)

    def tags(self, raw: str) -> tuple[dict[str, str], tuple[tuple[str, str], ...], str | None]:
        """(tags but ``le``, them sorted, ``le``) of one line; shared dicts, never to be changed. A histogram's
        lines repeat the same tags before their ``le``: parsed once per read, reading is several times faster."""
        base, sep, le = raw.rpartition(',le="')
        bucket: str | None = le[:-1]
        if not sep or not le.endswith('"') or '"' in le[:-1] or "\\" in le:
            base, bucket = raw, None
        parsed = self.parsed.get(base)
        if parsed is None:
            tags = {k: _UNESCAPE.sub(r"\1", v) if "\\" in v else v for k, v in _PAIR.findall(base)}
            own = tags.pop("le", None)
            parsed = self.parsed[base] = (tags, tuple(sorted(tags.items())), own)
        return parsed[0], parsed[1], bucket if bucket is not None else parsed[2]

    def counter(self, name: str, tags: dict[str, str], value: float) -> None:
        counters = self.reading.counters
        key = istio_key(name, tags)
        if key in counters or not self._full():
            counters[key] = counters.get(key, 0.0) + value
        else:
            self.reading.dropped += 1

    def histogram_line(
        self,
        base: str,
        part: str,
        tags: dict[str, str],
        items: tuple[tuple[str, str], ...],
        le: str | None,
        value: float,
    ) -> None:
        ident = (base, items)
        entry = self.partial.get(ident)
        if entry is None:
            if self._full():
                self.reading.dropped += 1
                return
            entry = self.partial[ident] = _Partial(tags)
        if part == "bucket" and le is not None:
            entry.buckets.append((math.inf if le == "+Inf" else float(le), int(value)))
        elif part == "sum":
            entry.sum = value
        elif part == "count":
            entry.count = int(value)

    def finish(self) -> Reading:
        hists = self.reading.histograms
        for (base, _ident), entry in self.partial.items():
            hist = entry.histogram()
            key = istio_key(base, entry.tags)
            known = hists.get(key)
            if known is None:
                hists[key] = hist
            elif known.bounds == hist.bounds:
                known.add(hist)
        return self.reading


def istio_key(metric: str, tags: Mapping[str, str]) -> SeriesKey:
    """The Istio series of one Envoy series: the raw tags fixed up into Istio's labels."""
    http = metric in HTTP_METRICS
    names = HTTP_LABELS if http else TCP_LABELS
    values = dict(tags)
    peer = values.pop(PEER_TAG, None)
    if peer is not None:
        parts = peer.split(";")
        if len(parts) != len(PEER_FIELDS):
            parts = [UNKNOWN] * len(PEER_FIELDS)
        values.update(zip(_PEER_LABELS, parts, strict=True))
    content_type = values.pop(CONTENT_TYPE_TAG, None)
    if http and "request_protocol" not in values:
        values["request_protocol"] = "grpc" if (content_type or "").startswith("application/grpc") else "http"
    authority = values.pop(AUTHORITY_TAG, "")
    details = values.pop(DETAILS_TAG, "")
    for side in ("source_principal", "destination_principal"):
        values[side] = _first(values.get(side, ""))
    if "connection_security_policy" not in values:
        values["connection_security_policy"] = "mutual_tls" if _known(values["source_principal"]) else "none"
    service = values.get("destination_service", "")
    if not _known(service) and _known(authority):
        values["destination_service"] = authority_host(authority)
    grpc = values.get("grpc_response_status", "")
    values["grpc_response_status"] = "" if grpc in ("", "-") else grpc
    out: list[str] = []
    for n in names:
        v = values.get(n, "")
        if n in _IDENTITY and not _known(v):
            v = UNKNOWN
        out.append(v)
    return SeriesKey(metric, tuple(out), details.startswith(RBAC_DENIED), "" if _known(service) else authority)


def render(readings: Iterable[Reading]) -> str:
    """Istio's metrics in Prometheus text (the merged endpoint), the readings' series added together."""
    counters: dict[tuple[str, tuple[str, ...]], float] = {}
    hists: dict[tuple[str, tuple[str, ...]], Histogram] = {}
    for reading in readings:
        for key, value in reading.counters.items():
            k = (key.metric, key.labels)
            counters[k] = counters.get(k, 0.0) + value
        for key, hist in reading.histograms.items():
            k = (key.metric, key.labels)
            known = hists.get(k)
            if known is None:
                hists[k] = Histogram(hist.bounds, list(hist.counts), hist.total, hist.sum)
            elif known.bounds == hist.bounds:
                known.add(hist)
    lines: list[str] = []
    for metric, kind in (*HTTP_METRICS.items(), *TCP_METRICS.items()):
        names = HTTP_LABELS if metric in HTTP_METRICS else TCP_LABELS
        if kind == "counter":
            rows = sorted((labels, v) for (m, labels), v in counters.items() if m == metric)
            body = [f"{metric}{{{_labels(names, labels)}}} {_num(v)}" for labels, v in rows]
        else:
            hrows = sorted((labels, h) for (m, labels), h in hists.items() if m == metric)
            body = [row for labels, h in hrows for row in _histogram_rows(metric, _labels(names, labels), h)]
        if body:
            lines += [f"# HELP {metric} {HELP[metric]}", f"# TYPE {metric} {kind}", *body]
    return "\n".join(lines) + "\n" if lines else ""


def _histogram_rows(metric: str, base: str, h: Histogram) -> list[str]:
    rows = []
    for bound, count in zip(h.bounds, h.counts, strict=True):
        le = "+Inf" if math.isinf(bound) else _num(bound)
        rows.append(f'{metric}_bucket{{{base},le="{le}"}} {count}')
    rows.append(f"{metric}_sum{{{base}}} {_num(h.sum)}")
    rows.append(f"{metric}_count{{{base}}} {h.total}")
    return rows


@dataclass
class _Partial:
    tags: dict[str, str]
    buckets: list[tuple[float, int]] = field(default_factory=list)
    sum: float = 0.0
    count: int = 0

    def histogram(self) -> Histogram:
        buckets = sorted(self.buckets)
        if not buckets or not math.isinf(buckets[-1][0]):
            buckets.append((math.inf, self.count))
        return Histogram(tuple(b for b, _ in buckets), [c for _, c in buckets], self.count, self.sum)


def _histogram_part(name: str) -> tuple[str | None, str]:
    for part in ("bucket", "sum", "count"):
        if name.endswith("_" + part):
            return name[: -len(part) - 1], part
    return None, ""


def _known(value: str) -> bool:
    return value not in ("", "-", UNKNOWN)


def _first(value: str) -> str:
    first = value.split(",", 1)[0].strip()
    return first if _known(first) else UNKNOWN


def authority_host(authority: str) -> str:
    """The host of an HTTP authority (``reviews:9080`` -> ``reviews``; an IPv6 literal keeps its brackets)."""
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
