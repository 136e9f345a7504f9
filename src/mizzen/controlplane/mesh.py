"""The mesh controller: store events -> registry and config index -> translate -> per-proxy xDS snapshots.

Theory of operation
-------------------
* :class:`MeshState` holds the world as the translator sees it: every config resource by kind and the
  incremental :class:`~mizzen.registry.Registry`. Applying a store event updates it and returns a
  :class:`PushRequest` saying how much output may have changed: a WorkloadEntry only moves endpoints
  (the EDS fast path, clusters are never rebuilt or resent), anything else is a full push.
* :class:`MeshController` wires three parts that each take the same injected clock:
  :class:`~mizzen.controlplane.proxies.ProxyTable` (one record per connected Envoy, decoded from its
  node metadata), :class:`~mizzen.controlplane.pushloop.PushLoop` (a push starts at once when idle;
  changes arriving during a push coalesce into the next one; every snapshot is checked before it is
  published) and :class:`~mizzen.controlplane.reaper.Reaper` (agent-registered workloads whose proxy
  has been gone longer than a grace period are removed, so endpoints never outlive their process).
* A push translates each affected proxy (pure), encodes the result (the xds layer caches serialized
  resources by content, so proxies with the same scope share bytes) and hands a per-type snapshot to the
  xDS cache. Per-type content versions mean an unchanged type is never resent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from mizzen import gatewayapi
from mizzen.clock import SYSTEM_CLOCK, Clock
from mizzen.config.models import Typed, parse
from mizzen.config.resource import Resource
from mizzen.controlplane.heap import HeapKeeper
from mizzen.controlplane.proxies import ProxyRecord, ProxyTable, proxy_json
from mizzen.controlplane.pusher import PushRequest
from mizzen.controlplane.pushloop import PushLoop
from mizzen.controlplane.reaper import DeleteWorkload, Reaper
from mizzen.registry import Registry
from mizzen.registry.registry import REGISTRY_KINDS
from mizzen.translate.model import MeshConfig, MeshSnapshot
from mizzen.xds import NodeInfo, SnapshotCache

ENDPOINT_ONLY_KINDS = frozenset({"WorkloadEntry", "Endpoints", "EndpointSlice"})


def _order(r: Typed[object]) -> tuple[str, str, str]:
    return (r.metadata.creation_timestamp, r.metadata.namespace, r.metadata.name)


class MeshState:
    """Config resources by kind, each parsed once into its typed model, plus the incremental registry;
    produces immutable MeshSnapshots."""

    def __init__(self, mesh_config: MeshConfig) -> None:
        self.mesh_config = mesh_config
        self.registry = Registry()
        self._configs: dict[str, dict[tuple[str, str], Typed[object]]] = {}
        self._snapshot: MeshSnapshot | None = None
        self._gateway_api = gatewayapi.Converter()

    def apply(self, event_type: str, resource: Resource) -> PushRequest:
        """Fold one store change into the state; return what must be recomputed."""
        kind = resource.kind
        key = (resource.metadata.namespace, resource.metadata.name)
        bucket = self._configs.setdefault(kind, {})
        config = parse(resource)
        if event_type == "DELETED":
            bucket.pop(key, None)
        else:
            bucket[key] = config
        self._snapshot = None
        reason = f"{event_type.lower()} {kind} {key[0]}/{key[1]}"
        if kind in REGISTRY_KINDS:
            changed = self.registry.apply(event_type, config)
            if kind in ENDPOINT_ONLY_KINDS:
                return PushRequest(endpoints=set(changed), reasons={reason})
        return PushRequest(full=True, reasons={reason})

    def snapshot(self) -> MeshSnapshot:
        """The current world, rebuilt lazily after changes."""
        if self._snapshot is None:
            configs = [c for bucket in self._configs.values() for c in bucket.values()]
            # The Gateway API joins as the Istio Gateways/VirtualServices istiod would generate from it.
            configs += [parse(r) for r in self._gateway_api(c.resource for c in configs).resources]
            configs.sort(key=_order)
            self._snapshot = MeshSnapshot.of_configs(configs, self.registry.snapshot(), self.mesh_config)
        return self._snapshot

    def resources(self, kind: str) -> list[Resource]:
        """The resources of one kind in Istio's order (creation time, namespace, name)."""
        return [c.resource for c in sorted(self._configs.get(kind, {}).values(), key=_order)]


