"""Sans-IO state machine for one State-of-the-World ADS stream.

Theory of operation
-------------------
A :class:`Stream` is fed two kinds of events and answers with actions; it never touches a socket,
a clock other than the injected one, or the snapshot cache:

- :meth:`Stream.receive` takes a ``DiscoveryRequest`` from Envoy;
- :meth:`Stream.snapshot_updated` takes the node's newest :class:`~mizzen.xds.snapshot.Snapshot`.

Both return :class:`~mizzen.xds.protocol.Response` objects to write, in order, plus informational
events (:class:`Connected`, :class:`Acked`, :class:`Nacked`, :class:`Ignored`). Each type URL is an
independent sub-stream with a :class:`TypeState`.

A request for a type is classified by its ``response_nonce``:

====================  =============================================================================
no nonce / new type   initial request or reconnect: answer with the current state of the subscription
nonce != last sent    stale (answers a response we have superseded): ignore it entirely
nonce == last sent,   NACK: keep the error for proxy-status and do not resend; the proxy keeps its
with error_detail     last good config. Newly requested names (RDS/EDS) are still sent.
nonce == last sent    ACK: record it; answer only if names were added or there is something new
====================  =============================================================================

What is sent for a type:

- wildcard subscriptions (CDS and LDS, and any type first requested with no names — the legacy rule)
  get the full state whenever the type's snapshot version differs from the version last sent;
- named subscriptions (RDS, EDS) get the requested names whose bytes differ from what was last sent
  on this stream (SotW responses for these types are incremental: omitted names are left alone).
  Requested names missing from the snapshot are remembered and sent when they appear; unsubscribed
  names are forgotten, so re-requesting one sends it again. Unsubscribing everything sends nothing.

Because the rejected content was already recorded as sent, it is never resent: a NACKed version stays
put until the snapshot changes. After any CDS response, EDS for every subscribed cluster is sent too
(even unchanged) because Envoy warms a new or changed cluster until it receives its endpoints.
Snapshot updates are answered in push order CDS, EDS, LDS, RDS, SDS (make-before-break).

Nonces increase monotonically per stream and are recorded in the state *before* the response is
returned, so an ACK can never arrive for a nonce the state does not know yet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any as AnyType

from mizzen.xds import types
from mizzen.xds.errors import ProtocolError
from mizzen.xds.protocol import Acked, Action, Connected, Ignored, Nacked, NodeInfo, Nonces, Response, node_info
from mizzen.xds.snapshot import Snapshot
from mizzen.xds.views import Resources, Scoped, changes, scoped, shared_names


@dataclass
class TypeState:
    """Everything the server knows about one type URL on one stream (this is what proxy-status shows)."""

    type_url: str
    wildcard: bool = False
    # Explicit subscriptions (besides a wildcard): one object per distinct set, shared by alike proxies.
    names: frozenset[str] = frozenset()
    explicit: bool = False  # names were requested at least once: an empty list now means "none"
    nonce_sent: str = ""
    version_sent: str = ""
    nonce_acked: str = ""
    version_acked: str = ""
    last_error: str = ""
    last_error_time: float | None = None
    last_sent_time: float | None = None
    # What the proxy has or is applying, and what it confirmed, by name. Replaced, never mutated, so they
    # can share the snapshot's own read-only mappings (wildcard types) and each other.
    sent: Mapping[str, bytes] = field(default_factory=dict)
    acked: Mapping[str, bytes] = field(default_factory=dict)
    force: bool = False  # answer with the whole subscription next time, even if unchanged
    # Named types: the snapshot version (and its mapping) for which ``sent`` covers the subscription, so
    # an update that did not change this type costs a string compare, and one that did a diff of what
    # changed in the snapshot (computed once for every proxy that had the same mapping).
    covered_version: str = ""
    covered: Resources | None = None
    requested: tuple[str, ...] | None = None  # the last request's resource_names, as sent

    def subscribe(self, resource_names: Iterable[str]) -> set[str]:
        """Apply a request's ``resource_names`` (with the legacy wildcard rule); return newly added names."""
        requested = tuple(resource_names)
        if requested == self.requested:  # an ACK repeats the subscription: nothing changes
            return set()
        # Interned and shared: thousands of proxies subscribe to the same names; one string object each
        # and one tuple per distinct request, not a copy per proxy.
        self.requested = requested = shared_names(tuple(map(sys.intern, requested)))
        names = set(requested)
        if "*" in names:
            self.wildcard = True
            names.discard("*")
            self.explicit = True
        elif names or self.explicit:
            self.wildcard = False
            self.explicit = True
        else:
            self.wildcard = True
        before, self.names = self.names, shared_names(frozenset(names))
        self.covered_version, self.covered = "", None
        if not self.wildcard:  # unsubscribed names are forgotten: re-requesting one sends it again
            self.sent = scoped(self.sent, self.names)
            self.acked = scoped(self.acked, self.names)
        return names - before


