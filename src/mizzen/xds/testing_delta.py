"""Test doubles for incremental xDS: a sans-IO fake delta Envoy and a real grpc.aio delta ADS client.

:class:`FakeDeltaEnvoy` builds ``DeltaDiscoveryRequest`` messages as Envoy does (node on the first request
of a stream, ``response_nonce`` on ACK/NACK, subscription deltas, ``initial_resource_versions`` on a new
stream) and applies the responses it ACKs, so tests can see what a proxy would hold. :class:`DeltaAdsClient`
speaks the same protocol over gRPC to an :class:`~mizzen.xds.server.XdsServer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any as AnyType

from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from mizzen.xds.protocol import DeltaResponse
from mizzen.xds.testing import FakeEnvoy, StreamClient

DELTA_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"


class FakeDeltaEnvoy:
    """Builds delta requests like Envoy; ``have[type_url]`` is ``{name: version}`` of what it applied."""

    def __init__(
        self,
        node_id: str = "sidecar~127.0.0.1~app.default~default.svc.cluster.local",
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        self.node = FakeEnvoy(node_id, metadata).node
        self.have: dict[str, dict[str, str]] = {}
        self.contents: dict[str, dict[str, bytes]] = {}  # type -> name -> serialized Any it applied
        self._first = True

    def request(
        self,
        type_url: str,
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        *,
        initial: Mapping[str, str] | None = None,
    ) -> AnyType:
        """A spontaneous request (no nonce): subscription changes, optionally initial versions."""
        req = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url,
            resource_names_subscribe=list(subscribe),
            resource_names_unsubscribe=list(unsubscribe),
            initial_resource_versions=dict(initial or {}),
        )
        return self._identify(req)

    def ack(self, response: DeltaResponse | AnyType, subscribe: Iterable[str] = ()) -> AnyType:
        """Apply a response and ACK it (optionally subscribing to more names in the same request)."""
        proto = _proto(response)
        have = self.have.setdefault(proto.type_url, {})
        contents = self.contents.setdefault(proto.type_url, {})
        for resource in proto.resources:
            have[resource.name] = resource.version
            contents[resource.name] = resource.resource.SerializeToString(deterministic=True)
        for name in proto.removed_resources:
            have.pop(name, None)
            contents.pop(name, None)
        req = discovery_pb2.DeltaDiscoveryRequest(
            type_url=proto.type_url, response_nonce=proto.nonce, resource_names_subscribe=list(subscribe)
        )
        return self._identify(req)

    def nack(self, response: DeltaResponse | AnyType, message: str = "rejected") -> AnyType:
        """Reject a response: its nonce and an ``error_detail``; nothing of it is applied."""
        proto = _proto(response)
        req = discovery_pb2.DeltaDiscoveryRequest(type_url=proto.type_url, response_nonce=proto.nonce)
        req.error_detail.CopyFrom(status_pb2.Status(code=3, message=message))
        return self._identify(req)

    def reconnect(self) -> None:
        """Start a new stream: the next request carries the node again (state is kept, as Envoy keeps it)."""
        self._first = True

    def resume(self, type_url: str, subscribe: Iterable[str] = ()) -> AnyType:
        """The first request of a type on a new stream: its subscriptions and the versions it holds."""
        return self.request(type_url, subscribe, initial=self.have.get(type_url, {}))

    def _identify(self, req: AnyType) -> AnyType:
        if self._first:
            req.node.CopyFrom(self.node)
            self._first = False
        return req


def _proto(response: DeltaResponse | AnyType) -> AnyType:
    return response.to_proto() if isinstance(response, DeltaResponse) else response


class DeltaAdsClient(StreamClient):
    """A minimal delta ADS client: send ``DeltaDiscoveryRequest``, receive ``DeltaDiscoveryResponse``."""

    def __init__(self, target: str, *, token: str | None = None, envoy: FakeDeltaEnvoy | None = None) -> None:
        self.envoy = envoy or FakeDeltaEnvoy()
        super().__init__(
            target, DELTA_METHOD, discovery_pb2.DeltaDiscoveryRequest, discovery_pb2.DeltaDiscoveryResponse, token
        )

    def subscribe(self, type_url: str, names: Iterable[str] = ()) -> None:
        """Subscribe to names of a type (nothing: the legacy wildcard on a type's first request)."""
        self.send(self.envoy.request(type_url, names))
