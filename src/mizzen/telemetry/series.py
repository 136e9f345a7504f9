"""Recent traffic in time buckets, for the dashboard's live graph and per-service charts.

Prometheus counters answer "how many since start"; the dashboard needs "how much in the last minute"
without a Prometheus server. Each traffic key (source node, destination service, destination workload)
keeps a ring of fixed-width buckets with a count, an error count and a fine latency histogram;
percentiles over a window merge the histograms. Memory is bounded by keys x retention / step.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mizzen.telemetry.model import UNKNOWN, Peer, ServiceRef

STEP_S = 5
# Geometric latency bins (x1.15 from 0.1 ms to ~10 min): percentiles within ~7% without storing samples.
LATENCY_BOUNDS = tuple(0.1 * 1.15**i for i in range(112))


@dataclass
class Bucket:
    """Traffic in one time step for one key."""

    requests: int = 0
    errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)  # bin index -> count
    # What the server side saw of the same hop (its own entries, not counted as requests again):
    # connections over mutual TLS or plaintext, and requests its AuthorizationPolicies denied.
    mtls: int = 0
    plaintext: int = 0
    denied: int = 0

    def add(self, duration_ms: float, error: bool) -> None:
        """Count one request with its latency and whether it failed."""
        self.requests += 1
        self.errors += int(error)
        i = bisect.bisect_left(LATENCY_BOUNDS, duration_ms)
        self.latency[i] = self.latency.get(i, 0) + 1

    def add_many(self, requests: int, errors: int, latency: Mapping[int, int]) -> None:
        """Count ``requests`` at once (a scraped delta), ``latency`` already binned (:func:`latency_bins`)."""
        self.requests += requests
        self.errors += errors
        for i, n in latency.items():
            self.latency[i] = self.latency.get(i, 0) + n

    def merge(self, other: Bucket) -> None:
        """Add another bucket's counts to this one."""
        self.requests += other.requests
        self.errors += other.errors
        self.mtls += other.mtls
        self.plaintext += other.plaintext
        self.denied += other.denied
        for i, n in other.latency.items():
            self.latency[i] = self.latency.get(i, 0) + n


