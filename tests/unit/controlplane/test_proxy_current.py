"""`current` in the proxy list (what `mizzen ps` and the tests' wait_synced read), for named types."""

from __future__ import annotations

from dataclasses import dataclass, field

from mizzen.controlplane.inspect_api import _current
from mizzen.xds import types as xt
from mizzen.xds.snapshot import Snapshot


@dataclass
class Sub:
    """What _current reads of a stream's type state."""

    type_url: str = xt.ROUTE
    status: str = "SYNCED"
    version_acked: str = "old"
    subscribed: set[str] = field(default_factory=set)


def test_a_route_changed_and_not_yet_acked_is_not_current() -> None:
    snap = Snapshot({xt.ROUTE: {"80": b"new", "9080": b"same"}})
    assert not _current(Sub(subscribed={"80", "9080"}), snap, {"80": b"old", "9080": b"same"})


def test_every_subscribed_route_acked_as_held_is_current() -> None:
    snap = Snapshot({xt.ROUTE: {"80": b"a", "9080": b"b"}})
    assert _current(Sub(subscribed={"80", "9080"}), snap, {"80": b"a", "9080": b"b"})


def test_a_draining_listeners_route_the_snapshot_dropped_does_not_hold_sync_back() -> None:
    """A listener removed by LDS keeps its route configuration subscribed while it drains (45 s); the
    control plane has nothing to send for it, so the proxy is current once the rest is ACKed."""
    snap = Snapshot({xt.ROUTE: {"9080": b"b"}})
    assert _current(Sub(subscribed={"80", "9080"}), snap, {"80": b"old", "9080": b"b"})
    assert not _current(Sub(subscribed={"80", "9080"}), snap, {"80": b"old", "9080": b"stale"})


def test_a_subscribed_cluster_load_assignment_the_snapshot_lacks_is_not_current() -> None:
    """Only listeners drain: an EDS name the proxy asks for must be ACKed as the snapshot holds it."""
    snap = Snapshot({xt.ENDPOINT: {"outbound|9080||b": b"b"}})
    sub = Sub(type_url=xt.ENDPOINT, subscribed={"outbound|9080||a", "outbound|9080||b"})
    assert not _current(sub, snap, {"outbound|9080||a": b"old", "outbound|9080||b": b"b"})