class Stream:
    """The protocol state of one ADS stream (see the module docstring)."""

    api = "SotW"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.node: NodeInfo | None = None
        self.types: dict[str, TypeState] = {}
        self.snapshot: Snapshot | None = None
        self._clock = clock
        self._nonces = Nonces()
        self._order: tuple[str, ...] = ()  # self.types in push order (types are only ever added)

    def receive(self, request: AnyType) -> list[Action]:
        """Handle one ``DiscoveryRequest``; return what to do (responses to write, events to report)."""
        actions: list[Action] = []
        if self.node is None:
            if not request.HasField("node") or not request.node.id:
                raise ProtocolError("the first request on a stream must carry node.id")
            self.node = node_info(request.node)
            actions.append(Connected(self.node))
        type_url = request.type_url
        if not type_url:
            raise ProtocolError("DiscoveryRequest without type_url on an aggregated stream")
        state = self.types.get(type_url)
        nonce = request.response_nonce
        if state is None or not nonce:
            state = state or self.types.setdefault(type_url, TypeState(type_url))
            state.subscribe(request.resource_names)
            state.force = True
        elif nonce != state.nonce_sent:
            actions.append(Ignored(type_url, nonce))
            return actions
        elif request.HasField("error_detail"):
            state.subscribe(request.resource_names)
            state.last_error = request.error_detail.message
            state.last_error_time = self._clock()
            actions.append(Nacked(type_url, request.version_info, nonce, state.last_error))
        else:
            state.subscribe(request.resource_names)
            state.nonce_acked = nonce
            state.version_acked = request.version_info
            state.last_error = ""
            state.acked = state.sent  # safe to share: ``sent`` is always replaced, never mutated
            actions.append(Acked(type_url, request.version_info, nonce))
        actions.extend(self._push([type_url]))
        return actions

    def snapshot_updated(self, snapshot: Snapshot | None) -> list[Response]:
        """Adopt the node's newest snapshot; return the responses it causes, in push order."""
        if snapshot is None:
            return []
        self.snapshot = snapshot
        if len(self._order) != len(self.types):
            self._order = types.ordered(self.types)
        return self._push(self._order)

    def _push(self, type_urls: Iterable[str]) -> list[Response]:
        out: list[Response] = []
        for type_url in type_urls:
            response = self._build(self.types[type_url])
            if response is None:
                continue
            out.append(response)
            if type_url == types.CLUSTER:
                eds = self._eds_after_cds()
                if eds is not None:
                    out.append(eds)
        return out

    def _eds_after_cds(self) -> Response | None:
        """Send endpoints after a cluster push so new or changed clusters can finish warming."""
        state = self.types.get(types.ENDPOINT)
        if state is None or self.snapshot is None:
            return None
        rejected = state.last_error and self.snapshot.version(types.ENDPOINT) == state.version_sent
        if not rejected:
            state.force = True
        return self._build(state)

    def _build(self, state: TypeState) -> Response | None:
        """The response a type needs now, recording it as sent; None when there is nothing to send."""
        snapshot = self.snapshot
        if snapshot is None:
            return None
        available = snapshot.resources(state.type_url)
        version = snapshot.version(state.type_url)
        force, state.force = state.force, False
        if state.wildcard:
            if not force and version == state.version_sent:
                return None
            payload = available
            state.sent = available
        else:
            if not force and version == state.covered_version:
                return None
            names = state.names
            if not force and state.covered is not None:  # ``sent`` is the covered mapping's subscribed part
                differ, _ = changes(state.covered, available)
                payload = {n: available[n] for n in differ if n in names}
            else:
                wanted = {n: available[n] for n in names if n in available}
                payload = wanted if force else {n: b for n, b in wanted.items() if state.sent.get(n) != b}
            # Every subscribed name the snapshot has is now sent or already was, with these bytes (a name
            # it lacks is forgotten: sent again if it comes back, which Envoy takes as a no-op update).
            state.covered_version, state.covered = version, available
            state.sent = Scoped(available, names)
            if not payload:
                return None
        response = Response.make(state.type_url, version, payload, self._nonces)
        state.nonce_sent = response.nonce
        state.version_sent = version
        state.last_sent_time = self._clock()
        return response
