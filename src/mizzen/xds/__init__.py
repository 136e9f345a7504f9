"""The aggregated discovery service (ADS) for Envoy, State of the World and Delta; knows nothing of Istio.

Public API::

    encode(type_url, {name: proto-JSON dict}) -> {name: Any bytes}     (cached, shared)
    Snapshot({type_url: {name: Any bytes}}) / Snapshot.from_dicts(...)  (content versions per type)
    SnapshotCache().set(node_id, snapshot) / update_types(...)          (what each node should have)
    XdsServer(cache, token=..., on_connect=..., on_disconnect=...)      (grpc.aio shell, both variants)
    Stream / DeltaStream                                                 (sans-IO protocol state machines)
"""

from mizzen.xds.cache import SnapshotCache
from mizzen.xds.delta import DeltaStream, DeltaTypeState
from mizzen.xds.encode import Encoder, encode
from mizzen.xds.errors import EncodeError, ProtocolError, SnapshotError, XdsError
from mizzen.xds.protocol import DeltaResponse, NodeInfo, Response
from mizzen.xds.server import XdsServer
from mizzen.xds.snapshot import Snapshot, decode
from mizzen.xds.status import ProxyStatus, TypeStatus, sync_status
from mizzen.xds.stream import Stream, TypeState

__all__ = [
    "DeltaResponse",
    "DeltaStream",
    "DeltaTypeState",
    "EncodeError",
    "Encoder",
    "NodeInfo",
    "ProtocolError",
    "ProxyStatus",
    "Response",
    "Snapshot",
    "SnapshotCache",
    "SnapshotError",
    "Stream",
    "TypeState",
    "TypeStatus",
    "XdsError",
    "XdsServer",
    "decode",
    "encode",
    "sync_status",
]
