"""The agent's gRPC channel to the control plane's xDS port: TLS (mesh root) for an ``https`` control plane.

One channel per agent carries every forwarded Envoy stream and the admin channel; the credential goes
with each call as ``authorization`` metadata (:func:`credential_metadata`).

With several control-plane replicas (``--xds-address a:15010,b:15010``) :class:`Upstream` holds a channel
to one of them at a time. When a call to it fails as unreachable, the caller reports it
(:meth:`Upstream.failed`) and the next call goes to the next address that connects within
:data:`CONNECT_TIMEOUT_S`, in the order given. One address that is a DNS name with several addresses is
left to gRPC, which tries each of them in turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc

log = logging.getLogger(__name__)

Address = tuple[str, int]

CONNECT_TIMEOUT_S = 1.0  # per address: a replica that cannot connect in this long is skipped for now

Channel = grpc.aio.Channel  # so the agent's other modules need not import grpc

# Config dumps and large snapshots exceed gRPC's 4 MiB default (the xDS proxy's server uses these too).
MESSAGE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
)

# Back within 2 s of a link returning (issue 18): a ping every second, answered within 2 s, finds a dead
# connection within 3 s of a cut (the control plane allows pings at any rate: ``grpc.http2.max_ping_strikes``
# 0), so by the time the link returns the channel is already reconnecting, every 0.1-1 s (gRPC adds +-20 %
# jitter), each attempt bounded by the same backoff (``min_reconnect_backoff`` is gRPC's connect deadline).
# Without it, a connection that outlived a 20 s cut waited for TCP's retransmission backoff (up to ~13 s
# after the link returned) or for the 30 s + 10 s keepalive: 14-29 s measured.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    *MESSAGE_OPTIONS,
    ("grpc.keepalive_time_ms", 1_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def open_channel(host: str, port: int, roots: bytes | None) -> grpc.aio.Channel:
    """A channel to ``host:port``, over TLS verified against ``roots`` when given, else plaintext."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if roots is not None:
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots), CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(target, CHANNEL_OPTIONS)


def credential_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata carrying the agent's credential."""
    return (("authorization", f"Bearer {token}"),)


class Upstream:
    """A channel to one of several control-plane replicas, moving on when it fails (module docstring)."""

    def __init__(self, addresses: Sequence[Address], roots: bytes | None) -> None:
        """Connect to the first of ``addresses`` that answers, verifying TLS against ``roots`` when given."""
        if not addresses:
            raise ValueError("at least one control-plane xDS address is needed")
        self.addresses = tuple(addresses)
        self._roots = roots
        self._index = 0
        self._channel = open_channel(*self.addresses[0], roots)
        self._lock = asyncio.Lock()
        self.switches = 0  # how often the agent moved to another replica (for tests and logs)

    @property
    def address(self) -> Address:
        """The replica the current channel goes to."""
        return self.addresses[self._index]

    @property
    def single(self) -> bool:
        """True with one control-plane address: calls may then wait for the channel instead of failing over."""
        return len(self.addresses) == 1

    @property
    def channel(self) -> grpc.aio.Channel:
        """The current channel (it may be reconnecting)."""
        return self._channel

    async def ready(self) -> grpc.aio.Channel:
        """The current channel once connected; if it does not connect in time, the next replica's that does.

        After a full round without success the current channel is returned as it is: gRPC keeps trying it,
        and the caller's call fails or waits as it would with one address.
        """
        async with self._lock:
            for _ in range(len(self.addresses)):
                if await _connects(self._channel, CONNECT_TIMEOUT_S if len(self.addresses) > 1 else None):
                    return self._channel
                await self._move()
            return self._channel

    async def failed(self, channel: grpc.aio.Channel) -> None:
        """A call on ``channel`` found its replica unreachable: the next call goes to the next replica."""
        if len(self.addresses) == 1:
            return
        async with self._lock:
            if channel is self._channel:  # not already replaced by another caller's report
                await self._move()

    async def _move(self) -> None:
        old, was = self._channel, self.address
        self._index = (self._index + 1) % len(self.addresses)
        self._channel = open_channel(*self.address, self._roots)
        self.switches += 1
        log.info("control plane %s:%d unreachable; switching to %s:%d", *was, *self.address)
        await old.close(grace=None)

    async def close(self) -> None:
        """Close the current channel."""
        await self._channel.close()


async def _connects(channel: grpc.aio.Channel, timeout: float | None) -> bool:
    if timeout is None:
        return True  # one address: gRPC's own reconnection is all there is
    if channel.get_state(try_to_connect=True) == grpc.ChannelConnectivity.READY:
        return True
    try:
        await asyncio.wait_for(channel.channel_ready(), timeout)
    except TimeoutError:
        return False
    return True


def unreachable(exc: grpc.aio.AioRpcError) -> bool:
    """True when a call failed because its replica could not be reached (or went away mid-stream)."""
    return bool(exc.code() == grpc.StatusCode.UNAVAILABLE)
