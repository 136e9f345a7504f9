"""Python's full garbage collections kept off the push path (the control-plane process only).

A control plane for thousands of proxies holds millions of container objects (translated config, encoded
resources, stream state), and CPython's cyclic collector walks all of them in a generation-2 collection:
550 ms at 1000 services and 2000 proxies, measured in-process, started whenever enough objects survived
the younger generations, so in the middle of a push about every third one. Nearly all of these objects
are freed by reference counting; the collector is only needed for cycles.

So what is alive is frozen every second (:func:`gc.freeze`: moved out of the collector's generations,
still freed by reference counting as usual), and collections during a push walk only what is newer than
that. Cycles among frozen objects are found by a full collection (unfreeze, collect, freeze again) at
most every ``full_every_s`` and only when no push ran for ``quiet_s``: one pause of that length, when
nothing waits on the control plane, instead of one in a push. A control plane that is never quiet (endpoints
churning every few seconds) still collects once ``overdue_s`` has passed since the last full
collection, so frozen cycles cannot pile up without bound.

Tests that run a control plane in their own process do not enable this (it would freeze the test
runner's heap); ``python -m mizzen.controlplane`` does.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Protocol

from mizzen.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("mizzen.heap")


class Collector(Protocol):
    """The part of :mod:`gc` this uses (the module itself, or a recorder in unit tests)."""

    def freeze(self) -> None:
        """Move every tracked object out of the collector's generations."""
        ...

    def unfreeze(self) -> None:
        """Put them back in the oldest generation."""
        ...

    def collect(self) -> int:
        """A full collection; the number of unreachable objects found."""
        ...


class HeapKeeper:
    """Freezes the heap each tick; runs a full collection when one is due and the control plane is quiet."""

    def __init__(
        self,
        busy: Callable[[], bool],
        *,
        clock: Clock = SYSTEM_CLOCK,
        collector: Collector = gc,
        full_every_s: float = 600.0,
        quiet_s: float = 5.0,
        overdue_s: float = 1800.0,
    ) -> None:
        self._busy = busy
        self._clock = clock
        self._gc = collector
        self.full_every_s = full_every_s
        self.quiet_s = quiet_s
        self.overdue_s = overdue_s
        now = clock.monotonic()
        self._last_full = now
        self._last_busy = now
        self.full_collections = 0

    def tick(self) -> bool:
        """Freeze what is alive; first collect everything if due and quiet. True when it collected."""
        now = self._clock.monotonic()
        if self._busy():
            self._last_busy = now
        since = now - self._last_full
        due = (since >= self.full_every_s and now - self._last_busy >= self.quiet_s) or since >= self.overdue_s
        if due:
            started = time.perf_counter()
            self._gc.unfreeze()
            found = self._gc.collect()
            self._last_full = now
            self.full_collections += 1
            log.debug("full collection: %d unreachable objects, %.0f ms", found, (time.perf_counter() - started) * 1e3)
        self._gc.freeze()
        return due

    async def run(self, interval_s: float = 1.0) -> None:
        """Tick every ``interval_s`` seconds of the clock, until cancelled."""
        while True:
            await self._clock.sleep(interval_s)
            self.tick()
