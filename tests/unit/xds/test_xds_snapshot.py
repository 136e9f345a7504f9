"""Snapshots: per-type content versions, replacement of single types, consistency checks."""

from __future__ import annotations

from types import MappingProxyType

from envoy.config.cluster.v3 import cluster_pb2

from mizzen.xds import types
from mizzen.xds.encode import encode
from mizzen.xds.snapshot import EMPTY_VERSION, Snapshot, _RefMemo, content_version, decode
from mizzen.xds.testing import cla, cluster, listener, route, snapshot
from mizzen.xds.views import Layered


def test_versions_are_content_hashes_per_type() -> None:
    """Rebuilding with the same content keeps versions; changing one type changes only its version."""
    one, two = snapshot(), snapshot()
    assert one.versions() == two.versions()
    changed = snapshot(routes={"r1": "b"})
    assert changed.version(types.ROUTE) != one.version(types.ROUTE)
    assert changed.version(types.CLUSTER) == one.version(types.CLUSTER)


def test_version_is_independent_of_insertion_order() -> None:
    """The version of a type does not depend on dict order."""
    assert content_version({"a": b"1", "b": b"2"}) == content_version({"b": b"2", "a": b"1"})
    assert content_version({"a": b"1"}) != content_version({"a": b"2"})


def test_absent_type_is_empty() -> None:
    """A type the snapshot lacks reads as empty with the empty version."""
    snap = Snapshot()
    assert snap.resources(types.CLUSTER) == {} and snap.version(types.CLUSTER) == EMPTY_VERSION
    assert not snap.has(types.CLUSTER)


def test_replace_keeps_untouched_versions() -> None:
    """replace() swaps one type and leaves the others (and their versions) alone."""
    base = snapshot()
    eds = Snapshot.from_dicts({types.ENDPOINT: {"a": cla("a", 1), "b": cla("b")}})
    new = base.replace({types.ENDPOINT: eds.resources(types.ENDPOINT)})
    assert new.version(types.ENDPOINT) != base.version(types.ENDPOINT)
    assert new.version(types.CLUSTER) == base.version(types.CLUSTER)
    assert new.same_versions(base) is False and base.same_versions(snapshot()) is True


def test_consistent_snapshot_has_no_problems() -> None:
    """Every referenced route and EDS assignment present: no problems."""
    assert snapshot().consistent() == []


def test_consistency_reports_missing_route_and_endpoints() -> None:
    """A listener's missing RDS name and an EDS cluster without assignment are both reported."""
    snap = Snapshot.from_dicts(
        {
            types.CLUSTER: {"a": cluster("a"), "static": {"name": "static", "type": "STATIC"}},
            types.LISTENER: {"l1": listener("l1", 1, "nope")},
            types.ROUTE: {"r1": route("r1", "a")},
        }
    )
    problems = snap.consistent()
    assert problems == [
        "listener 'l1' references missing route configuration 'nope'",
        "EDS cluster 'a' has no ClusterLoadAssignment 'a'",
    ]


def test_decode_returns_the_message() -> None:
    """decode() unpacks Any bytes back into the resource message."""
    msg = decode(snapshot().resources(types.CLUSTER)["a"])
    assert isinstance(msg, cluster_pb2.Cluster) and msg.name == "a"


def test_references_are_decoded_once_per_content() -> None:
    """The check remembers each serialized resource's references, so alike proxies decode it once."""
    calls: list[bytes] = []

    def find(data: bytes) -> tuple[str, ...]:
        calls.append(data)
        return ("r",)

    memo = _RefMemo(find, max_entries=2)
    assert memo(b"x") == memo(b"x") == ("r",) and calls == [b"x"]
    memo(b"y")
    memo(b"z")  # full: the memo starts again, so x is found anew
    memo(b"x")
    memo(b"z")
    assert calls == [b"x", b"y", b"z", b"x"]


def test_layered_clusters_are_checked_through_their_shared_part() -> None:
    """A missing assignment is found whether the EDS cluster is in the shared part or the proxy's own,
    and proxies with their own versions over one shared part agree with a flat copy."""
    shared = MappingProxyType(encode(types.CLUSTER, {"a": cluster("a"), "b": cluster("b")}))
    own_ok = encode(types.CLUSTER, {"static": {"name": "static", "type": "STATIC"}})
    own_eds = encode(types.CLUSTER, {"c": cluster("c")})
    endpoints = encode(types.ENDPOINT, {"a": {"cluster_name": "a"}, "b": {"cluster_name": "b"}})
    partial = encode(types.ENDPOINT, {"a": {"cluster_name": "a"}})
    cases = [
        (own_ok, endpoints, []),
        (own_eds, endpoints, ["c"]),
        (own_ok, partial, ["b"]),
        (own_eds, partial, ["b", "c"]),
    ]
    for own, eps, missing in cases:
        layered = Snapshot({types.CLUSTER: Layered(shared, own), types.ENDPOINT: eps})
        flat = Snapshot({types.CLUSTER: {**shared, **own}, types.ENDPOINT: eps})
        expected = [f"EDS cluster {n!r} has no ClusterLoadAssignment {n!r}" for n in missing]
        assert sorted(layered.consistent()) == sorted(flat.consistent()) == expected
