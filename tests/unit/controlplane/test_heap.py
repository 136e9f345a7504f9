"""The heap keeper: freezes every tick, collects fully only when due and after a quiet spell."""

from __future__ import annotations

import asyncio
import gc
import weakref

from mizzen.controlplane.heap import HeapKeeper
from mizzen.controlplane.mesh import MeshController
from mizzen.testing.clock import FakeClock
from mizzen.xds import SnapshotCache


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def collect(self) -> int:
        self.calls.append("collect")
        return 0


def _keeper(busy: list[bool], clock: FakeClock, recorder: Recorder) -> HeapKeeper:
    return HeapKeeper(lambda: busy[0], clock=clock, collector=recorder, full_every_s=60, quiet_s=5)


def test_each_tick_freezes_and_a_full_collection_waits_until_due() -> None:
    clock, recorder, busy = FakeClock(), Recorder(), [False]
    keeper = _keeper(busy, clock, recorder)
    for _ in range(59):
        asyncio.run(clock.advance(1))
        assert keeper.tick() is False
    assert recorder.calls == ["freeze"] * 59
    asyncio.run(clock.advance(1))
    assert keeper.tick() is True
    assert recorder.calls[-3:] == ["unfreeze", "collect", "freeze"]
    assert keeper.full_collections == 1


def test_a_due_collection_waits_for_a_quiet_spell() -> None:
    clock, recorder, busy = FakeClock(), Recorder(), [True]
    keeper = _keeper(busy, clock, recorder)
    asyncio.run(clock.advance(120))
    assert keeper.tick() is False  # pushing: never in the middle of one
    busy[0] = False
    asyncio.run(clock.advance(4))
    assert keeper.tick() is False  # 4 s after the last push seen
    asyncio.run(clock.advance(1))
    assert keeper.tick() is True
    assert recorder.calls.count("collect") == 1


def test_a_control_plane_that_is_never_quiet_still_collects_once_overdue() -> None:
    clock, recorder, busy = FakeClock(), Recorder(), [True]
    keeper = HeapKeeper(lambda: busy[0], clock=clock, collector=recorder, full_every_s=60, quiet_s=5, overdue_s=180)
    collected = []
    for _ in range(200):
        asyncio.run(clock.advance(1))
        collected.append(keeper.tick())
    assert collected.index(True) == 179  # at 180 s, although a push ran every second
    assert recorder.calls.count("collect") == 1


async def test_the_controller_counts_a_push_as_busy() -> None:
    mc = MeshController(SnapshotCache())
    assert mc._pushing() is False
    mc.pusher.push_count += 1  # a push ran since the keeper last asked
    assert mc._pushing() is True
    assert mc._pushing() is False


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector can free it


def test_a_frozen_cycle_is_collected_by_the_full_collection() -> None:
    """With the real collector: a cycle frozen by a tick survives ordinary collections, and the due
    full collection frees it."""
    clock = FakeClock()
    keeper = HeapKeeper(lambda: False, clock=clock, full_every_s=60, quiet_s=0)
    try:
        node = _Node()
        alive = weakref.ref(node)
        keeper.tick()  # not due yet: freezes
        del node
        gc.collect()
        assert alive() is not None
        asyncio.run(clock.advance(60))
        assert keeper.tick() is True
        assert alive() is None
    finally:
        gc.unfreeze()  # leave the test runner's heap as it was


def test_only_a_controller_asked_to_manages_the_heap() -> None:
    assert MeshController(SnapshotCache()).heap is None
    assert MeshController(SnapshotCache(), manage_heap=True).heap is not None
