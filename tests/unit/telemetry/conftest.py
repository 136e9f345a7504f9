"""Fixtures for telemetry tests."""

from __future__ import annotations

import pytest
from telemetry_fixtures import Clock, bookinfo_registry

from mizzen.telemetry.metrics import Telemetry


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def telemetry(clock: Clock) -> Telemetry:
    registry = bookinfo_registry()
    return Telemetry(lambda: registry, clock=clock)
