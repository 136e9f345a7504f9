"""The agent's gRPC channel to the control plane's xDS port: TLS (mesh root) for an ``https`` control plane.

One channel per agent carries every forwarded Envoy stream and the admin channel; the credential goes
with each call as ``authorization`` metadata (:func:`credential_metadata`).
"""

from __future__ import annotations

import grpc

Channel = grpc.aio.Channel  # so the agent's other modules need not import grpc

# Config dumps and large snapshots exceed gRPC's 4 MiB default; keepalive notices a vanished control plane.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
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
