"""The mesh controller: store events -> registry and config index -> translate -> per-proxy xDS snapshots.

Theory of operation
-------------------
* :class:`MeshState` holds the world as the translator sees it: every config resource by kind and the
  incremental :class:`~mizzen.registry.Registry`. Applying a store event updates it and returns a
  :class:`PushRequest` saying how much output may have changed: a WorkloadEntry only moves endpoints
  (the EDS fast path, clusters are never rebuilt or resent), anything else is a full push.
* :class:`MeshController` keeps one :class:`~mizzen.node.Proxy` per connected Envoy (decoded
  from its node metadata) and runs pushes through a :class:`PushQueue`: a push starts at once when idle,
  and changes arriving during a push coalesce into the next one.
* A push translates each affected proxy (pure), encodes the result (the xds layer caches serialized
  resources by content, so proxies with the same scope share bytes) and hands a per-type snapshot to the
  xDS cache. Per-type content versions mean an unchanged type is never resent.
* Workloads registered by agents (annotation ``mizzen.io/registered-by: agent``) are removed when their
  proxy has been disconnected longer than a grace period, so endpoints never outlive their process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.config.models import Typed, parse
from mizzen.config.resource import Resource
from mizzen.controlplane.pusher import PushQueue, PushRequest
from mizzen.node import Proxy, proxy_from_node
from mizzen.registry import Registry
from mizzen.translate import build_endpoints, sharing, translate
from mizzen.translate.model import MeshConfig, MeshSnapshot, ProxyResources
from mizzen.translate.scope import Scope, build_scope
from mizzen.xds import NodeInfo, Snapshot, SnapshotCache
from mizzen.xds import types as xt
from mizzen.xds.encode import encode
from mizzen.xds.snapshot import EMPTY_VERSION, content_version

log = logging.getLogger("mizzen.mesh")

AGENT_ANNOTATION = "mizzen.io/registered-by"
REGISTRY_KINDS = frozenset({"Service", "ServiceEntry", "WorkloadEntry"})
ENDPOINT_ONLY_KINDS = frozenset({"WorkloadEntry"})


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
            configs = sorted((c for bucket in self._configs.values() for c in bucket.values()), key=_order)
            self._snapshot = MeshSnapshot.of_configs(configs, self.registry.snapshot(), self.mesh_config)
        return self._snapshot

    def resources(self, kind: str) -> list[Resource]:
        return [c.resource for c in sorted(self._configs.get(kind, {}).values(), key=_order)]


@dataclass
class ProxyRecord:
    """A connected (or recently disconnected) proxy and what we last computed for it."""

    proxy: Proxy
    node: NodeInfo
    connected: bool = True
    connected_at: float = field(default_factory=time.time)
    disconnected_at: float | None = None
    last_output: ProxyResources | None = None
    last_error: str = ""
    acked_at: dict[str, tuple[str, float]] = field(default_factory=dict)  # type URL -> (version, epoch s)


class MeshController:
    """Owns the push pipeline between the store and the xDS cache (see the module docstring)."""

    def __init__(
        self,
        cache: SnapshotCache,
        mesh_config: MeshConfig | None = None,
        *,
        delete_workload: Callable[[str, str], Any] | None = None,
        agent_grace_s: float = 10.0,
        startup_grace_s: float = 35.0,
    ) -> None:
        self.cache = cache
        self.state = MeshState(mesh_config or MeshConfig())
        self.proxies: dict[str, ProxyRecord] = {}
        self._queue = PushQueue()
        self._wake = asyncio.Event()
        self._delete_workload = delete_workload
        self._agent_grace_s = agent_grace_s
        # A workload whose proxy has not connected since we first saw its entry (e.g. right after a
        # control-plane restart, while Envoys wait out their reconnect backoff of up to ~30 s) gets longer.
        self._startup_grace_s = max(startup_grace_s, agent_grace_s)
        self._first_seen: dict[tuple[str, str], float] = {}
        self._last_disconnect: dict[tuple[str, str], float] = {}  # outlives the forgotten ProxyRecord
        self._tasks: list[asyncio.Task[None]] = []
        self.revision = 0  # last store revision folded into the state
        self.pushed_revision = 0  # last store revision whose push has completed
        self.push_count = 0
        self.push_errors = 0
        self.last_push_seconds = 0.0
        self.on_push: Callable[[str, float], None] | None = None  # (reason, seconds) for metrics

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._push_loop(), name="mizzen-push"))
        self._tasks.append(asyncio.create_task(self._reaper_loop(), name="mizzen-reaper"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # --- inputs ------------------------------------------------------------------------------
    def on_store_event(self, event_type: str, resource: Resource, revision: int = 0) -> None:
        """Called for every store change, in revision order."""
        self.revision = max(self.revision, revision)
        req = self.state.apply(event_type, resource)
        if req.empty and not self._queue.busy:
            # Nothing to push for this change (e.g. a WorkloadEntry no service selects): it is done.
            self.pushed_revision = max(self.pushed_revision, revision)
        self._request(req)

    @property
    def converged(self) -> bool:
        """True when every store change seen so far has been pushed (acks are the xDS server's side)."""
        return not self._queue.busy and self.pushed_revision >= self.revision

    async def on_connect(self, node: NodeInfo) -> None:
        """A proxy opened an ADS stream: decode its identity and compute its snapshot before serving."""
        proxy = proxy_from_node(node.node_id, node.metadata)
        self.proxies[node.node_id] = ProxyRecord(proxy=proxy, node=node)
        self._compute(node.node_id, full=True)

    async def on_disconnect(self, node: NodeInfo) -> None:
        rec = self.proxies.get(node.node_id)
        if rec is not None and rec.node is node:
            rec.connected = False
            rec.disconnected_at = time.time()

    def on_ack(self, node_id: str, type_url: str, version: str) -> None:
        """The xDS server saw ``node_id`` ACK ``version`` of ``type_url`` (kept for convergence timing)."""
        rec = self.proxies.get(node_id)
        if rec is not None:
            rec.acked_at[type_url] = (version, time.time())

    def _request(self, req: PushRequest) -> None:
        if self._queue.request(req):
            self._wake.set()

    # --- pushing -----------------------------------------------------------------------------
    async def _push_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            req = self._queue.start()
            while req is not None:
                started = time.perf_counter()
                target = self.revision
                await self._push(req)
                self.pushed_revision = max(self.pushed_revision, target)
                self.last_push_seconds = time.perf_counter() - started
                self.push_count += 1
                if self.on_push is not None:
                    self.on_push(",".join(sorted(req.reasons)) or "push", self.last_push_seconds)
                if self._queue.done():
                    req = self._queue.start()
                else:
                    # Nothing pending: every change seen so far was pushed or needed no push.
                    self.pushed_revision = max(self.pushed_revision, self.revision)
                    req = None

    async def _push(self, req: PushRequest) -> None:
        shared = _SharedCache(self.state.snapshot())
        for node_id, rec in list(self.proxies.items()):
            if not rec.connected:
                continue
            self._compute(node_id, full=req.full or node_id in req.proxies, shared=shared)
            await asyncio.sleep(0)  # let ACKs and API requests through between proxies

    def _compute(self, node_id: str, *, full: bool, shared: _SharedCache | None = None) -> None:
        rec = self.proxies.get(node_id)
        if rec is None:
            return
        shared = shared or _SharedCache(self.state.snapshot())
        try:
            if full or rec.last_output is None:
                out, snapshot = shared.full(rec.proxy)
                rec.last_output = out
                self.cache.set(node_id, snapshot)
            else:
                eps, encoded = shared.endpoints(rec.proxy)
                rec.last_output = dataclasses.replace(rec.last_output, endpoints=eps)
                self.cache.update_types(node_id, {xt.ENDPOINT: encoded})
            rec.last_error = ""
        except Exception as exc:  # one proxy's bad output must not stop pushes to the others
            self.push_errors += 1
            rec.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("translating config for %s failed; it keeps its last good config", node_id)

    # --- agent-registered workloads whose proxy went away ------------------------------------
    async def _reaper_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._reap()

    async def _reap(self) -> None:
        now = time.time()
        connected = {(r.proxy.namespace, r.proxy.name) for r in self.proxies.values() if r.connected}
        for node_id, rec in list(self.proxies.items()):
            if not rec.connected and rec.disconnected_at and now - rec.disconnected_at > self._agent_grace_s:
                self._last_disconnect[(rec.proxy.namespace, rec.proxy.name)] = rec.disconnected_at
                del self.proxies[node_id]
                self.cache.remove(node_id)
        if self._delete_workload is None:
            return
        for we in self.state.resources("WorkloadEntry"):
            key = (we.metadata.namespace, we.metadata.name)
            if we.metadata.annotations.get(AGENT_ANNOTATION) != "agent" or key in connected:
                continue
            first = self._first_seen.setdefault(key, now)
            last = self._last_seen(key)
            gone_for = now - last if last is not None else now - first
            grace = self._agent_grace_s if last is not None else self._startup_grace_s
            if gone_for > grace:
                log.info("removing workload %s/%s: its proxy has been gone for more than %.0fs", key[0], key[1], grace)
                self._first_seen.pop(key, None)
                self._last_disconnect.pop(key, None)
                result = self._delete_workload(*key)
                if asyncio.iscoroutine(result):
                    await result

    def _last_seen(self, key: tuple[str, str]) -> float | None:
        for rec in self.proxies.values():
            if (rec.proxy.namespace, rec.proxy.name) == key:
                return rec.disconnected_at
        return self._last_disconnect.get(key)

    # --- read side for the API ---------------------------------------------------------------
    def proxy_by_id(self, proxy_id: str) -> ProxyRecord | None:
        """Find a proxy by Istio proxy id (``name.namespace``), node id, or bare name."""
        for node_id, rec in self.proxies.items():
            if proxy_id in (rec.proxy.id, node_id, rec.proxy.name):
                return rec
        return None

    def workloads(self) -> list[Mapping[str, Any]]:
        """Workload entries joined with what their proxies reported (for ``mizzen get workloads``)."""
        out: list[Mapping[str, Any]] = []
        for we in self.state.resources("WorkloadEntry"):
            rec = self.proxy_by_id(f"{we.metadata.name}.{we.metadata.namespace}")
            out.append({"workloadEntry": we.to_json(), "proxy": proxy_json(rec) if rec else None})
        return out


_TYPES = (
    (xt.CLUSTER, "clusters"),
    (xt.ENDPOINT, "endpoints"),
    (xt.LISTENER, "listeners"),
    (xt.ROUTE, "routes"),
    (xt.SECRET, "secrets"),
)


def _encode_all(res: ProxyResources) -> dict[str, dict[str, bytes]]:
    return {t: encode(t, getattr(res, attr)) for t, attr in _TYPES}


class _SharedCache:
    """One push's memo: shared sidecar resources (translated and encoded) per sharing key.

    Proxies with the same :func:`~mizzen.translate.sharing.sharing_key` get the very same shared
    output, so it is built once per push; only each proxy's own listeners and inbound clusters are built
    per proxy. Gateways are translated whole.
    """

    def __init__(self, mesh: MeshSnapshot) -> None:
        self.mesh = mesh
        self.selectors = sharing.label_selectors(mesh)
        self._shared: dict[Hashable, _Shared] = {}

    def _shared_for(self, proxy: Proxy) -> _Shared | None:
        key = sharing.sharing_key(proxy, self.mesh, self.selectors)
        if key is None:
            return None
        if key not in self._shared:
            scope = build_scope(proxy, self.mesh)
            res = sharing.shared_resources(proxy, self.mesh, scope)
            encoded = _encode_all(res)
            self._shared[key] = _Shared(scope, res, encoded, {t: content_version(r) for t, r in encoded.items()})
        return self._shared[key]

    def full(self, proxy: Proxy) -> tuple[ProxyResources, Snapshot]:
        """The proxy's whole output and its snapshot."""
        shared = self._shared_for(proxy)
        if shared is None:
            out = translate(proxy, self.mesh)
            return out, Snapshot(_encode_all(out))
        # Same key, same scope: only the proxy itself differs (its ports, name, access-log path).
        local = sharing.local_resources(proxy, self.mesh, dataclasses.replace(shared.scope, proxy=proxy))
        local_enc = _encode_all(local)
        types = {t: {**shared.encoded[t], **local_enc[t]} for t, _ in _TYPES}
        # Hash only the proxy's own resources; the shared part's version was computed once per key.
        versions = {t: _combine(shared.versions[t], content_version(local_enc[t])) for t, _ in _TYPES}
        return sharing.merge(shared.resources, local), Snapshot(types, versions)

    def endpoints(self, proxy: Proxy) -> tuple[Mapping[str, Mapping[str, object]], dict[str, bytes]]:
        """Only the proxy's EDS resources (the endpoint fast path)."""
        shared = self._shared_for(proxy)
        if shared is not None:
            return shared.resources.endpoints, shared.encoded[xt.ENDPOINT]
        eps = build_endpoints(proxy, self.mesh)
        return eps, encode(xt.ENDPOINT, eps)


@dataclasses.dataclass(frozen=True)
class _Shared:
    scope: Scope
    resources: ProxyResources
    encoded: dict[str, dict[str, bytes]]
    versions: dict[str, str]


def _combine(shared_version: str, local_version: str) -> str:
    if local_version == EMPTY_VERSION:
        return shared_version
    return hashlib.blake2b(f"{shared_version}/{local_version}".encode(), digest_size=8).hexdigest()


def proxy_json(rec: ProxyRecord) -> dict[str, Any]:
    """A proxy as the API shows it (connection, ports, admin address, last translation error)."""
    p = rec.proxy
    return {
        "id": p.id,
        "type": p.type,
        "connected": rec.connected,
        "nodeId": rec.node.node_id,
        "httpProxy": f"http://127.0.0.1:{p.http_proxy_port}" if p.http_proxy_port else "",
        "admin": str(rec.node.metadata.get("MIZZEN_ADMIN", "")),
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
