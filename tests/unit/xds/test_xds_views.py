"""The read-only views streams share: a layered mapping behaves as the merged dict it stands for, and its
changes are what a full comparison of the two merged dicts finds."""

from __future__ import annotations

import random
from types import MappingProxyType

import pytest

from mizzen.xds import Snapshot, types
from mizzen.xds.stream import TypeState
from mizzen.xds.views import Layered, changes

NAMES = [f"r{i}" for i in range(10)]


def _resources(rng: random.Random, previous: dict[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name in rng.sample(NAMES, rng.randrange(len(NAMES) + 1)):
        roll = rng.random()
        # The same bytes object, equal bytes in a new object, or other bytes.
        if name in previous and roll < 0.4:
            out[name] = previous[name]
        elif name in previous and roll < 0.6:
            out[name] = bytes(bytearray(previous[name]))
        else:
            out[name] = f"{name}:{rng.randrange(3)}".encode()
    return out


@pytest.mark.parametrize("seed", range(30))
def test_layered_is_the_merged_dict(seed: int) -> None:
    rng = random.Random(seed)
    base, top = _resources(rng, {}), _resources(rng, {})
    view, merged = Layered(MappingProxyType(base), top), {**base, **top}
    assert list(view) == list(merged)
    assert list(view.items()) == list(merged.items())
    assert len(view) == len(merged)
    assert view == merged
    for name in [*NAMES, "absent"]:
        assert (name in view) == (name in merged)
        assert view.get(name) == merged.get(name)
        assert view.get(name, b"default") == merged.get(name, b"default")
        if name not in merged:
            with pytest.raises(KeyError):
                view[name]


@pytest.mark.parametrize("seed", range(60))
def test_layered_changes_match_a_full_comparison(seed: int) -> None:
    rng = random.Random(seed)
    old_base, old_top = _resources(rng, {}), _resources(rng, {})
    old = Layered(MappingProxyType(old_base), old_top)
    # The shared part is often the very same object (only the proxy's own part changed).
    new_base = old.base if rng.random() < 0.4 else MappingProxyType(_resources(rng, old_base))
    new = Layered(new_base, _resources(rng, old_top))
    before, after = {**old_base, **old_top}, {**dict(new.base), **new.top}
    differ, gone = changes(old, new)
    assert differ == {n for n, b in after.items() if before.get(n) != b}
    assert sorted(gone) == sorted(n for n in before if n not in after)
    assert len(gone) == len(set(gone))
    # The generic comparison of the same content agrees.
    flat_differ, flat_gone = changes(MappingProxyType(before), MappingProxyType(after))
    assert (differ, sorted(gone)) == (flat_differ, sorted(flat_gone))


def test_a_snapshot_keeps_a_layered_mapping_without_copying_it() -> None:
    view = Layered(MappingProxyType({"a": b"1"}), {"b": b"2"})
    snapshot = Snapshot({types.CLUSTER: view})
    assert snapshot.resources(types.CLUSTER) is view
    assert Snapshot({types.CLUSTER: {**view}}).version(types.CLUSTER) == snapshot.version(types.CLUSTER)


def test_alike_subscriptions_share_one_tuple_and_one_string_per_name() -> None:
    first, second = TypeState(types.ENDPOINT), TypeState(types.ENDPOINT)
    # What a request's repeated field yields: new string objects every time.
    first.subscribe(["".join(["out", "|9080||", str(n)]) for n in range(50)])
    second.subscribe(["".join(["out", "|9080||", str(n)]) for n in range(50)])
    assert first.requested is second.requested
    assert first.names is second.names
    assert all(a is b for a, b in zip(first.requested or (), second.requested or (), strict=True))
    assert second.subscribe(["".join(["out", "|9080||", str(n)]) for n in range(50)]) == set()  # an ACK
