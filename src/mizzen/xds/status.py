"""Per-proxy sync status, computed from stream state exactly as ``istioctl proxy-status`` does.

Per type URL: ERROR if the last response was rejected (until the next ACK), NOT SENT if nothing was
ever sent, SYNCED if the last nonce sent was ACKed, otherwise STALE (sent, not yet ACKed). The same
rules hold for State-of-the-World and delta streams: both keep nonces sent and ACKed per type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mizzen.xds.protocol import NodeInfo, SubscriptionState

SyncStatus = Literal["SYNCED", "NOT SENT", "STALE", "ERROR"]


def sync_status(state: SubscriptionState) -> SyncStatus:
    """istioctl's rule: ERROR > NOT SENT > SYNCED (acked == sent) > STALE."""
    if state.last_error:
        return "ERROR"
    if not state.nonce_sent:
        return "NOT SENT"
    if state.nonce_acked == state.nonce_sent:
        return "SYNCED"
    return "STALE"


@dataclass(frozen=True)
class TypeStatus:
    """The sync state of one type URL for one proxy."""

    type_url: str
    status: SyncStatus
    nonce_sent: str
    nonce_acked: str
    version_sent: str
    version_acked: str
    last_error: str
    last_error_time: float | None  # epoch seconds
    last_sent_time: float | None  # epoch seconds
    subscribed: tuple[str, ...] = ()  # explicit resource names ("*" for a wildcard subscription)

    @classmethod
    def of(cls, state: SubscriptionState) -> TypeStatus:
        """Snapshot one type's state of a SotW or delta stream (the same rules for both)."""
        names = ("*",) if state.wildcard else ()
        return cls(
            type_url=state.type_url,
            status=sync_status(state),
            nonce_sent=state.nonce_sent,
            nonce_acked=state.nonce_acked,
            version_sent=state.version_sent,
            version_acked=state.version_acked,
            last_error=state.last_error,
            last_error_time=state.last_error_time,
            last_sent_time=state.last_sent_time,
            subscribed=names + tuple(sorted(state.names)),
        )


@dataclass(frozen=True)
class ProxyStatus:
    """A connected proxy: its identity, since when it is connected, and per-type sync state."""

    node: NodeInfo
    connected_since: float  # epoch seconds
    types: tuple[TypeStatus, ...] = ()
    peer: str = ""  # gRPC peer address of the stream
    api: str = "SotW"  # the xDS protocol variant of the stream: "SotW" or "Delta"

    @property
    def node_id(self) -> str:
        """Envoy node id."""
        return self.node.node_id

    @property
    def metadata(self) -> Mapping[str, object]:
        """Envoy node metadata as plain JSON values."""
        return self.node.metadata

    @property
    def envoy_version(self) -> str:
        """Envoy's build version, e.g. ``1.40.0``."""
        return self.node.envoy_version

    def type(self, type_url: str) -> TypeStatus | None:
        """Status of one type URL, or None when the proxy never subscribed to it."""
        return next((t for t in self.types if t.type_url == type_url), None)
