"""The grpc.aio ADS server's DeltaAggregatedResources over loopback with a real gRPC delta client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from mizzen.xds import types
from mizzen.xds.cache import SnapshotCache
from mizzen.xds.protocol import NodeInfo
from mizzen.xds.server import XdsServer
from mizzen.xds.snapshot import Snapshot
from mizzen.xds.testing import AdsClient, FakeEnvoy, cla, snapshot
from mizzen.xds.testing_delta import DeltaAdsClient, FakeDeltaEnvoy

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE
TOKEN = "s3cret"
NODE = "sidecar~127.0.0.1~app.default~default.svc.cluster.local"


class Harness:
    """A started server whose on_connect publishes ``self.initial`` for the node."""

    def __init__(self) -> None:
        self.cache = SnapshotCache()
        self.initial: Snapshot = snapshot()
        self.connected: list[NodeInfo] = []
        self.acks: list[tuple[str, str, str]] = []
        self.server = XdsServer(
            self.cache, token=TOKEN, on_connect=self.on_connect, on_ack=lambda *a: self.acks.append(a)
        )
        self.port = 0
        self.clients: list[DeltaAdsClient | AdsClient] = []

    async def on_connect(self, node: NodeInfo) -> None:
        self.connected.append(node)
        self.cache.set(node.node_id, self.initial)

    def delta(self, token: str | None = TOKEN, envoy: FakeDeltaEnvoy | None = None) -> DeltaAdsClient:
        c = DeltaAdsClient(f"127.0.0.1:{self.port}", token=token, envoy=envoy or FakeDeltaEnvoy(NODE))
        self.clients.append(c)
        return c


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    harness.port = await harness.server.start("127.0.0.1", 0)
    try:
        yield harness
    finally:
        for c in harness.clients:
            await c.close()
        await harness.server.stop(0)


async def until(predicate: object, timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true (state changes propagate through the event loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def status(h: Harness, type_url: str) -> str:
    row = h.server.status()[0].type(type_url)
    return row.status if row else "absent"


async def test_delta_stream_requires_the_token(h: Harness) -> None:
    """The delta method is behind the same bearer-token check as SotW."""
    client = h.delta(token="wrong")
    client.subscribe(CDS)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.receive()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and h.connected == []


async def test_delta_client_syncs_and_status_reads_like_sotw(h: Harness) -> None:
    """A delta client gets CDS and EDS with per-resource versions; proxy-status goes STALE → SYNCED, api Delta."""
    client = h.delta()
    client.subscribe(CDS)
    cds = await client.receive()
    assert cds.type_url == CDS and {r.name for r in cds.resources} == {"a", "b"}
    assert all(r.version and r.resource.type_url == CDS for r in cds.resources)
    assert status(h, CDS) == "STALE" and h.server.status()[0].api == "Delta"
    client.send(client.envoy.ack(cds))
    client.subscribe(EDS, ["a", "b"])
    eds = await client.receive()
    client.send(client.envoy.ack(eds))
    await until(lambda: status(h, EDS) == "SYNCED")
    assert status(h, CDS) == "SYNCED"
    assert h.acks[0] == (NODE, CDS, snapshot().version(CDS))
    assert h.server.sent_resources(NODE, acked=True)[EDS] == dict(snapshot().resources(EDS))


async def test_endpoint_change_sends_one_assignment(h: Harness) -> None:
    """An endpoint update sends only the changed ClusterLoadAssignment to a delta client."""
    client = h.delta()
    client.subscribe(CDS)
    client.send(client.envoy.ack(await client.receive()))
    client.subscribe(EDS, ["a", "b"])
    client.send(client.envoy.ack(await client.receive()))
    eds = Snapshot.from_dicts({EDS: {"a": cla("a", 1234), "b": cla("b")}}).resources(EDS)
    h.cache.update_types(NODE, {EDS: eds})
    update = await client.receive()
    assert update.type_url == EDS and [r.name for r in update.resources] == ["a"] and not update.removed_resources
    client.send(client.envoy.ack(update))
    await until(lambda: "mizzen_xds_push_latency_seconds_count 1" in h.server.metrics_text())


async def test_nack_is_error_and_not_resent(h: Harness) -> None:
    """A delta NACK shows ERROR with the proxy's message; setting the same content again sends nothing."""
    client = h.delta()
    client.subscribe(LDS)
    client.send(client.envoy.nack(await client.receive(), "bad listener"))
    await until(lambda: status(h, LDS) == "ERROR")
    assert h.server.status()[0].type(LDS).last_error == "bad listener"  # type: ignore[union-attr]
    h.cache.set(NODE, snapshot(routes={"r1": "b"}))  # listeners unchanged
    with pytest.raises(TimeoutError):
        await client.receive(timeout=0.3)


async def test_reconnect_with_initial_versions_resends_nothing_unchanged(h: Harness) -> None:
    """A new stream reporting what it holds gets an empty answer for unchanged clusters and only changes after."""
    first = h.delta()
    first.subscribe(CDS)
    first.send(first.envoy.ack(await first.receive()))
    await until(lambda: status(h, CDS) == "SYNCED")
    envoy = first.envoy
    envoy.reconnect()
    second = h.delta(envoy=envoy)
    second.send(envoy.resume(CDS))
    resumed = await second.receive()
    assert list(resumed.resources) == [] and list(resumed.removed_resources) == []
    second.send(envoy.ack(resumed))
    h.cache.set(NODE, snapshot({"a": "1s", "c": "1s"}))
    change = await second.receive()
    assert [r.name for r in change.resources] == ["c"]
    assert list((await second.receive()).removed_resources) == ["b"]


async def test_delta_and_sotw_streams_of_one_node_supersede_each_other(h: Harness) -> None:
    """A node switching protocol replaces its old stream; status shows the new stream's protocol."""
    sotw = AdsClient(f"127.0.0.1:{h.port}", token=TOKEN, envoy=FakeEnvoy(NODE))
    h.clients.append(sotw)
    sotw.subscribe(CDS)
    await sotw.receive()
    assert h.server.status()[0].api == "SotW"
    delta = h.delta()
    delta.subscribe(CDS)
    await delta.receive()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await sotw.receive()
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert [p.api for p in h.server.status()] == ["Delta"]
