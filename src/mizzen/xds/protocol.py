"""The vocabulary of an ADS stream: who is connected (:class:`NodeInfo`), what the server sends
(:class:`Response` for State of the World, :class:`DeltaResponse` for incremental xDS) and what the
state machines report (:class:`Connected`, :class:`Acked`, :class:`Nacked`, :class:`Ignored`).

Responses are serialized by hand: the resources are already serialized ``Any`` bytes shared by many
proxies, so a ``DiscoveryResponse`` is just their concatenation behind a few field tags. That keeps the
per-proxy cost of a push to a memcpy instead of a protobuf build.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, TypeVar
from typing import Any as AnyType

from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format

if TYPE_CHECKING:
    from mizzen.xds.snapshot import Snapshot

_K = TypeVar("_K")
_V = TypeVar("_V")

__all__ = [
    "Acked",
    "Action",
    "AdsStream",
    "Connected",
    "DeltaResponse",
    "Ignored",
    "Nacked",
    "NodeInfo",
    "Nonces",
    "Reply",
    "Response",
    "SubscriptionState",
    "node_info",
    "resource_version",
]


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


class Nonces:
    """The nonces of one stream, chosen so that most responses' bytes are shared by every proxy.

    A response body (everything but the nonce) is serialized once and cached with a serial number from a
    process-wide counter. A response whose body's serial is above every shared nonce this stream has used
    gets the body's own nonce, ``b<serial>``, which is already in the cached bytes: the proxies that get the
    same change are all written the very same ``bytes`` object, with no per-proxy copy of a large route
    configuration. Otherwise (a body this stream may have been sent before) the stream takes one of its own,
    a plain counter. Both kinds are unique on the stream: shared ones strictly increase, and the two never
    look alike.
    """

    def __init__(self) -> None:
        self._own = 0
        self._shared = 0

    def choose(self, serial: int) -> str | None:
        """The shared nonce for a body with ``serial`` when this stream may use it, else ``None``."""
        if serial > self._shared:
            self._shared = serial
            return _shared_nonce(serial)
        return None

    def own(self) -> str:
        """A nonce of this stream's own."""
        self._own += 1
        return str(self._own)


def _shared_nonce(serial: int) -> str:
    return f"b{serial}"


@dataclass(frozen=True)
class Response:
    """One DiscoveryResponse to write: a type, its version, a fresh nonce and ``{name: Any bytes}``.

    Build it with :meth:`make` (which picks the nonce from the stream's :class:`Nonces` and keeps the wire
    bytes); a response built directly is serialized on demand.
    """

    type_url: str
    version: str
    nonce: str
    resources: Mapping[str, bytes]
    wire: bytes = field(default=b"", repr=False, compare=False)

    @classmethod
    def make(cls, type_url: str, version: str, resources: Mapping[str, bytes], nonces: Nonces) -> Response:
        """The response for ``resources``, its nonce chosen by ``nonces``."""
        serial, body = _sotw_body(type_url, version, resources)
        return _finish(cls(type_url, version, "", resources), nonces, serial, body)

    def serialize(self) -> bytes:
        """The wire form of ``envoy.service.discovery.v3.DiscoveryResponse``, resources sorted by name."""
        return self.wire or _with_nonce(_sotw_body(self.type_url, self.version, self.resources)[1], self.nonce)

    def to_proto(self) -> AnyType:
        """The same response as a ``DiscoveryResponse`` message (tests, debugging)."""
        return discovery_pb2.DiscoveryResponse.FromString(self.serialize())


_R = TypeVar("_R", "Response", "DeltaResponse")


def _finish(response: _R, nonces: Nonces, serial: int, body: bytes) -> _R:
    nonce = nonces.choose(serial)
    if nonce is not None:
        return replace(response, nonce=nonce, wire=body)
    nonce = nonces.own()
    return replace(response, nonce=nonce, wire=_with_nonce(body, nonce))


def _with_nonce(body: bytes, nonce: str) -> bytes:
    """``body`` answered with ``nonce``. The cached body already ends with its shared nonce; protobuf
    parsers keep the last value of a field that is not repeated, so a second nonce field overrides it."""
    return body + _field(5, nonce.encode())