class MeshController:
    """The mesh's moving parts behind one set of inputs (store events, xDS connects, ACKs) and read views."""

    def __init__(
        self,
        cache: SnapshotCache,
        mesh_config: MeshConfig | None = None,
        *,
        delete_workload: DeleteWorkload | None = None,
        agent_grace_s: float = 10.0,
        startup_grace_s: float = 35.0,
        clock: Clock = SYSTEM_CLOCK,
        manage_heap: bool = False,
    ) -> None:
        """``manage_heap``: keep full garbage collections off the push path (:mod:`~mizzen.controlplane.heap`;
        for the control-plane process, not for a test runner's)."""
        self.cache = cache
        self.state = MeshState(mesh_config or MeshConfig())
        self.proxies = ProxyTable(clock)
        self.pusher = PushLoop(cache, self.proxies, self.state.snapshot, clock)
        self.reaper = Reaper(
            self.proxies,
            lambda: self.state.resources("WorkloadEntry"),
            delete_workload=delete_workload,
            forget_node=cache.remove,
            agent_grace_s=agent_grace_s,
            startup_grace_s=startup_grace_s,
            clock=clock,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._pushes_seen = 0
        self.heap = HeapKeeper(self._pushing, clock=clock) if manage_heap else None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the push loop and the reaper (in the running event loop)."""
        self._tasks.append(asyncio.create_task(self.pusher.run(), name="mizzen-push"))
        self._tasks.append(asyncio.create_task(self.reaper.run(), name="mizzen-reaper"))
        if self.heap is not None:
            self._tasks.append(asyncio.create_task(self.heap.run(), name="mizzen-heap"))

    def _pushing(self) -> bool:
        """Whether a push is pending or ran since the last call (the heap keeper's idea of busy)."""
        seen, self._pushes_seen = self._pushes_seen, self.pusher.push_count
        return seen != self._pushes_seen or not self.pusher.converged

    async def stop(self) -> None:
        """Cancel the push loop and the reaper and wait for them."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # --- inputs ------------------------------------------------------------------------------
    def on_store_event(self, event_type: str, resource: Resource, revision: int = 0) -> None:
        """Called for every store change, in revision order."""
        self.pusher.request(self.state.apply(event_type, resource), revision)

    async def on_connect(self, node: NodeInfo) -> None:
        """A proxy opened an ADS stream: decode its identity and compute its snapshot before serving."""
        self.proxies.connect(node)
        self.pusher.compute(node.node_id, full=True)

    async def on_disconnect(self, node: NodeInfo) -> None:
        """A proxy's ADS stream closed: its record waits out the reaper's grace."""
        self.proxies.disconnect(node)

    def on_ack(self, node_id: str, type_url: str, version: str) -> None:
        """The xDS server saw ``node_id`` ACK ``version`` of ``type_url`` (kept for convergence timing)."""
        self.proxies.ack(node_id, type_url, version)

    # --- push progress (the push loop's, for the API and metrics) ----------------------------
    @property
    def converged(self) -> bool:
        """True when every store change seen so far has been pushed."""
        return self.pusher.converged

    @property
    def revision(self) -> int:
        """The last store revision folded into the state."""
        return self.pusher.revision

    @revision.setter
    def revision(self, value: int) -> None:
        self.pusher.revision = value

    @property
    def pushed_revision(self) -> int:
        """The last store revision whose push has completed."""
        return self.pusher.pushed_revision

    @pushed_revision.setter
    def pushed_revision(self, value: int) -> None:
        self.pusher.pushed_revision = value

    @property
    def push_count(self) -> int:
        """Pushes run so far."""
        return self.pusher.push_count

    @property
    def push_errors(self) -> int:
        """Proxies left on their last good config (translation failed or the snapshot was inconsistent)."""
        return self.pusher.push_errors

    @property
    def last_push_seconds(self) -> float:
        """Duration of the last push."""
        return self.pusher.last_push_seconds

    # --- read views for the API ----------------------------------------------------------------
    def proxy_by_id(self, proxy_id: str) -> ProxyRecord | None:
        """Find a proxy by Istio proxy id (``name.namespace``), node id, or bare name."""
        return self.proxies.find(proxy_id)

    def workloads(self) -> list[Mapping[str, Any]]:
        """Workload entries joined with what their proxies reported (for ``mizzen get workloads``)."""
        out: list[Mapping[str, Any]] = []
        for we in self.state.resources("WorkloadEntry"):
            rec = self.proxies.find(f"{we.metadata.name}.{we.metadata.namespace}")
            out.append({"workloadEntry": we.to_json(), "proxy": proxy_json(rec) if rec else None})
        return out
