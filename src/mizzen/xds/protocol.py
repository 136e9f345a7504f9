"""The vocabulary of an ADS stream: who is connected (:class:`NodeInfo`), what the server sends
(:class:`Response`) and what the state machine reports (:class:`Connected`, :class:`Acked`,
:class:`Nacked`, :class:`Ignored`).

A :class:`Response` is serialized by hand: the resources are already serialized ``Any`` bytes shared by
many proxies, so a ``DiscoveryResponse`` is just their concatenation behind a few field tags. That keeps
the per-proxy cost of a push to a memcpy instead of a protobuf build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any as AnyType

from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format

__all__ = ["Acked", "Action", "Connected", "Ignored", "Nacked", "NodeInfo", "Response", "node_info"]


@dataclass(frozen=True)
class NodeInfo:
    """The identity an Envoy declares on the first request of its stream."""

    node_id: str
    cluster: str = ""
    metadata: Mapping[str, object] = field(default_factory=dict)  # node.metadata Struct as plain JSON values
    envoy_version: str = ""  # "1.40.0" from user_agent_build_version (or user_agent_version)
    user_agent: str = ""  # user_agent_name, "envoy" for Envoy


def node_info(node: AnyType) -> NodeInfo:
    """Build a :class:`NodeInfo` from an ``envoy.config.core.v3.Node`` message."""
    build = node.user_agent_build_version
    if node.HasField("user_agent_build_version") and build.HasField("version"):
        v = build.version
        version = f"{v.major_number}.{v.minor_number}.{v.patch}"
    else:
        version = node.user_agent_version
    metadata: dict[str, object] = json_format.MessageToDict(node.metadata) if node.HasField("metadata") else {}
    return NodeInfo(
        node_id=node.id, cluster=node.cluster, metadata=metadata, envoy_version=version, user_agent=node.user_agent_name
    )


@dataclass(frozen=True)
class Response:
    """One DiscoveryResponse to write: a type, its version, a fresh nonce and ``{name: Any bytes}``."""

    type_url: str
    version: str
    nonce: str
    resources: Mapping[str, bytes]

    def serialize(self) -> bytes:
        """The wire form of ``envoy.service.discovery.v3.DiscoveryResponse``, resources sorted by name.

        Everything but the nonce is shared by the proxies that get the same resources, so that part is
        cached, keyed by the resource bytes objects themselves (hashes of bytes are cached by Python).
        """
        names = tuple(sorted(self.resources))
        values = tuple(self.resources[n] for n in names)
        key = (self.type_url, self.version, names, values)
        body = _BODIES.get(key)
        if body is None:
            parts = [_field(1, self.version.encode())]
            parts.extend(_field(2, value) for value in values)
            parts.append(_field(4, self.type_url.encode()))
            body = b"".join(parts)
            _BODIES[key] = body
            if len(_BODIES) > _BODY_CACHE_SIZE:
                _BODIES.pop(next(iter(_BODIES)))  # oldest first: dicts keep insertion order
        return body + _field(5, self.nonce.encode())

    def to_proto(self) -> AnyType:
        """The same response as a ``DiscoveryResponse`` message (tests, debugging)."""
        return discovery_pb2.DiscoveryResponse.FromString(self.serialize())


_BODY_CACHE_SIZE = 256
_BODIES: dict[tuple[str, str, tuple[str, ...], tuple[bytes, ...]], bytes] = {}


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2); empty strings are omitted as proto3 does."""
    if not payload and number != 2:
        return b""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@dataclass(frozen=True)
class Connected:
    """The first request of the stream named this node; the shell should compute its snapshot now."""

    node: NodeInfo


@dataclass(frozen=True)
class Acked:
    """The proxy applied the response with ``nonce`` (for metrics and hooks)."""

    type_url: str
    version: str
    nonce: str


@dataclass(frozen=True)
class Nacked:
    """The proxy rejected the response with ``nonce``; it keeps ``version`` (its last good one)."""

    type_url: str
    version: str
    nonce: str
    message: str


@dataclass(frozen=True)
class Ignored:
    """A request answering a superseded response (stale nonce) was dropped, as the protocol asks."""

    type_url: str
    nonce: str


Action = Response | Connected | Acked | Nacked | Ignored
