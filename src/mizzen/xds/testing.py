"""Test doubles shipped with the library: a sans-IO fake Envoy and a real grpc.aio ADS client.

:class:`FakeEnvoy` builds the ``DiscoveryRequest`` messages an Envoy would send (node on the first
request, echoing nonces, ACK with the new version, NACK with the old one), so stream tests can wire
it to a :class:`~mizzen.xds.stream.Stream` in memory. :class:`AdsClient` speaks the same protocol over
gRPC to an :class:`~mizzen.xds.server.XdsServer` (integration tests, the fan-out benchmark). The delta
twins live in :mod:`mizzen.xds.testing_delta`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any as AnyType

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import struct_pb2
from google.rpc import status_pb2

from mizzen.xds import types
from mizzen.xds.protocol import Response
from mizzen.xds.snapshot import Snapshot

METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"


class FakeEnvoy:
    """Builds requests like Envoy does; tracks the last nonce and applied version per type."""

    def __init__(
        self,
        node_id: str = "sidecar~127.0.0.1~app.default~default.svc.cluster.local",
        metadata: Mapping[str, object] | None = None,
        version: tuple[int, int, int] = (1, 40, 0),
    ) -> None:
        self.node = base_pb2.Node(id=node_id, cluster="app.default", user_agent_name="envoy")
        self.node.user_agent_build_version.version.major_number = version[0]
        self.node.user_agent_build_version.version.minor_number = version[1]
        self.node.user_agent_build_version.version.patch = version[2]
        if metadata:
            struct = struct_pb2.Struct()
            struct.update(dict(metadata))
            self.node.metadata.CopyFrom(struct)
        self.nonces: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.names: dict[str, list[str]] = {}
        self._first = True

    def request(
        self, type_url: str, names: Iterable[str] = (), *, nonce: str | None = None, version: str | None = None
    ) -> AnyType:
        """A (re)subscription request echoing the last nonce and version unless given."""
        self.names[type_url] = list(names)
        return self._build(
            type_url,
            nonce=self.nonces.get(type_url, "") if nonce is None else nonce,
            version=self.versions.get(type_url, "") if version is None else version,
        )

    def ack(self, response: Response | AnyType, names: Iterable[str] | None = None) -> AnyType:
        """ACK a response: its nonce and version, the current (or given) subscription."""
        if names is not None:
            self.names[response.type_url] = list(names)
        self.nonces[response.type_url] = response.nonce
        self.versions[response.type_url] = _version(response)
        return self._build(response.type_url, nonce=response.nonce, version=_version(response))

    def nack(self, response: Response | AnyType, message: str = "rejected") -> AnyType:
        """NACK a response: its nonce, the previous good version, an error_detail."""
        self.nonces[response.type_url] = response.nonce
        req = self._build(response.type_url, nonce=response.nonce, version=self.versions.get(response.type_url, ""))
        req.error_detail.CopyFrom(status_pb2.Status(code=3, message=message))
        return req

    def _build(self, type_url: str, *, nonce: str, version: str) -> AnyType:
        req = discovery_pb2.DiscoveryRequest(
            type_url=type_url, response_nonce=nonce, version_info=version, resource_names=self.names.get(type_url, [])
        )
        if self._first:
            req.node.CopyFrom(self.node)
            self._first = False
        return req


def _version(response: Response | AnyType) -> str:
    return response.version if isinstance(response, Response) else str(response.version_info)


class StreamClient:
    """A bidirectional gRPC stream over grpc.aio: queue requests, receive responses (SotW or delta).

    Create it inside a running event loop.
    """

    def __init__(
        self, target: str, method: str, request_type: AnyType, response_type: AnyType, token: str | None
    ) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._outbox: asyncio.Queue[AnyType | None] = asyncio.Queue()
        metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
        call = self._channel.stream_stream(
            method, request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString
        )
        self.call = call(self._requests(), metadata=metadata)
        self._inbox: asyncio.Queue[AnyType | BaseException] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        # Reading in a task of its own: cancelling a pending call.read() would cancel the whole RPC.
        try:
            async for response in self.call:
                self._inbox.put_nowait(response)
            self._inbox.put_nowait(EOFError("ADS stream closed by the server"))
        except grpc.aio.AioRpcError as exc:
            self._inbox.put_nowait(exc)
        except asyncio.CancelledError:
            self._inbox.put_nowait(EOFError("ADS stream cancelled"))
            raise

    async def _requests(self) -> AsyncIterator[AnyType]:
        while (req := await self._outbox.get()) is not None:
            yield req

    def send(self, request: AnyType) -> None:
        """Queue a request for the stream."""
        self._outbox.put_nowait(request)

    async def receive(self, timeout: float = 5.0) -> AnyType:
        """The next response (raises TimeoutError, or grpc.aio.AioRpcError if the stream ended)."""
        item = await asyncio.wait_for(self._inbox.get(), timeout)
        if isinstance(item, BaseException):
            self._inbox.put_nowait(item)  # the stream stays ended for later calls too
            raise item
        return item

    async def close(self) -> None:
        """End the stream and the channel."""
        self._outbox.put_nowait(None)
        self.call.cancel()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._channel.close()


class AdsClient(StreamClient):
    """A minimal State-of-the-World ADS client: send ``DiscoveryRequest``, receive ``DiscoveryResponse``."""

    def __init__(self, target: str, *, token: str | None = None, envoy: FakeEnvoy | None = None) -> None:
        self.envoy = envoy or FakeEnvoy()
        super().__init__(target, METHOD, discovery_pb2.DiscoveryRequest, discovery_pb2.DiscoveryResponse, token)

    def subscribe(self, type_url: str, names: Iterable[str] = ()) -> None:
        """Send a (re)subscription request for a type."""
        self.send(self.envoy.request(type_url, names))


def ads_bootstrap(
    node_id: str,
    xds_port: int,
    admin_port: int,
    *,
    token: str | None = None,
    cluster: str = "",
    prune_stats: bool = True,
    api_type: str = "GRPC",
) -> dict[str, object]:
    """A minimal Envoy bootstrap that takes everything over ADS from ``127.0.0.1:xds_port``.

    Admin on loopback, a static HTTP/2 ``xds-grpc`` cluster carrying the bearer token as gRPC initial
    metadata, CDS and LDS via ADS. ``prune_stats`` keeps only the xDS-related stats (much cheaper Envoy).
    ``api_type``: ``GRPC`` (State of the World) or ``DELTA_GRPC`` (incremental).
    """
    grpc_service: dict[str, object] = {"envoy_grpc": {"cluster_name": "xds-grpc"}}
    if token is not None:
        grpc_service["initial_metadata"] = [{"key": "authorization", "value": f"Bearer {token}"}]
    config: dict[str, object] = {
        "node": {"id": node_id, "cluster": cluster or node_id},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "clusters": [
                {
                    "name": "xds-grpc",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "xds-grpc",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {"address": "127.0.0.1", "port_value": xds_port}
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ]
        },
        "dynamic_resources": {
            "ads_config": {"api_type": api_type, "transport_api_version": "V3", "grpc_services": [grpc_service]},
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
    }
    if prune_stats:
        config["stats_config"] = {
            "stats_matcher": {
                "inclusion_list": {
                    "patterns": [
                        {"prefix": "listener_manager."},
                        {"prefix": "cluster_manager."},
                        {"prefix": "control_plane."},
                        {"prefix": "server."},
                    ]
                }
            }
        }
    return config


# --- small but real Envoy resources for tests (proto-JSON dicts) -----------------------------------------
def cluster(name: str, timeout: str = "1s") -> dict[str, object]:
    """An EDS cluster fed over ADS."""
    return {
        "name": name,
        "type": "EDS",
        "connect_timeout": timeout,
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
    }


def cla(name: str, port: int = 8080) -> dict[str, object]:
    """An endpoint assignment with one loopback endpoint."""
    return {
        "cluster_name": name,
        "endpoints": [
            {
                "lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                ]
            }
        ],
    }


def listener(name: str, port: int, route: str) -> dict[str, object]:
    """A listener with an HTTP connection manager on RDS ``route``."""
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                            ".HttpConnectionManager",
                            "stat_prefix": name,
                            "rds": {
                                "route_config_name": route,
                                "config_source": {"ads": {}, "resource_api_version": "V3"},
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


def route(name: str, cluster_name: str, prefix: str = "/") -> dict[str, object]:
    """A route configuration sending every path under ``prefix`` to one cluster."""
    return {
        "name": name,
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": prefix}, "route": {"cluster": cluster_name}}],
            }
        ],
    }


def snapshot(
    clusters: dict[str, str] | None = None,
    *,
    ports: dict[str, int] | None = None,
    routes: dict[str, str] | None = None,
    listeners: dict[str, tuple[int, str]] | None = None,
) -> Snapshot:
    """clusters: name->timeout; ports: cluster->endpoint port; routes: name->cluster; listeners: name->(port, route)."""
    clusters = {"a": "1s", "b": "1s"} if clusters is None else clusters
    ports = ports or {}
    routes = {"r1": "a"} if routes is None else routes
    listeners = {"l1": (15001, "r1")} if listeners is None else listeners
    return Snapshot.from_dicts(
        {
            types.CLUSTER: {n: cluster(n, t) for n, t in clusters.items()},
            types.ENDPOINT: {n: cla(n, ports.get(n, 8080)) for n in clusters},
            types.LISTENER: {n: listener(n, p, r) for n, (p, r) in listeners.items()},
            types.ROUTE: {n: route(n, c) for n, c in routes.items()},
        }
    )
