"""Credentials on the real gRPC port: node admission, per-credential secret filtering, revocation, the ALS rule.

A real grpc.aio XdsServer with the control plane's CredentialAuthenticator over a real credential index
(memory store), and real gRPC clients; the snapshot is set by hand so the filtering is tested even where
the translator would never put a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from envoy.config.core.v3 import base_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from mizzen.controlplane.credentials import CredentialIndex
from mizzen.controlplane.xds_auth import CredentialAuthenticator
from mizzen.security import sds
from mizzen.store import MemoryStore
from mizzen.telemetry.als import AccessLogService
from mizzen.xds import Snapshot, SnapshotCache, XdsServer
from mizzen.xds import types as xt
from mizzen.xds.testing import AdsClient, FakeEnvoy

SECRETS = frozenset({("istio-system", "bookinfo-cert"), ("default", "other-cert")})


def node(kind: str, name: str, namespace: str, sa: str) -> FakeEnvoy:
    meta = {"NAME": name, "NAMESPACE": namespace, "SERVICE_ACCOUNT": sa, "MIZZEN_PROXY_TYPE": kind}
    return FakeEnvoy(f"{kind}~127.0.0.1~{name}.{namespace}~{namespace}.svc.cluster.local", meta)


def secret_snapshot() -> Snapshot:
    cert = sds.tls_certificate_secret(b"-----BEGIN CERTIFICATE-----\n", b"k")
    return Snapshot.from_dicts(
        {
            xt.SECRET: {
                name: {**cert, "name": name}
                for name in (
                    "kubernetes://bookinfo-cert",
                    "kubernetes://bookinfo-cert-cacert",
                    "kubernetes://other-cert",
                )
            },
            xt.CLUSTER: {},
        }
    )


class Plane:
    def __init__(self) -> None:
        self.index = CredentialIndex(MemoryStore())
        self.auth = CredentialAuthenticator(self.index, lambda: SECRETS)
        self.cache = SnapshotCache()
        self.connected: list[str] = []
        self.server = XdsServer(self.cache, authenticator=self.auth, on_connect=self._on_connect)
        self.server.add_service(AccessLogService(_Sink(), authenticator=self.auth).add_to_server)
        self.port = 0

    async def _on_connect(self, info: object) -> None:
        self.connected.append(getattr(info, "node_id", ""))

    def token(self, kind: str, name: str, namespace: str, sa: str) -> str:
        return self.index.create(kind, name, namespace, sa).token  # type: ignore[arg-type]


class _Sink:
    def record_http(self, entry: object, node: object) -> None: ...

    def record_tcp(self, entry: object, node: object) -> None: ...


@pytest_asyncio.fixture
async def plane() -> AsyncIterator[Plane]:
    p = Plane()
    p.port = await p.server.start("127.0.0.1", 0)
    try:
        yield p
    finally:
        await p.server.stop()


async def _first(client: AdsClient) -> object:
    try:
        return await client.receive(5.0)
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_workload_credential_may_only_be_its_own_node(plane: Plane) -> None:
    """Workload A's credential claiming B's node id, another namespace or the router type is refused with
    PERMISSION_DENIED before anything is registered; as itself it is served."""
    token = plane.token("workload", "a", "default", "sa-a")
    target = f"127.0.0.1:{plane.port}"
    for claimed, expect in (
        (node("sidecar", "b", "default", "sa-a"), "may only connect as node"),
        (node("sidecar", "a", "prod", "sa-a"), "may only connect as node"),
        (node("router", "a", "default", "sa-a"), "may only connect as node"),
        (node("sidecar", "a", "default", "admin"), "SERVICE_ACCOUNT='admin'"),
    ):
        client = AdsClient(target, token=token, envoy=claimed)
        client.subscribe(xt.CLUSTER)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _first(client)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert expect in (refused.value.details() or "")
    assert plane.connected == []
    plane.cache.set(node("sidecar", "a", "default", "sa-a").node.id, Snapshot.from_dicts({xt.CLUSTER: {}}))
    client = AdsClient(target, token=token, envoy=node("sidecar", "a", "default", "sa-a"))
    client.subscribe(xt.CLUSTER)
    assert (await _first(client)).type_url == xt.CLUSTER  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_refused_claim_leaves_the_real_stream_alone(plane: Plane) -> None:
    """B's own stream keeps being served while A's credential tries to take B's node id."""
    b_envoy = node("sidecar", "b", "default", "sa-b")
    plane.cache.set(b_envoy.node.id, Snapshot.from_dicts({xt.CLUSTER: {}}))
    target = f"127.0.0.1:{plane.port}"
    b = AdsClient(target, token=plane.token("workload", "b", "default", "sa-b"), envoy=b_envoy)
    b.subscribe(xt.CLUSTER)
    b.envoy.ack(await b.receive())
    intruder = AdsClient(
        target, token=plane.token("workload", "a", "default", "sa-a"), envoy=node("sidecar", "b", "default", "sa-b")
    )
    intruder.subscribe(xt.CLUSTER)
    with pytest.raises(grpc.aio.AioRpcError):
        await _first(intruder)
    plane.cache.set(b_envoy.node.id, Snapshot.from_dicts({xt.CLUSTER: {}, xt.LISTENER: {}}))
    b.subscribe(xt.LISTENER)
    assert (await b.receive()).type_url == xt.LISTENER
    assert plane.server.proxy_status(b_envoy.node.id) is not None
    await b.close()


