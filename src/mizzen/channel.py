"""Framing of the agent channel: one long-lived gRPC stream an agent opens to the control plane.

A contract between the agent and the control plane, like the node metadata in :mod:`mizzen.node`, so it
sits beneath both.

The control plane sends requests down the stream and the agent answers them: its own Envoy's admin API,
and its workload's logs (:data:`LOGS_PREFIX`). The agent also sends its Envoy's Zipkin span batches up the
stream (one frame each, no answer), so tracing costs no HTTP request per batch on either side. Opened
by the agent, so it works for an agent on another host or behind NAT, with the same credential and TLS
as its xDS streams. Each message is one frame: a 4-byte big-endian header length, a JSON header, then
raw body bytes (a config dump is not re-encoded)::

    agent -> control plane   {"type": "hello", "proxy": "<name>.<namespace>"}
    control plane -> agent   {"type": "ready"}            (the hello was accepted: the stream is open)
    control plane -> agent   {"type": "request", "id": 7, "method": "GET", "path": "config_dump", "query": {...}}
    agent -> control plane   {"type": "response", "id": 7, "status": 200, "contentType": "application/json"} + body
    agent -> control plane   {"type": "spans", "contentType": "application/json"} + a Zipkin v2 JSON batch
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class ChannelError(ValueError):
    """A frame that is not one (too short, a header that is not a JSON object)."""


SERVICE = "mizzen.agent.v1.AgentChannel"
# Requests under this path are answered by the agent itself, not relayed to Envoy's admin: the workload's
# own logs (``mizzen/logs/app|access|envoy``, query ``tail``: the last N lines), for `mizzen logs` from any host.
LOGS_PREFIX = "mizzen/logs/"
LOG_KINDS = ("app", "access", "envoy")
MAX_LOG_BYTES = 4 * 1024 * 1024  # the most of a log one answer carries (its end)
METHOD = f"/{SERVICE}/Connect"
# A span batch larger than this goes to the control plane's HTTP receiver instead (its own size limit).
MAX_SPANS_BYTES = 4 * 1024 * 1024
_LEN = 4


@dataclass(frozen=True)
class Frame:
    """One message on the channel."""

    header: dict[str, Any]
    body: bytes = field(default=b"", repr=False)

    @property
    def type(self) -> str:
        """``hello``, ``ready``, ``request``, ``response`` or ``spans``."""
        return str(self.header.get("type", ""))

    def encode(self) -> bytes:
        """The frame's bytes on the stream."""
        head = json.dumps(self.header, separators=(",", ":")).encode()
        return len(head).to_bytes(_LEN, "big") + head + self.body


def decode(data: bytes) -> Frame:
    """Parse one frame; :class:`ChannelError` for anything malformed."""
    if len(data) < _LEN:
        raise ChannelError("agent channel frame shorter than its length prefix")
    size = int.from_bytes(data[:_LEN], "big")
    if len(data) < _LEN + size:
        raise ChannelError("agent channel frame shorter than its header")
    try:
        header = json.loads(data[_LEN : _LEN + size])
    except ValueError as exc:
        raise ChannelError(f"agent channel frame header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ChannelError("agent channel frame header must be a JSON object")
    return Frame(header, data[_LEN + size :])


def hello(proxy_id: str) -> Frame:
    """The agent's first frame: which proxy (``<name>.<namespace>``) it serves."""
    return Frame({"type": "hello", "proxy": proxy_id})


def request(request_id: int, method: str, path: str, query: dict[str, str]) -> Frame:
    """A call the control plane asks the agent to make (an Envoy admin endpoint)."""
    return Frame({"type": "request", "id": request_id, "method": method, "path": path, "query": query})


def response(request_id: int, status: int, content_type: str, body: bytes) -> Frame:
    """The agent's answer to request ``request_id``."""
    return Frame({"type": "response", "id": request_id, "status": status, "contentType": content_type}, body)


def ready() -> Frame:
    """The control plane's first frame: the agent's hello was accepted."""
    return Frame({"type": "ready"})


def spans(content_type: str, body: bytes) -> Frame:
    """A Zipkin span batch from the agent's Envoy (no answer is sent)."""
    return Frame({"type": "spans", "contentType": content_type}, body)
