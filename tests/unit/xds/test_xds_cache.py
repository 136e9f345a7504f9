"""The snapshot cache: per-node snapshots, wake-ups only on change, type-level updates."""

from __future__ import annotations

import pytest

from mizzen.testing.clock import FakeClock
from mizzen.xds import types
from mizzen.xds.cache import SnapshotCache
from mizzen.xds.errors import InconsistentSnapshot
from mizzen.xds.protocol import Response
from mizzen.xds.snapshot import Snapshot
from mizzen.xds.testing import cla, snapshot


def test_set_wakes_watchers_of_that_node_only() -> None:
    """set() wakes the node's watchers, not other nodes' watchers."""
    cache, woken = SnapshotCache(), []
    cache.watch("a", lambda: woken.append("a"))
    cache.watch("b", lambda: woken.append("b"))
    cache.set("a", snapshot())
    assert woken == ["a"] and cache.get("a") is not None and cache.get("b") is None


def test_set_with_same_versions_does_not_wake() -> None:
    """Re-setting identical content stores it but wakes nobody."""
    cache, woken = SnapshotCache(), []
    cache.set("a", snapshot())
    cache.watch("a", lambda: woken.append(1))
    cache.set("a", snapshot())
    assert woken == []


def test_update_types_replaces_only_given_types() -> None:
    """update_types() swaps the endpoints and keeps the cluster version."""
    cache = SnapshotCache()
    cache.set("a", snapshot())
    before = cache.get("a")
    assert before is not None
    eds = Snapshot.from_dicts({types.ENDPOINT: {"a": cla("a", 1), "b": cla("b")}}).resources(types.ENDPOINT)
    after = cache.update_types("a", {types.ENDPOINT: eds})
    assert after.version(types.CLUSTER) == before.version(types.CLUSTER)
    assert after.version(types.ENDPOINT) != before.version(types.ENDPOINT)
    assert cache.get("a") is after


def test_remove_and_unwatch() -> None:
    """remove() forgets the snapshot; unwatched callbacks are no longer called."""
    cache, woken = SnapshotCache(), []

    def watcher() -> None:
        woken.append(1)

    cache.watch("a", watcher)
    cache.unwatch("a", watcher)
    cache.set("a", snapshot())
    cache.remove("a")
    assert woken == [] and cache.get("a") is None


def test_failing_watcher_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in one watcher is logged and does not stop the other watchers."""
    cache, woken = SnapshotCache(), []

    def broken() -> None:
        raise RuntimeError("boom")

    cache.watch("a", broken)
    cache.watch("a", lambda: woken.append(1))
    cache.set("a", snapshot())
    assert woken == [1] and "snapshot watcher for a failed" in caplog.text


def test_response_body_cache_is_keyed_by_content() -> None:
    """Two responses with the same version string but different bytes serialize differently."""
    one = Response(types.CLUSTER, "v", "1", {"a": b"\x0a\x01x"}).serialize()
    two = Response(types.CLUSTER, "v", "1", {"a": b"\x0a\x01y"}).serialize()
    assert one != two
    assert Response(types.CLUSTER, "v", "2", {"a": b"\x0a\x01x"}).serialize().endswith(b"\x2a\x012")


def test_an_inconsistent_snapshot_is_refused_and_the_old_one_kept() -> None:
    """set() checks references: a listener naming a missing route is refused, nothing changes, nobody wakes."""
    cache, woken = SnapshotCache(), []
    good = snapshot()
    cache.set("a", good)
    cache.watch("a", lambda: woken.append(1))
    with pytest.raises(InconsistentSnapshot) as err:
        cache.set("a", snapshot(listeners={"l1": (15001, "gone")}).replace({types.ENDPOINT: {}}))
    assert err.value.problems == (
        "listener 'l1' references missing route configuration 'gone'",
        "EDS cluster 'a' has no ClusterLoadAssignment 'a'",
        "EDS cluster 'b' has no ClusterLoadAssignment 'b'",
    )
    assert cache.get("a") is good and woken == []


def test_update_types_is_checked_too() -> None:
    """Replacing endpoints so that an EDS cluster loses its assignment is refused like a whole snapshot."""
    cache = SnapshotCache()
    cache.set("a", snapshot())
    before = cache.get("a")
    with pytest.raises(InconsistentSnapshot, match="EDS cluster 'b' has no ClusterLoadAssignment 'b'"):
        cache.update_types(
            "a", {types.ENDPOINT: Snapshot.from_dicts({types.ENDPOINT: {"a": cla("a")}}).resources(types.ENDPOINT)}
        )
    assert cache.get("a") is before


def test_set_time_comes_from_the_injected_clock() -> None:
    """The push-latency timestamp is the cache clock's monotonic time of the last effective set."""
    clock = FakeClock()
    cache = SnapshotCache(clock)
    cache.set("a", snapshot())
    assert cache.set_time("a") == 0.0