async def _secret_names(plane: Plane, token: str, envoy: FakeEnvoy) -> set[str]:
    plane.cache.set(envoy.node.id, secret_snapshot())
    client = AdsClient(f"127.0.0.1:{plane.port}", token=token, envoy=envoy)
    client.subscribe(
        xt.SECRET, ["kubernetes://bookinfo-cert", "kubernetes://bookinfo-cert-cacert", "kubernetes://other-cert"]
    )
    try:
        response = await client.receive(2.0)
    except TimeoutError:
        return set()
    finally:
        await client.close()
    return {_name(r.value) for r in response.resources}  # type: ignore[attr-defined]


def _name(value: bytes) -> str:
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

    return str(secret_pb2.Secret.FromString(value).name)


@pytest.mark.asyncio
async def test_secrets_reach_only_the_gateway_of_their_namespace(plane: Plane) -> None:
    """Even if a snapshot held credentialName secrets, a sidecar credential receives none and a gateway
    credential only its own namespace's (Istio's rule); an admin credential gets what the snapshot has."""
    sidecar = plane.token("workload", "gw", "istio-system", "gw-sa")
    assert await _secret_names(plane, sidecar, node("sidecar", "gw", "istio-system", "gw-sa")) == set()
    gateway = plane.token("gateway", "gw", "istio-system", "gw-sa")
    got = await _secret_names(plane, gateway, node("router", "gw", "istio-system", "gw-sa"))
    assert got == {"kubernetes://bookinfo-cert", "kubernetes://bookinfo-cert-cacert"}
    admin = plane.token("admin", "test", "", "")
    got = await _secret_names(plane, admin, node("router", "x", "default", "x"))
    assert "kubernetes://other-cert" in got


@pytest.mark.asyncio
async def test_revocation_closes_open_streams(plane: Plane) -> None:
    """Revoking a credential ends its open stream (UNAUTHENTICATED) and refuses new ones."""
    envoy = node("sidecar", "a", "default", "sa-a")
    plane.cache.set(envoy.node.id, Snapshot.from_dicts({xt.CLUSTER: {}}))
    minted = plane.index.create("workload", "a", "default", "sa-a")
    plane.index.subscribe(plane.server.revalidate)
    client = AdsClient(f"127.0.0.1:{plane.port}", token=minted.token, envoy=envoy)
    client.subscribe(xt.CLUSTER)
    client.envoy.ack(await client.receive())
    plane.index.revoke(minted.credential.id)
    with pytest.raises(grpc.aio.AioRpcError) as closed:
        await client.receive(5.0)
    assert closed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await client.close()
    again = AdsClient(f"127.0.0.1:{plane.port}", token=minted.token, envoy=node("sidecar", "a", "default", "sa-a"))
    again.subscribe(xt.CLUSTER)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _first(again)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in (refused.value.details() or "")


@pytest.mark.asyncio
async def test_access_log_stream_is_held_to_the_same_rule(plane: Plane) -> None:
    """An access-log stream with A's credential naming B's node is refused; no token is UNAUTHENTICATED."""
    token = plane.token("workload", "a", "default", "sa-a")
    b = node("sidecar", "b", "default", "sa-b")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{plane.port}") as channel:
        stub = als_pb2_grpc.AccessLogServiceStub(channel)

        async def messages() -> AsyncIterator[als_pb2.StreamAccessLogsMessage]:
            msg = als_pb2.StreamAccessLogsMessage()
            msg.identifier.node.CopyFrom(base_pb2.Node(id=b.node.id, metadata=b.node.metadata))
            yield msg
            await asyncio.sleep(1)

        for metadata, code in (
            ((("authorization", f"Bearer {token}"),), grpc.StatusCode.PERMISSION_DENIED),
            ((), grpc.StatusCode.UNAUTHENTICATED),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.StreamAccessLogs(messages(), metadata=metadata)
            assert refused.value.code() == code