def percentile(latency: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a binned latency distribution, interpolated inside its bin."""
    total = sum(latency.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i in sorted(latency):
        n = latency[i]
        if seen + n >= rank:
            lo = LATENCY_BOUNDS[i - 1] if i > 0 else 0.0
            hi = LATENCY_BOUNDS[i] if i < len(LATENCY_BOUNDS) else lo * 1.15
            frac = (rank - seen) / n if n else 1.0
            return round(lo + (hi - lo) * frac, 3)
        seen += n
    return round(LATENCY_BOUNDS[-1], 3)


def latency_bins(bounds: Sequence[float], counts: Sequence[int]) -> dict[int, int]:
    """Envoy histogram bucket counts (``counts[i]`` observations in ``(bounds[i-1], bounds[i]]``, the last
    bound +Inf) placed in :data:`LATENCY_BOUNDS` bins, spread evenly in value within each Envoy bucket.

    Envoy's buckets are coarse (10, 25, 50, 100 ms...); spreading linearly is what Prometheus's
    ``histogram_quantile`` assumes too, so the dashboard's percentiles agree with a Prometheus query on the
    same numbers instead of all sitting on a bucket's edge. Observations past the last finite bound go in
    the bin of that bound. Cost: at most the fine bins an Envoy bucket spans (<= 112) per bucket.
    """
    out: dict[int, int] = {}
    lo = 0.0
    for hi, n in zip(bounds, counts, strict=True):
        if n > 0:
            if math.isinf(hi):
                _put(out, bisect.bisect_left(LATENCY_BOUNDS, lo), n)
            else:
                _spread(out, lo, hi, n)
        if not math.isinf(hi):
            lo = hi
    return out


def _spread(out: dict[int, int], lo: float, hi: float, n: int) -> None:
    first, last = bisect.bisect_left(LATENCY_BOUNDS, lo), bisect.bisect_left(LATENCY_BOUNDS, hi)
    if first == last or n <= last - first + 1:
        # Few observations: each at its evenly spaced position (the k-th of n at (k + 1/2) / n of the way).
        for k in range(n):
            _put(out, bisect.bisect_left(LATENCY_BOUNDS, lo + (hi - lo) * (k + 0.5) / n), 1)
        return
    # Many: each fine bin gets its share of the bucket's width (largest remainders round to integers).
    shares = []
    for i in range(first, last + 1):
        b_lo = max(lo, LATENCY_BOUNDS[i - 1] if i > 0 else 0.0)
        b_hi = min(hi, LATENCY_BOUNDS[i] if i < len(LATENCY_BOUNDS) else hi)
        shares.append((i, n * max(0.0, b_hi - b_lo) / (hi - lo)))
    placed = {i: int(share) for i, share in shares}
    rest = n - sum(placed.values())
    for i, _share in sorted(shares, key=lambda s: s[1] - int(s[1]), reverse=True)[:rest]:
        placed[i] += 1
    for i, count in placed.items():
        _put(out, i, count)


def _put(out: dict[int, int], i: int, n: int) -> None:
    if n:
        out[i] = out.get(i, 0) + n


TrafficKey = tuple[str, str, str]  # (source node key, service hostname, destination node key)


class TrafficSeries:
    """Bucketed recent traffic per (source, service, destination workload), plus the nodes seen."""

    def __init__(self, *, retention_s: int = 900, max_keys: int = 2000) -> None:
        self.retention_s = retention_s
        self.max_keys = max_keys
        self.rings: dict[TrafficKey, dict[int, Bucket]] = {}
        self.protocols: dict[TrafficKey, str] = {}
        self.peers: dict[str, Peer] = {}
        self.services: dict[str, ServiceRef] = {}
        self.dropped = 0
        self._pruned_at = 0.0

    def add(
        self,
        now: float,
        source: Peer,
        service: ServiceRef,
        destination: Peer,
        *,
        protocol: str,
        duration_ms: float,
        error: bool,
    ) -> None:
        """Count one request (or TCP connection) at time ``now``."""
        bucket = self._bucket(now, source, service, destination, protocol)
        if bucket is not None:
            bucket.add(duration_ms, error)

    def add_many(
        self,
        now: float,
        source: Peer,
        service: ServiceRef,
        destination: Peer,
        *,
        protocol: str,
        requests: int,
        errors: int,
        latency: Mapping[int, int],
    ) -> None:
        """Count ``requests`` (``errors`` of them failed) at time ``now``: what a scrape saw since the last."""
        bucket = self._bucket(now, source, service, destination, protocol)
        if bucket is not None:
            bucket.add_many(requests, errors, latency)

    def observe_server(
        self,
        now: float,
        source: Peer,
        service: ServiceRef,
        destination: Peer,
        *,
        protocol: str,
        mtls: bool,
        denied: bool,
        count: int = 1,
    ) -> None:
        """Record what the destination's sidecar saw of one request of this hop: whether it arrived over
        mutual TLS, and whether an AuthorizationPolicy denied it (the request itself is counted once,
        from the client's entry, by :meth:`add`); ``count`` requests at once for a scraped delta."""
        bucket = self._bucket(now, source, service, destination, protocol)
        if bucket is not None:
            bucket.mtls += count * int(mtls)
            bucket.plaintext += count * int(not mtls)
            bucket.denied += count * int(denied)

    def _bucket(self, now: float, source: Peer, service: ServiceRef, destination: Peer, protocol: str) -> Bucket | None:
        key = (source.node_key, service.hostname, destination.node_key)
        ring = self.rings.get(key)
        if ring is None:
            if len(self.rings) >= self.max_keys:
                self.dropped += 1  # bounded memory beats completeness for a live view
                return None
            ring = self.rings[key] = {}
            self.protocols[key] = protocol
            for peer in (source, destination):
                if peer.kind != "unknown":
                    self.peers[peer.node_key] = peer
            self.services[service.hostname] = service
        slot = int(now // STEP_S)
        bucket = ring.get(slot)
        if bucket is None:
            bucket = ring[slot] = Bucket()
            self._expire(ring, slot)
        return bucket

    def _expire(self, ring: dict[int, Bucket], slot: int) -> None:
        oldest = slot - self.retention_s // STEP_S
        for old in [s for s in ring if s < oldest]:
            del ring[old]

    def prune(self, now: float, every_s: float = 30.0) -> None:
        """Forget traffic older than the retention, and keys and nodes left without any (workloads gone)."""
        if now - self._pruned_at < every_s:
            return
        self._pruned_at = now
        slot = int(now // STEP_S)
        for key in list(self.rings):
            ring = self.rings[key]
            self._expire(ring, slot)
            if not ring:
                del self.rings[key]
                del self.protocols[key]
        nodes = {k[0] for k in self.rings} | {k[2] for k in self.rings}
        self.peers = {k: v for k, v in self.peers.items() if k in nodes}
        hosts = {k[1] for k in self.rings}
        self.services = {k: v for k, v in self.services.items() if k in hosts}

    def window(self, key: TrafficKey, now: float, window_s: float) -> Bucket:
        """Everything ``key`` carried in the last ``window_s`` seconds, merged into one bucket."""
        first = int((now - window_s) // STEP_S) + 1
        merged = Bucket()
        for slot, bucket in self.rings.get(key, {}).items():
            if slot >= first:
                merged.merge(bucket)
        return merged

    def timeline(self, keys: Iterable[TrafficKey], now: float, window_s: float) -> list[tuple[int, Bucket]]:
        """Per-step merged buckets over the window, oldest first, empty steps included."""
        last = int(now // STEP_S)
        first = last - max(1, math.ceil(window_s / STEP_S)) + 1
        steps = {slot: Bucket() for slot in range(first, last + 1)}
        for key in keys:
            for slot, bucket in self.rings.get(key, {}).items():
                if slot in steps:
                    steps[slot].merge(bucket)
        return [(slot * STEP_S, steps[slot]) for slot in sorted(steps)]


def is_error(response_code: int) -> bool:
    """Errors as Kiali colours them: 5xx, and no response at all (code 0)."""
    return response_code >= 500 or response_code == 0


def summarize(bucket: Bucket, window_s: float) -> dict[str, object]:
    """Rate, error rate and latency percentiles of a merged bucket."""
    n = bucket.requests
    return {
        "requests": n,
        "errors": bucket.errors,
        "rps": round(n / window_s, 3) if window_s > 0 else 0.0,
        "errorRate": round(bucket.errors / n, 4) if n else 0.0,
        "p50": percentile(bucket.latency, 0.50),
        "p90": percentile(bucket.latency, 0.90),
        "p99": percentile(bucket.latency, 0.99),
        "denied": bucket.denied,
        "security": security_policy(bucket),
    }


def security_policy(bucket: Bucket) -> str | None:
    """``mutual_tls`` or ``none`` (Istio's connection_security_policy) when the server saw only that,
    ``mixed`` when it saw both, ``None`` when no server-side entry came (e.g. the destination has no sidecar)."""
    if bucket.mtls and bucket.plaintext:
        return "mixed"
    if bucket.mtls:
        return "mutual_tls"
    return "none" if bucket.plaintext else None


def node_json(peer: Peer) -> dict[str, object]:
    """A graph node as the dashboard reads it: id, type, workload, namespace, app, version and a label."""
    label = (
        peer.workload
        if peer.kind == "gateway"
        else (f"{peer.app} {peer.version}" if peer.app != UNKNOWN and peer.version != UNKNOWN else peer.workload)
    )
    return {
        "id": peer.node_key,
        "type": peer.kind,
        "name": peer.workload,
        "namespace": peer.namespace,
        "app": peer.app,
        "version": peer.version,
        "label": label,
    }
