"""The push loop: runs :class:`~mizzen.controlplane.pusher.PushQueue` requests against the connected proxies.

A push translates each affected proxy (pure), encodes the result (:class:`PushOutputs` shares the
bytes of alike proxies) and publishes a per-type snapshot to the xDS cache, which checks it: a proxy
whose snapshot is inconsistent, or whose translation fails, keeps its last good config, and the error is
logged with the proxy and every problem and shown by ``proxy-status`` (``lastError``). Revisions tell
when every store change seen so far has been pushed (:attr:`PushLoop.converged`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from mizzen.clock import SYSTEM_CLOCK, Clock
from mizzen.controlplane.incremental import ServiceOutputCache
from mizzen.controlplane.local_outputs import LocalOutputCache
from mizzen.controlplane.outputs import PushOutputs
from mizzen.controlplane.proxies import ProxyRecord, ProxyTable
from mizzen.controlplane.pusher import PushQueue, PushRequest
from mizzen.translate.model import MeshSnapshot
from mizzen.xds import Snapshot, SnapshotCache
from mizzen.xds import types as xt
from mizzen.xds.errors import InconsistentSnapshot
from mizzen.xds.snapshot import Resources

log = logging.getLogger("mizzen.push")


class PushLoop:
    """Runs pushes one at a time, coalescing requests that arrive while one runs (see the module docstring)."""

    def __init__(
        self,
        cache: SnapshotCache,
        proxies: ProxyTable,
        mesh: Callable[[], MeshSnapshot],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.cache = cache
        self._proxies = proxies
        self._mesh = mesh
        self._clock = clock
        self._queue = PushQueue()
        self._wake = asyncio.Event()
        self.revision = 0  # last store revision folded into the mesh state
        self.pushed_revision = 0  # last store revision whose push has completed
        self.push_count = 0
        self.push_errors = 0  # proxies left on their last good config (translation error or inconsistency)
        self.last_push_seconds = 0.0
        self.on_push: Callable[[str, float], None] | None = None  # (reason, seconds) for metrics
        self._service_cache = ServiceOutputCache()  # per-service output, carried across snapshots
        self._local_cache = LocalOutputCache()  # each sidecar's own part, carried across snapshots
        self._outputs: PushOutputs | None = None

    @property
    def converged(self) -> bool:
        """True when every store change seen so far has been pushed (acks are the xDS server's side)."""
        return not self._queue.busy and self.pushed_revision >= self.revision

    def request(self, req: PushRequest, revision: int = 0) -> None:
        """Queue what store change ``revision`` needs recomputed (an empty request is done at once)."""
        self.revision = max(self.revision, revision)
        if req.empty and not self._queue.busy:
            # Nothing to push for this change (e.g. a WorkloadEntry no service selects): it is done.
            self.pushed_revision = max(self.pushed_revision, revision)
        if self._queue.request(req):
            self._wake.set()

    async def run(self) -> None:
        """Push whenever requests are pending, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.drain()

    async def drain(self) -> None:
        """Run pushes until nothing is pending (what :meth:`run` does each time it is woken)."""
        req = self._queue.start()
        while req is not None:
            started = self._clock.monotonic()
            target = self.revision
            await self._push(req)
            self.pushed_revision = max(self.pushed_revision, target)
            self.last_push_seconds = self._clock.monotonic() - started
            self.push_count += 1
            if self.on_push is not None:
                self.on_push(",".join(sorted(req.reasons)) or "push", self.last_push_seconds)
            if self._queue.done():
                req = self._queue.start()
            else:
                # Nothing pending: every change seen so far was pushed or needed no push.
                self.pushed_revision = max(self.pushed_revision, self.revision)
                req = None

    def outputs(self) -> PushOutputs:
        """The outputs of the current mesh snapshot: one per snapshot, shared by pushes and connects."""
        mesh = self._mesh()
        if self._outputs is None or self._outputs.mesh is not mesh:
            self._service_cache.next_generation()
            # Keyed by proxy id (not node id): keep every proxy the table still has a record of.
            known = {self._proxies[n].proxy.id for n in self._proxies}
            self._local_cache.next_generation(known.__contains__)
            self._outputs = PushOutputs(mesh, self._service_cache, self._local_cache)
        return self._outputs

    async def _push(self, req: PushRequest) -> None:
        for node_id, _ in self._proxies.connected():
            self.compute(node_id, full=req.full or node_id in req.proxies)
            await asyncio.sleep(0)  # let ACKs and API requests through between proxies

    def compute(self, node_id: str, *, full: bool) -> None:
        """Translate and publish one proxy's config (only its endpoints unless ``full``)."""
        rec = self._proxies.get(node_id)
        if rec is None:
            return
        outputs = self.outputs()
        try:
            self._publish(node_id, rec, full=full, outputs=outputs)
            rec.last_error = ""
        except InconsistentSnapshot as exc:
            self.push_errors += 1
            rec.last_error = str(exc)
            log.error(
                "not sending config to %s: it keeps its last good config; the new snapshot is inconsistent: %s",
                node_id,
                "; ".join(exc.problems),
            )
        except Exception as exc:  # one proxy's bad output must not stop pushes to the others
            self.push_errors += 1
            rec.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("translating config for %s failed; it keeps its last good config", node_id)

    def _publish(self, node_id: str, rec: ProxyRecord, *, full: bool, outputs: PushOutputs) -> None:
        if full or rec.own_output is None:
            shared, own, snapshot = outputs.full(rec.proxy)
            self.cache.set(node_id, snapshot)
            rec.shared_output, rec.own_output = shared, own
        else:
            eps, encoded, version = outputs.endpoints(rec.proxy)
            self.cache.set(node_id, _with_endpoints(self.cache.get(node_id), encoded, version))
            if rec.shared_output is None:  # a gateway: everything is its own
                rec.own_output = dataclasses.replace(rec.own_output, endpoints=eps)
            else:
                rec.shared_output = dataclasses.replace(rec.shared_output, endpoints=eps)


def _with_endpoints(current: Snapshot | None, endpoints: Resources, version: str) -> Snapshot:
    """``current`` with new endpoints, versioned without rehashing them per proxy (their scope did once)."""
    types = {t: current.resources(t) for t in current.type_urls} if current is not None else {}
    versions = current.versions() if current is not None else {}
    types[xt.ENDPOINT], versions[xt.ENDPOINT] = endpoints, version
    return Snapshot(types, versions)
