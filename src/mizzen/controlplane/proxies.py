"""The proxy records: which Envoys are connected, who they are, what we last computed and when they ACKed.

One :class:`ProxyRecord` per node id, decoded from the node metadata when the stream opens. A record
outlives its stream for the reaper's grace period (so a quick reconnect finds it again), and when it is
forgotten the disconnect time is remembered per workload, because the reaper still needs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.clock import SYSTEM_CLOCK, Clock
from mizzen.node import META_ADMIN, Proxy, proxy_from_node
from mizzen.translate.model import ProxyResources
from mizzen.translate.sharing import merge
from mizzen.xds import NodeInfo

WorkloadKey = tuple[str, str]  # (namespace, name)


@dataclass
class ProxyRecord:
    """A connected (or recently disconnected) proxy and what we last computed for it."""

    proxy: Proxy
    node: NodeInfo
    connected: bool = True
    disconnected_at: float | None = None  # monotonic seconds (the reaper's grace is measured on it)
    # What we last computed, as the part shared with alike proxies and the proxy's own part: the shared
    # part is the same objects for every proxy of a scope, so a record costs only its own resources.
    shared_output: ProxyResources | None = None
    own_output: ProxyResources | None = None
    last_error: str = ""
    acked_at: dict[str, tuple[str, float]] = field(default_factory=dict)  # type URL -> (version, epoch s)

    @property
    def last_output(self) -> ProxyResources | None:
        """The whole output last computed for the proxy (merged on demand: the API reads it rarely)."""
        if self.own_output is None:
            return None
        if self.shared_output is None:
            return self.own_output
        return merge(self.shared_output, self.own_output)

    @property
    def workload(self) -> WorkloadKey:
        """``(namespace, name)`` of the workload this proxy serves."""
        return (self.proxy.namespace, self.proxy.name)


class ProxyTable(Mapping[str, ProxyRecord]):
    """Proxy records by node id (a read-only mapping; change it through the methods)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._records: dict[str, ProxyRecord] = {}
        self._last_disconnect: dict[WorkloadKey, float] = {}  # outlives the forgotten record

    def __getitem__(self, node_id: str) -> ProxyRecord:
        return self._records[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def connect(self, node: NodeInfo) -> ProxyRecord:
        """A stream opened: a fresh record for the node (a reconnect replaces the old one)."""
        rec = ProxyRecord(proxy=proxy_from_node(node.node_id, node.metadata), node=node)
        self._records[node.node_id] = rec
        return rec

    def disconnect(self, node: NodeInfo) -> None:
        """The stream for ``node`` closed (ignored when a newer stream already replaced that record)."""
        rec = self._records.get(node.node_id)
        if rec is not None and rec.node is node:
            rec.connected = False
            rec.disconnected_at = self._clock.monotonic()

    def ack(self, node_id: str, type_url: str, version: str) -> None:
        """Record when ``node_id`` ACKed ``version`` of ``type_url`` (convergence timing)."""
        rec = self._records.get(node_id)
        if rec is not None:
            rec.acked_at[type_url] = (version, self._clock.now())

    def connected(self) -> list[tuple[str, ProxyRecord]]:
        """``(node id, record)`` of every proxy whose stream is open."""
        return [(n, r) for n, r in self._records.items() if r.connected]

    def connected_workloads(self) -> set[WorkloadKey]:
        """Workloads with at least one open stream."""
        return {r.workload for r in self._records.values() if r.connected}

    def forget_disconnected(self, grace_s: float) -> list[str]:
        """Drop records disconnected for longer than ``grace_s``; return their node ids."""
        now = self._clock.monotonic()
        gone = [
            n
            for n, r in self._records.items()
            if not r.connected and r.disconnected_at is not None and now - r.disconnected_at > grace_s
        ]
        for node_id in gone:
            rec = self._records.pop(node_id)
            assert rec.disconnected_at is not None
            self._last_disconnect[rec.workload] = rec.disconnected_at
        return gone

    def last_disconnect(self, key: WorkloadKey) -> float | None:
        """When the workload's proxy was last seen going away (monotonic), or None if it never connected."""
        for rec in self._records.values():
            if rec.workload == key:
                return rec.disconnected_at
        return self._last_disconnect.get(key)

    def forget_workload(self, key: WorkloadKey) -> None:
        """The workload is gone for good: drop what we remembered about its disconnect."""
        self._last_disconnect.pop(key, None)

    def find(self, proxy_id: str) -> ProxyRecord | None:
        """Find a proxy by Istio proxy id (``name.namespace``), node id, or bare name."""
        for node_id, rec in self._records.items():
            if proxy_id in (rec.proxy.id, node_id, rec.proxy.name):
                return rec
        return None


def proxy_json(rec: ProxyRecord) -> dict[str, Any]:
    """A proxy as the API shows it (connection, ports, admin address, last translation or check error)."""
    p = rec.proxy
    return {
        "id": p.id,
        "type": p.type,
        "connected": rec.connected,
        "nodeId": rec.node.node_id,
        "httpProxy": f"http://127.0.0.1:{p.http_proxy_port}" if p.http_proxy_port else "",
        "admin": str(rec.node.metadata.get(META_ADMIN, "")),
        "inbound": [
            {
                "servicePort": i.service_port,
                "listenPort": i.listen_port,
                "appPort": i.app_port,
                "name": i.name,
                "protocol": i.protocol,
            }
            for i in p.inbound
        ],
        "envoyVersion": rec.node.envoy_version,
        "lastError": rec.last_error,
    }