def _sotw_body(type_url: str, version: str, resources: Mapping[str, bytes]) -> tuple[int, bytes]:
    """(serial, bytes) of a DiscoveryResponse without its own nonce, cached: the proxies that get the same
    resources share it (keyed by the resource bytes objects themselves; hashes of bytes are cached)."""
    names = tuple(sorted(resources))
    values = tuple(resources[n] for n in names)
    key = (type_url, version, names, values)
    found = _BODIES.get(key)
    if found is None:
        parts = [_field(1, version.encode())]
        parts.extend(_fields(2, values))
        parts.append(_field(4, type_url.encode()))
        found = _keep_body(_BODIES, key, parts)
    return found


_BODY_CACHE_SIZE = 256
# Bodies are shared only by proxies that get the very same resources; a proxy's first CDS response is
# its own (its inbound clusters), so the cache is also bounded by bytes: 256 first responses of a
# 1000-service mesh would otherwise hold 150 MB.
_BODY_CACHE_BYTES = 32 * 1024 * 1024


def _keep_body(cache: dict[_K, tuple[int, bytes]], key: _K, parts: list[bytes]) -> tuple[int, bytes]:
    """Number and remember the body made of ``parts`` (its shared nonce appended), dropping the oldest
    entries past the entry or byte bound."""
    serial = next(_SERIALS)
    parts.append(_field(5, _shared_nonce(serial).encode()))
    found = cache[key] = (serial, b"".join(parts))
    total = _BODY_BYTES[id(cache)] = _BODY_BYTES.get(id(cache), 0) + len(found[1])
    while len(cache) > 1 and (len(cache) > _BODY_CACHE_SIZE or total > _BODY_CACHE_BYTES):
        total -= len(cache.pop(next(iter(cache)))[1])  # oldest first: dicts keep insertion order
    _BODY_BYTES[id(cache)] = total
    return found


_SERIALS = itertools.count(1)
_BODY_BYTES: dict[int, int] = {}  # bytes held per body cache (keyed by the cache's id; two caches)
_BODIES: dict[tuple[str, str, tuple[str, ...], tuple[bytes, ...]], tuple[int, bytes]] = {}


@dataclass(frozen=True)
class DeltaResponse:
    """One DeltaDiscoveryResponse: changed resources ``{name: Any bytes}`` and ``removed`` names.

    ``version`` goes to ``system_version_info`` (the snapshot's type version; debugging only, as the
    protocol says); each resource carries its own :func:`resource_version`.
    """

    type_url: str
    version: str
    nonce: str
    resources: Mapping[str, bytes]
    removed: tuple[str, ...] = ()
    wire: bytes = field(default=b"", repr=False, compare=False)

    @classmethod
    def make(
        cls, type_url: str, version: str, resources: Mapping[str, bytes], removed: Sequence[str], nonces: Nonces
    ) -> DeltaResponse:
        """The response for ``resources`` and ``removed``, its nonce chosen by ``nonces``."""
        serial, body = _delta_body(type_url, version, resources, tuple(removed))
        return _finish(cls(type_url, version, "", resources, tuple(removed)), nonces, serial, body)

    def serialize(self) -> bytes:
        """The wire form of ``envoy.service.discovery.v3.DeltaDiscoveryResponse``, names sorted."""
        if self.wire:
            return self.wire
        return _with_nonce(_delta_body(self.type_url, self.version, self.resources, self.removed)[1], self.nonce)

    def to_proto(self) -> AnyType:
        """The same response as a ``DeltaDiscoveryResponse`` message (tests, debugging)."""
        return discovery_pb2.DeltaDiscoveryResponse.FromString(self.serialize())


_DELTA_BODIES: dict[tuple[str, str, tuple[str, ...], tuple[bytes, ...], tuple[str, ...]], tuple[int, bytes]] = {}


