"""A clock that moves only when a test says so (the test double for :class:`mizzen.clock.Clock`).

``await clock.advance(2.0)`` moves both the wall and the monotonic time forward, wakes every
:meth:`FakeClock.sleep` whose deadline has passed and lets the woken tasks run until they wait again, so
a test of a loop that sleeps between rounds needs no real sleep and cannot flake on a busy machine.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

EPOCH = 1_700_000_000.0  # an arbitrary fixed wall-clock start, so timestamps in tests are stable


class FakeClock:
    """Manual time for tests: ``now()``/``monotonic()`` change only through :meth:`advance`."""

    def __init__(self, start: float = EPOCH) -> None:
        self._wall = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties wake in the order they went to sleep

    def now(self) -> float:
        """The fake wall-clock time."""
        return self._wall

    def monotonic(self) -> float:
        """The fake monotonic time (starts at 0)."""
        return self._mono

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved time ``seconds`` forward (0 or less: just yield)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._order), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting in :meth:`sleep`."""
        return sum(1 for *_, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking due sleepers in deadline order and letting each run until it waits."""
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._wall += deadline - self._mono
            self._mono = deadline
            if not future.done():
                future.set_result(None)
                await _settle()
        self._wall += target - self._mono
        self._mono = target
        await _settle()


async def _settle(rounds: int = 20) -> None:
    # Each round lets every ready task take one step; a woken loop body that awaits a few coroutines
    # (none of which really waits) finishes well within these rounds and goes back to sleep().
    for _ in range(rounds):
        await asyncio.sleep(0)
