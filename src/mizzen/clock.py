"""Time as a dependency: the :class:`Clock` protocol and the system clock behind it.

Components that wait or measure (the push loop, the proxy records, the reaper, the xDS cache) take a
clock instead of calling :mod:`time` and :mod:`asyncio` directly, so their tests can drive time by hand
(:class:`mizzen.testing.clock.FakeClock`) instead of sleeping and hoping the machine keeps up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time for records people read, monotonic time for durations, and sleeping."""

    def now(self) -> float:
        """Seconds since the epoch (timestamps shown to users; may jump)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations, deadlines, grace periods)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's monotonic time."""
        ...


class SystemClock:
    """The real clock: :func:`time.time`, :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """:func:`asyncio.sleep`."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