def _delta_body(
    type_url: str, version: str, resources: Mapping[str, bytes], removed: tuple[str, ...]
) -> tuple[int, bytes]:
    """(serial, bytes) of a DeltaDiscoveryResponse without its own nonce, cached like :func:`_sotw_body`."""
    names = tuple(sorted(resources))
    values = tuple(resources[n] for n in names)
    gone = tuple(sorted(removed))
    key = (type_url, version, names, values, gone)
    found = _DELTA_BODIES.get(key)
    if found is None:
        parts = [_field(1, version.encode())]
        parts.extend(_fields(2, [_delta_resource(n, v) for n, v in zip(names, values, strict=True)]))
        parts.append(_field(4, type_url.encode()))
        parts.extend(_field(6, n.encode()) for n in gone)
        found = _keep_body(_DELTA_BODIES, key, parts)
    return found


_SHARED_CACHE_SIZE = 1 << 17  # distinct resources remembered; far above one mesh's resources of a type
_VERSIONS: dict[bytes, str] = {}
_RESOURCES: dict[tuple[str, bytes], bytes] = {}


def resource_version(data: bytes) -> str:
    """The version of one resource in incremental xDS: a hash of its serialized ``Any`` bytes.

    Content-derived, so it is the same after a control-plane restart and a reconnecting Envoy's
    ``initial_resource_versions`` match what the restarted server would send. Cached per bytes object
    (shared by every proxy that has the resource), so each distinct resource is hashed once.
    """
    version = _VERSIONS.get(data)
    if version is None:
        version = hashlib.blake2b(data, digest_size=8).hexdigest()
        _remember(_VERSIONS, data, version)
    return version


def _delta_resource(name: str, data: bytes) -> bytes:
    """A serialized ``envoy.service.discovery.v3.Resource``: name (3), version (1), the Any (2)."""
    key = (name, data)
    encoded = _RESOURCES.get(key)
    if encoded is None:
        encoded = _field(3, name.encode()) + _field(1, resource_version(data).encode()) + _field(2, data)
        _remember(_RESOURCES, key, encoded)
    return encoded


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    cache[key] = value
    if len(cache) > _SHARED_CACHE_SIZE:
        cache.pop(next(iter(cache)))  # oldest first


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2); empty strings are omitted as proto3 does."""
    if not payload and number != 2:
        return b""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _fields(number: int, payloads: Sequence[bytes]) -> list[bytes]:
    """Repeated length-delimited fields as pieces to join: a cached tag+length prefix, then the payload.

    A response to a new proxy frames thousands of resources, so the prefix is looked up, not rebuilt.
    """
    out: list[bytes] = []
    for payload in payloads:
        key = (number, len(payload))
        prefix = _PREFIXES.get(key)
        if prefix is None:
            prefix = _PREFIXES[key] = _varint((number << 3) | 2) + _varint(len(payload))
        out += (prefix, payload)
    return out


_PREFIXES: dict[tuple[int, int], bytes] = {}  # bounded by the distinct resource sizes (a few thousand)


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


Reply = Response | DeltaResponse
Action = Response | DeltaResponse | Connected | Acked | Nacked | Ignored


class SubscriptionState(Protocol):
    """What the server and proxy-status read of one type URL on one stream, whichever protocol it speaks."""

    type_url: str
    wildcard: bool
    names: frozenset[str]  # explicit subscriptions (besides a wildcard)
    nonce_sent: str
    version_sent: str
    nonce_acked: str
    version_acked: str
    last_error: str
    last_error_time: float | None
    last_sent_time: float | None

    @property
    def sent(self) -> Mapping[str, bytes]:
        """What the proxy has or is applying, by name."""
        ...

    @property
    def acked(self) -> Mapping[str, bytes]:
        """What the proxy confirmed, by name."""
        ...


class AdsStream(Protocol):
    """A sans-IO ADS stream (:class:`~mizzen.xds.stream.Stream` or :class:`~mizzen.xds.delta.DeltaStream`)."""

    api: str  # "SotW" or "Delta", for proxy-status and logs

    @property
    def node(self) -> NodeInfo | None:
        """The node the stream's first request named (None before it)."""
        ...

    @property
    def types(self) -> Mapping[str, SubscriptionState]:
        """The state of each type URL the proxy subscribed to."""
        ...

    def receive(self, request: AnyType) -> list[Action]:
        """Handle one request from the proxy."""
        ...

    def snapshot_updated(self, snapshot: Snapshot | None) -> Sequence[Reply]:
        """Adopt the node's newest snapshot and return what to send, in push order."""
        ...
