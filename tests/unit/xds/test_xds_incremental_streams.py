"""Both ADS stream kinds over random edit sequences: what the proxy holds always matches the snapshot.

The streams answer a snapshot update from what changed between the mapping they last covered and the
new one (:func:`mizzen.xds.views.changes`, shared by alike proxies), and an ACK that repeats the
subscription without looking at the resources at all. These sequences mix snapshot edits (a mapping
reused as the same object, rebuilt with equal bytes, or changed), subscription changes and ACKs, and
after every step check the proxy's view against the snapshot, as Envoy would hold it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from types import MappingProxyType

import pytest

from mizzen.xds import Snapshot, types
from mizzen.xds.delta import DeltaStream
from mizzen.xds.encode import encode
from mizzen.xds.protocol import DeltaResponse, Response, resource_version
from mizzen.xds.stream import Stream
from mizzen.xds.testing import FakeEnvoy, cla
from mizzen.xds.testing_delta import FakeDeltaEnvoy
from mizzen.xds.views import Layered, Resources

EDS = types.ENDPOINT
NAMES = [f"e{i}" for i in range(8)]


def _endpoints(rng: random.Random, previous: dict[str, bytes]) -> dict[str, bytes]:
    """A new set of load assignments: some kept (same bytes object), some changed, some gone or new."""
    out: dict[str, bytes] = {}
    for name in NAMES:
        roll = rng.random()
        if name in previous and roll < 0.6:
            out[name] = previous[name]
        elif roll < 0.85:
            out[name] = encode(EDS, {name: cla(name, 8000 + rng.randrange(3))})[name]
    return out


def _edits(seed: int, steps: int = 60) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    current: dict[str, bytes] = {}
    out: list[tuple[str, object]] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.5:
            current = _endpoints(rng, current)
            out.append(("snapshot", current))
        elif roll < 0.6:
            out.append(("same", None))  # the same mapping object again under a new snapshot
        else:
            out.append(("subscribe", sorted(rng.sample(NAMES, rng.randrange(len(NAMES) + 1)))))
    return out


def _mapping(resources: dict[str, bytes], previous: Resources | None, layered: bool) -> Resources:
    """The snapshot's mapping of ``resources``: one read-only dict, or (``layered``) a proxy's own names
    over a shared part, the shared part kept as the same object while its content is unchanged."""
    if not layered:
        return MappingProxyType(resources)
    base = {n: b for n, b in resources.items() if n < "e4"}
    top = {n: b for n, b in resources.items() if n >= "e3"}  # e3 is in both: the own part shadows it
    if isinstance(previous, Layered) and dict(previous.base) == base:
        return Layered(previous.base, top)
    return Layered(MappingProxyType(base), top)


def _check(held: dict[str, bytes], subscribed: set[str], resources: dict[str, bytes], *, removals: bool) -> None:
    for name in subscribed:
        if name in resources:
            assert held.get(name) == resources[name], name
        elif removals:
            assert name not in held, name


@pytest.mark.parametrize("layered", [False, True], ids=["flat", "layered"])
@pytest.mark.parametrize("seed", range(40))
def test_sotw_proxy_holds_the_subscribed_part_of_every_snapshot(seed: int, layered: bool) -> None:
    stream, envoy = Stream(clock=lambda: 1.0), FakeEnvoy()
    held: dict[str, bytes] = {}
    subscribed: set[str] = set(NAMES[:3])
    resources: dict[str, bytes] = {}
    mapping: Resources = MappingProxyType(resources)

    def apply(replies: Sequence[object]) -> None:
        # Envoy ACKs each response (repeating its subscription), the ACK may cause more.
        pending = [r for r in replies if isinstance(r, Response)]
        while pending:
            response = pending.pop(0)
            held.update(response.resources)
            pending += [a for a in stream.receive(envoy.ack(response)) if isinstance(a, Response)]

    apply(stream.receive(envoy.request(EDS, sorted(subscribed))))
    for kind, value in _edits(seed):
        if kind == "snapshot":
            resources = dict(value)  # type: ignore[call-overload]
            mapping = _mapping(resources, mapping, layered)
        if kind in ("snapshot", "same"):
            apply(list(stream.snapshot_updated(Snapshot({EDS: mapping}))))
        else:
            subscribed = set(value)  # type: ignore[call-overload]
            for name in set(held) - subscribed:
                del held[name]  # Envoy forgets what it no longer watches
            apply(stream.receive(envoy.request(EDS, sorted(subscribed))))
        if stream.snapshot is not None:
            _check(held, subscribed, resources, removals=False)


@pytest.mark.parametrize("layered", [False, True], ids=["flat", "layered"])
@pytest.mark.parametrize("seed", range(40))
def test_delta_proxy_holds_exactly_the_subscribed_part_of_every_snapshot(seed: int, layered: bool) -> None:
    stream, envoy = DeltaStream(clock=lambda: 1.0), FakeDeltaEnvoy()
    subscribed: set[str] = set(NAMES[:3])
    resources: dict[str, bytes] = {}
    mapping: Resources = MappingProxyType(resources)

    def apply(replies: Sequence[object]) -> None:
        pending = [r for r in replies if isinstance(r, DeltaResponse)]
        while pending:
            response = pending.pop(0)
            pending += [a for a in stream.receive(envoy.ack(response)) if isinstance(a, DeltaResponse)]

    apply(stream.receive(envoy.request(EDS, sorted(subscribed))))
    for kind, value in _edits(seed):
        if kind == "snapshot":
            resources = dict(value)  # type: ignore[call-overload]
            mapping = _mapping(resources, mapping, layered)
        if kind in ("snapshot", "same"):
            apply(list(stream.snapshot_updated(Snapshot({EDS: mapping}))))
        else:
            wanted = set(value)  # type: ignore[call-overload]
            request = envoy.request(EDS, sorted(wanted - subscribed), sorted(subscribed - wanted))
            for name in subscribed - wanted:
                envoy.have.get(EDS, {}).pop(name, None)
            subscribed = wanted
            apply(stream.receive(request))
        if stream.snapshot is not None:
            versions = envoy.have.get(EDS, {})
            held = {
                n: resources[n] for n, v in versions.items() if n in resources and resource_version(resources[n]) == v
            }
            held.update({n: b"gone" for n in versions if n not in resources})
            _check(held, subscribed, resources, removals=True)
            assert set(versions) <= subscribed
