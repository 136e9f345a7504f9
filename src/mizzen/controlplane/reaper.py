"""The reaper: agent-registered workloads whose proxy went away are deleted, so endpoints never outlive a process.

A WorkloadEntry the agent registered (annotation ``mizzen.io/registered-by``: ``agent`` or ``gateway``) is
deleted once its proxy has been disconnected for longer than the agent grace. An entry whose proxy we have never seen
(right after a control-plane restart, while Envoys wait out a reconnect backoff of up to ~30 s) gets the
longer start-up grace, counted from when the reaper first saw the entry. Proxy records themselves are
forgotten after the agent grace. Time comes from the injected clock; :meth:`Reaper.reap` is one pass and
:meth:`Reaper.run` repeats it.

With several replicas on one store only the leader deletes (:attr:`Reaper.leading`), and a workload
connected to any live replica counts as connected (:attr:`Reaper.elsewhere`); every replica still
forgets its own old proxy records and notes when it first saw each entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from mizzen.clock import SYSTEM_CLOCK, Clock
from mizzen.config.resource import Resource
from mizzen.controlplane.proxies import ProxyTable, WorkloadKey

log = logging.getLogger("mizzen.reaper")

AGENT_ANNOTATION = "mizzen.io/registered-by"
AGENT_REGISTRANTS = frozenset({"agent", "gateway"})  # `mizzen run` workloads and `mizzen gateway`s
DeleteWorkload = Callable[[str, str], Awaitable[None] | None]


class Reaper:
    """Deletes agent-registered workloads whose proxy is gone (see the module docstring)."""

    def __init__(
        self,
        proxies: ProxyTable,
        workload_entries: Callable[[], Sequence[Resource]],
        *,
        delete_workload: DeleteWorkload | None = None,
        forget_node: Callable[[str], None] = lambda node_id: None,
        agent_grace_s: float = 10.0,
        startup_grace_s: float = 35.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._proxies = proxies
        self._entries = workload_entries
        self._delete = delete_workload
        self._forget_node = forget_node
        self._clock = clock
        self.agent_grace_s = agent_grace_s
        self.startup_grace_s = max(startup_grace_s, agent_grace_s)
        self._first_seen: dict[WorkloadKey, float] = {}
        self._seen_elsewhere: dict[WorkloadKey, float] = {}  # last time another replica had it connected
        self.leading: Callable[[], bool] = lambda: True  # only the leader replica deletes
        self.elsewhere: Callable[[], set[WorkloadKey]] = set  # workloads connected to other replicas

    async def run(self, interval_s: float = 1.0) -> None:
        """Reap every ``interval_s`` seconds of the clock, until cancelled."""
        while True:
            await self._clock.sleep(interval_s)
            try:
                await self.reap()
            except Exception:  # keep reaping: one failed delete must not leave every later entry behind
                log.exception("reaping workloads failed; trying again in %.0fs", interval_s)

    async def reap(self) -> None:
        """One pass: forget long-gone proxy records, then delete the entries whose proxy is gone too long."""
        for node_id in self._proxies.forget_disconnected(self.agent_grace_s):
            self._forget_node(node_id)
        if self._delete is None:
            return
        now = self._clock.monotonic()
        elsewhere = self.elsewhere()
        for key in elsewhere:
            self._seen_elsewhere[key] = now
        connected = self._proxies.connected_workloads() | elsewhere
        leading = self.leading()
        for we in self._entries():
            key = (we.metadata.namespace, we.metadata.name)
            if we.metadata.annotations.get(AGENT_ANNOTATION) not in AGENT_REGISTRANTS or key in connected:
                continue
            first = self._first_seen.setdefault(key, now)
            if not leading:
                continue
            last = self._last_seen(key)
            gone_for = now - (last if last is not None else first)
            grace = self.agent_grace_s if last is not None else self.startup_grace_s
            if gone_for > grace:
                log.info("removing workload %s/%s: its proxy has been gone for more than %.0fs", key[0], key[1], grace)
                self._first_seen.pop(key, None)
                self._seen_elsewhere.pop(key, None)
                self._proxies.forget_workload(key)
                result = self._delete(*key)
                if asyncio.iscoroutine(result):
                    await result

    def _last_seen(self, key: WorkloadKey) -> float | None:
        """When the workload's proxy was last seen connected here or at another replica (monotonic)."""
        times = [t for t in (self._proxies.last_disconnect(key), self._seen_elsewhere.get(key)) if t is not None]
        return max(times) if times else None
