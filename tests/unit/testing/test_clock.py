"""The fake clock: time moves only on advance(), sleepers wake in deadline order and run before it returns."""

from __future__ import annotations

import asyncio

from mizzen.testing.clock import EPOCH, FakeClock


async def test_time_stands_still_until_advanced() -> None:
    """now() and monotonic() move together, and only through advance()."""
    clock = FakeClock()
    assert (clock.now(), clock.monotonic()) == (EPOCH, 0.0)
    await clock.advance(2.5)
    assert (clock.now(), clock.monotonic()) == (EPOCH + 2.5, 2.5)


async def test_sleepers_wake_in_deadline_order_at_their_own_time() -> None:
    """Each sleeper resumes when its deadline is reached and sees the clock at that deadline."""
    clock, woke = FakeClock(), []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper("late", 3)), asyncio.create_task(sleeper("early", 1))]
    await clock.advance(0)
    assert clock.sleepers == 2 and woke == []
    await clock.advance(2)
    assert woke == [("early", 1.0)]
    await clock.advance(5)
    assert woke == [("early", 1.0), ("late", 3.0)] and clock.monotonic() == 7.0
    await asyncio.gather(*tasks)


async def test_a_loop_that_sleeps_runs_once_per_period() -> None:
    """A periodic loop body runs exactly once per elapsed period of fake time."""
    clock, ticks = FakeClock(), []

    async def loop() -> None:
        while True:
            await clock.sleep(1)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(loop())
    await clock.advance(0)
    await clock.advance(3)
    task.cancel()
    assert ticks == [1.0, 2.0, 3.0]


async def test_sleeping_zero_just_yields() -> None:
    """sleep(0) returns without waiting for the clock."""
    clock = FakeClock()
    await clock.sleep(0)
    assert clock.sleepers == 0
