"""The agent's gRPC channel to the control plane's xDS port: TLS (mesh root) for an ``https`` control plane.

One channel per agent carries every forwarded Envoy stream and the admin channel; the credential goes
with each call as ``authorization`` metadata (:func:`credential_metadata`).

With several control-plane replicas (``--xds-address a:15010,b:15010``) :class:`Upstream` holds a channel
to one of them at a time. When a call to it fails as unreachable, the caller reports it
(:meth:`Upstream.failed`) and the next call goes to the next address that connects within
:data:`CONNECT_TIMEOUT_S`, in the order given. One address that is a DNS name with several addresses is
left to gRPC, which tries each of them in turn.

Prompt reconnection (issue 15: every proxy SYNCED within 2.5 s of a control-plane restart): gRPC's own
reconnect backoff grows to :data:`CHANNEL_OPTIONS`' 1 s while the control plane is away, so a restarted
one waited up to a second more for each agent. With one address, :meth:`Upstream.ready` waits for the
channel itself; for the first :data:`PROMPT_WINDOW_S` of an outage (what a restart takes) it also
tries a plain TCP connect every :data:`PROBE_EVERY_S` (jittered), and when the port accepts while the
channel is still backing off it replaces the channel with a fresh one, which connects at once (each
channel has a subchannel pool of its own: from gRPC's process-wide pool the fresh channel would get the
old one's connection, backoff and all). One
probe loop serves every caller; after the window only gRPC's backoff (every 0.1-1 s) is left, so an
agent whose control plane stays down wakes about once a second for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

import grpc

log = logging.getLogger(__name__)

Address = tuple[str, int]

CONNECT_TIMEOUT_S = 1.0  # per address: a replica that cannot connect in this long is skipped for now
PROMPT_WINDOW_S = 10.0  # an outage this young is likely a restart: probe the port often (module docstring)
PROBE_EVERY_S = 0.1  # +-20 % jitter, so agents cut off together do not all probe in the same instant
PROBE_TIMEOUT_S = 0.5
RETIRE_GRACE_S = 5.0  # a replaced channel's last calls get this long before it is closed

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
    # Channels do not share subchannels (gRPC's default pool is process-wide): a renewed channel must get a
    # connection of its own, not the old channel's, which is still waiting out its backoff (module docstring).
    ("grpc.use_local_subchannel_pool", 1),
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

    def __init__(
        self, addresses: Sequence[Address], roots: bytes | None, *, prompt_window_s: float = PROMPT_WINDOW_S
    ) -> None:
        """Connect to the first of ``addresses`` that answers, verifying TLS against ``roots`` when given;
        ``prompt_window_s``: how long into an outage the port is probed (module docstring)."""
        if not addresses:
            raise ValueError("at least one control-plane xDS address is needed")
        self.addresses = tuple(addresses)
        self._roots = roots
        self._index = 0
        self._channel = open_channel(*self.addresses[0], roots)
        self._lock = asyncio.Lock()
        self._prompt_window_s = prompt_window_s
        self._reconnect: asyncio.Task[None] | None = None  # the one prompt-reconnect loop (module docstring)
        self._retiring: dict[asyncio.Task[None], grpc.aio.Channel] = {}  # replaced channels, closing
        self.switches = 0  # how often the agent moved to another replica (for tests and logs)
        self.probes = 0  # TCP connects tried while reconnecting (the wake-ups an outage costs)
        self.renewals = 0  # channels replaced because the port accepted while gRPC was backing off

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
        and the caller's call fails or waits as it would with one address. With one address it waits until
        the channel is connected, reconnecting promptly after an outage (module docstring).
        """
        if self.single:
            if self._channel.get_state(try_to_connect=True) != grpc.ChannelConnectivity.READY:
                if self._reconnect is None or self._reconnect.done():
                    self._reconnect = asyncio.create_task(self._reconnect_promptly(), name="mizzen-reconnect")
                await asyncio.shield(self._reconnect)
            return self._channel
        async with self._lock:
            for _ in range(len(self.addresses)):
                if await _connects(self._channel, CONNECT_TIMEOUT_S if len(self.addresses) > 1 else None):
                    return self._channel
                await self._move()
            return self._channel

    async def _reconnect_promptly(self) -> None:
        """Until the channel is connected: probe the port during the prompt window, renewing the channel when
        it accepts; then leave it to gRPC's backoff. One watcher per channel (no cancel-and-rewatch churn)."""
        started = time.monotonic()
        channel = self._channel
        connected = asyncio.ensure_future(channel.channel_ready())
        try:
            while time.monotonic() - started < self._prompt_window_s:
                done, _ = await asyncio.wait({connected}, timeout=PROBE_EVERY_S * random.uniform(0.8, 1.2))
                if done:
                    break
                if channel.get_state(try_to_connect=True) != grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                    continue  # connecting (gRPC's own attempt, or a renewed channel's)
                self.probes += 1
                if await _accepts(*self.address) and channel is self._channel:
                    self._renew()
                    connected.cancel()
                    channel = self._channel
                    connected = asyncio.ensure_future(channel.channel_ready())
            await connected
        finally:
            connected.cancel()

    def _renew(self) -> None:
        """A fresh channel to the same address (connecting at once); the old one closes after a grace."""
        old = self._channel
        self._channel = open_channel(*self.address, self._roots)
        self._channel.get_state(try_to_connect=True)
        self.renewals += 1
        task = asyncio.create_task(old.close(grace=RETIRE_GRACE_S), name="mizzen-retire-channel")
        self._retiring[task] = old
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

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
        """Stop reconnecting and close the current channel (and any being retired)."""
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        for task, channel in list(self._retiring.items()):
            task.cancel()
            await channel.close()
        await self._channel.close()


class UpstreamPool:
    """One :class:`Upstream` per control plane (its addresses and mesh root), shared by every workload of a
    host agent: one connection, one keepalive ping a second and one reconnect loop per host instead of one
    per workload. Calls still carry each workload's own credential (:func:`credential_metadata`)."""

    def __init__(self) -> None:
        """Channels open on first :meth:`get`."""
        self._by_key: dict[tuple[tuple[Address, ...], bytes | None], Upstream] = {}

    def get(self, addresses: Sequence[Address], roots: bytes | None) -> Upstream:
        """The shared upstream for this control plane, opened on first use."""
        key = (tuple(addresses), roots)
        if key not in self._by_key:
            self._by_key[key] = Upstream(addresses, roots)
        return self._by_key[key]

    async def close(self) -> None:
        """Close every channel (the host agent is exiting)."""
        pool, self._by_key = self._by_key, {}
        for upstream in pool.values():
            await upstream.close()


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


async def _accepts(host: str, port: int) -> bool:
    """True when ``host:port`` accepts a TCP connection now (closed again at once)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT_S)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def unreachable(exc: grpc.aio.AioRpcError) -> bool:
    """True when a call failed because its replica could not be reached (or went away mid-stream)."""
    return bool(exc.code() == grpc.StatusCode.UNAVAILABLE)
