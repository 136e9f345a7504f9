"""Readiness while running: Kubernetes' thresholds, the probe option, and the health mark on the entry."""

from __future__ import annotations

import pytest

from mizzen.agent.commands import parse_probe
from mizzen.agent.errors import PortSpecError
from mizzen.agent.readiness import HEALTH_ANNOTATION, ProbePolicy, ReadinessTracker
from mizzen.agent.spec import Allocation, WorkloadSpec, workload_entry


def test_failure_threshold_failures_in_a_row_make_it_unready() -> None:
    """With failureThreshold 3, two failures change nothing; the third flips it; a success resets the streak."""
    tracker = ReadinessTracker(ProbePolicy(failure_threshold=3))
    assert [tracker.observe(False), tracker.observe(False), tracker.observe(True)] == [None, None, None]
    assert [tracker.observe(False), tracker.observe(False), tracker.observe(False)] == [None, None, False]
    assert tracker.ready is False


def test_success_threshold_successes_make_it_ready_again() -> None:
    """Unready, it needs successThreshold successes in a row to come back."""
    tracker = ReadinessTracker(ProbePolicy(success_threshold=2), ready=False)
    assert [tracker.observe(True), tracker.observe(False), tracker.observe(True), tracker.observe(True)] == [
        None,
        None,
        None,
        True,
    ]


def test_probe_option_parses_kubernetes_knobs_and_refuses_typos() -> None:
    """--probe period=,timeout=,failure=,success= map to the policy; an unknown or non-positive key is an error."""
    assert parse_probe("period=0.5s,failure=3") == ProbePolicy(period_s=0.5, failure_threshold=3)
    with pytest.raises(PortSpecError, match="not one of"):
        parse_probe("periodSeconds=1s")
    with pytest.raises(PortSpecError, match="positive"):
        parse_probe("failure=0")


def test_an_unready_workload_entry_carries_the_health_annotation() -> None:
    """The entry the agent writes while its app fails the probe is marked unhealthy; a ready one is not."""
    spec = WorkloadSpec(name="w", address="10.0.0.2")
    alloc = Allocation(app={}, inbound={"http": 15001}, http_proxy=None, upstreams=())
    assert HEALTH_ANNOTATION not in workload_entry(spec, alloc)["metadata"]["annotations"]
    assert workload_entry(spec, alloc, healthy=False)["metadata"]["annotations"][HEALTH_ANNOTATION] == "false"
