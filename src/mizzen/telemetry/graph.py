"""The dashboard's views of recent traffic: a Kiali-style versioned mesh graph and per-service series.

Graph shape: ``source -> service`` edges (what each gateway or workload calls) and ``service ->
workload version`` edges (where the service's traffic landed), the latter with ``share``: the fraction
of the service's traffic (with a known destination workload) that reached that version, which is what
makes a 50/50 canary visible at a glance.
"""

from __future__ import annotations

from collections import defaultdict

from mizzen.telemetry.model import UNKNOWN
from mizzen.telemetry.series import STEP_S, Bucket, TrafficKey, TrafficSeries, node_json, summarize


def graph(series: TrafficSeries, now: float, window_s: float) -> dict[str, object]:
    """Nodes and edges over the last ``window_s`` seconds; idle edges kept (rps 0) so the layout is stable."""
    series.prune(now)
    to_service: dict[tuple[str, str], Bucket] = defaultdict(Bucket)
    to_workload: dict[tuple[str, str], Bucket] = defaultdict(Bucket)
    protocols: dict[tuple[str, str], str] = {}
    for key in series.rings:
        source, service, destination = key
        b = series.window(key, now, window_s)
        to_service[(source, service)].merge(b)
        protocols[(source, service)] = series.protocols[key]
        if destination != UNKNOWN:
            to_workload[(service, destination)].merge(b)
            protocols[(service, destination)] = series.protocols[key]
    landed: dict[str, int] = defaultdict(int)
    for (service, _dest), b in to_workload.items():
        landed[service] += b.requests
    edges: list[dict[str, object]] = []
    for (source, service), b in sorted(to_service.items()):
        edges.append(_edge(source, f"service:{service}", b, window_s, protocols[(source, service)]))
    for (service, dest), b in sorted(to_workload.items()):
        edge = _edge(f"service:{service}", dest, b, window_s, protocols[(service, dest)])
        edge["share"] = round(b.requests / landed[service], 4) if landed[service] else 0.0
        edges.append(edge)
    return {"window": window_s, "timestamp": now, "nodes": _nodes(series), "edges": edges}


def _nodes(series: TrafficSeries) -> list[dict[str, object]]:
    nodes = [node_json(peer) for peer in series.peers.values()]
    if any(src == UNKNOWN for src, _, _ in series.rings):
        nodes.append(
            {
                "id": UNKNOWN,
                "type": "unknown",
                "name": UNKNOWN,
                "namespace": UNKNOWN,
                "app": UNKNOWN,
                "version": UNKNOWN,
                "label": UNKNOWN,
            }
        )
    for ref in series.services.values():
        nodes.append(
            {
                "id": ref.node_key,
                "type": "service",
                "name": ref.name,
                "namespace": ref.namespace,
                "hostname": ref.hostname,
                "label": ref.name,
            }
        )
    return sorted(nodes, key=lambda n: str(n["id"]))


def _edge(source: str, target: str, b: Bucket, window_s: float, protocol: str) -> dict[str, object]:
    return {
        "id": f"{source}->{target}",
        "source": source,
        "target": target,
        "protocol": protocol,
        **summarize(b, window_s),
    }


def find_service(series: TrafficSeries, name: str) -> str | None:
    """The hostname for ``reviews``, ``reviews.default`` or ``reviews.default.svc.cluster.local``."""
    for hostname, ref in series.services.items():
        if name in (hostname, ref.name, f"{ref.name}.{ref.namespace}"):
            return hostname
    return None


def service_series(series: TrafficSeries, name: str, now: float, window_s: float) -> dict[str, object]:
    """Per-step rate, error rate and p50/p90/p99 for a service, with per-version request rates."""
    hostname = find_service(series, name)
    keys: list[TrafficKey] = [k for k in series.rings if k[1] == hostname] if hostname else []
    points = []
    for t, b in series.timeline(keys, now, window_s):
        point = summarize(b, float(STEP_S))
        point["t"] = t
        points.append(point)
    versions: dict[str, list[float]] = {}
    for dest in sorted({k[2] for k in keys if k[2] != UNKNOWN}):
        dest_keys = [k for k in keys if k[2] == dest]
        peer = series.peers.get(dest)
        label = peer.version if peer and peer.version != UNKNOWN else dest
        versions[label] = [b.requests / STEP_S for _, b in series.timeline(dest_keys, now, window_s)]
    total = Bucket()
    for k in keys:
        total.merge(series.window(k, now, window_s))
    ref = series.services.get(hostname or "")
    return {
        "service": hostname or name,
        "name": ref.name if ref else name,
        "namespace": ref.namespace if ref else UNKNOWN,
        "found": hostname is not None,
        "window": window_s,
        "step": STEP_S,
        "summary": summarize(total, window_s),
        "points": points,
        "versions": versions,
    }
