"""The grpc.aio ADS server over loopback with a real gRPC client."""

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

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE
TOKEN = "s3cret"
NODE = "sidecar~127.0.0.1~app.default~default.svc.cluster.local"


class Harness:
    """A started server whose on_connect publishes ``self.initial`` (if any) for the node."""

    def __init__(self) -> None:
        self.cache = SnapshotCache()
        self.initial: Snapshot | None = snapshot()
        self.connected: list[NodeInfo] = []
        self.disconnected: list[NodeInfo] = []
        self.acks: list[tuple[str, str, str]] = []
        self.server = XdsServer(
            self.cache,
            token=TOKEN,
            on_connect=self.on_connect,
            on_disconnect=self.on_disconnect,
            on_ack=lambda *a: self.acks.append(a),
        )
        self.port = 0
        self.clients: list[AdsClient] = []
        self.fail_connect = False

    async def on_connect(self, node: NodeInfo) -> None:
        self.connected.append(node)
        if self.fail_connect:
            raise RuntimeError("translator exploded")
        if self.initial is not None:
            self.cache.set(node.node_id, self.initial)

    async def on_disconnect(self, node: NodeInfo) -> None:
        self.disconnected.append(node)

    def client(self, token: str | None = TOKEN, node_id: str = NODE) -> AdsClient:
        c = AdsClient(f"127.0.0.1:{self.port}", token=token, envoy=FakeEnvoy(node_id))
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


async def test_rejects_stream_without_or_with_wrong_token(h: Harness) -> None:
    """A stream without the bearer token (or with a wrong one) fails with UNAUTHENTICATED."""
    for token in (None, "wrong"):
        client = h.client(token=token)
        client.subscribe(CDS)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.receive()
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert h.connected == []


async def test_serves_snapshot_and_reports_sync_status(h: Harness) -> None:
    """on_connect publishes a snapshot, the client gets CDS then EDS; status goes STALE → SYNCED."""
    client = h.client()
    client.subscribe(CDS)
    cds = await client.receive()
    assert cds.type_url == CDS and {r.type_url for r in cds.resources} == {CDS}
    assert h.connected[0].node_id == NODE and h.connected[0].envoy_version == "1.40.0"
    (status,) = h.server.status()
    cds_status = status.type(CDS)
    assert cds_status is not None and cds_status.status == "STALE"
    client.send(client.envoy.ack(cds))
    client.subscribe(EDS, ["a", "b"])
    eds = await client.receive()
    assert eds.type_url == EDS and len(eds.resources) == 2
    client.send(client.envoy.ack(eds))
    await until(lambda: h.server.status()[0].type(EDS).status == "SYNCED")  # type: ignore[union-attr]
    status = h.server.status()[0]
    assert [t.status for t in status.types] == ["SYNCED", "SYNCED"]
    assert status.type(LDS) is None and status.envoy_version == "1.40.0"
    assert h.acks[0] == (NODE, CDS, cds.version_info)
    assert set(h.server.sent_resources(NODE, acked=True)[EDS]) == {"a", "b"}


async def test_nack_reported_as_error_and_not_resent(h: Harness) -> None:
    """A NACK shows as ERROR with the proxy's message and the same version is not pushed again."""
    client = h.client()
    client.subscribe(LDS)
    lds = await client.receive()
    client.send(client.envoy.nack(lds, "bad listener"))
    await until(lambda: h.server.status()[0].type(LDS).status == "ERROR")  # type: ignore[union-attr]
    assert h.server.status()[0].type(LDS).last_error == "bad listener"  # type: ignore[union-attr]
    h.cache.set(NODE, snapshot())  # same content again
    with pytest.raises(TimeoutError):
        await client.receive(timeout=0.3)
    assert 'mizzen_xds_nacks_total{type="LDS"} 1' in h.server.metrics_text()


async def test_stream_parks_until_snapshot_is_set(h: Harness) -> None:
    """With no snapshot for the node, the stream waits and is answered as soon as one is set."""
    h.initial = None
    client = h.client()
    client.subscribe(CDS)
    await until(lambda: h.connected)
    with pytest.raises(TimeoutError):
        await client.receive(timeout=0.2)
    h.cache.set(NODE, snapshot())
    cds = await client.receive()
    assert cds.type_url == CDS


async def test_endpoint_update_never_resends_clusters(h: Harness) -> None:
    """update_types with endpoints only pushes EDS, and records push latency once ACKed."""
    client = h.client()
    client.subscribe(CDS)
    client.send(client.envoy.ack(await client.receive()))
    client.subscribe(EDS, ["a", "b"])
    client.send(client.envoy.ack(await client.receive()))
    eds = Snapshot.from_dicts({EDS: {"a": cla("a", 1234), "b": cla("b")}}).resources(EDS)
    h.cache.update_types(NODE, {EDS: eds})
    update = await client.receive()
    assert update.type_url == EDS and len(update.resources) == 1
    client.send(client.envoy.ack(update))
    await until(lambda: "mizzen_xds_push_latency_seconds_count 1" in h.server.metrics_text())
    with pytest.raises(TimeoutError):
        await client.receive(timeout=0.2)
    text = h.server.metrics_text()
    assert 'mizzen_xds_pushes_total{type="CDS"} 1' in text and "mizzen_xds_connected_proxies 1" in text


async def test_second_stream_supersedes_first(h: Harness) -> None:
    """A new stream for the same node closes the old one; only the last disconnect is reported."""
    first = h.client()
    first.subscribe(CDS)
    await first.receive()
    second = h.client()
    second.subscribe(CDS)
    await second.receive()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await first.receive()
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert len(h.server.status()) == 1 and h.disconnected == []
    await second.close()
    await until(lambda: h.disconnected)
    assert h.server.status() == [] and [n.node_id for n in h.disconnected] == [NODE]


async def test_first_request_without_node_is_invalid(h: Harness) -> None:
    """A stream whose first request lacks a node is closed with INVALID_ARGUMENT."""
    client = h.client()
    request = client.envoy.request(CDS)
    request.ClearField("node")
    client.send(request)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.receive()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_many_sets_coalesce_while_stream_is_busy(h: Harness) -> None:
    """A burst of snapshot sets ends with the newest state delivered; intermediate ones may be skipped."""
    client = h.client()
    client.subscribe(RDS, ["r1"])
    await client.receive()
    for i in range(20):
        h.cache.set(NODE, snapshot(routes={"r1": f"c{i}"}))
    last = None
    while True:
        try:
            last = await client.receive(timeout=0.3)
        except TimeoutError:
            break
    assert last is not None
    assert last.version_info == snapshot(routes={"r1": "c19"}).version(RDS)


async def test_failing_on_connect_closes_stream_unavailable(h: Harness) -> None:
    """If on_connect raises, the stream ends with UNAVAILABLE (Envoy retries) and the node is not listed."""

    h.fail_connect = True
    client = h.client()
    client.subscribe(CDS)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.receive()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    await until(lambda: not h.server.status())


async def test_unsubscribed_type_is_not_sent_and_absent_from_status(h: Harness) -> None:
    """Only types the proxy requested are pushed; status lists exactly those."""
    client = h.client()
    client.subscribe(LDS)
    lds = await client.receive()
    assert lds.type_url == LDS
    with pytest.raises(TimeoutError):
        await client.receive(timeout=0.2)
    assert [t.type_url for t in h.server.status()[0].types] == [LDS]
