"""Sans-IO state machine for one incremental (Delta) ADS stream, beside :mod:`mizzen.xds.stream` (SotW).

Theory of operation
-------------------
A :class:`DeltaStream` is fed ``DeltaDiscoveryRequest`` messages (:meth:`DeltaStream.receive`) and the
node's newest snapshot (:meth:`DeltaStream.snapshot_updated`) and answers with
:class:`~mizzen.xds.protocol.DeltaResponse` objects plus the same events as the SotW stream. Each type
URL is an independent sub-stream with a :class:`DeltaTypeState`.

A request is handled in three steps:

1. ``response_nonce`` names one of our responses still awaiting an answer: with ``error_detail`` it is a
   NACK (the error is kept for proxy-status), without it an ACK. An unknown nonce (already answered, or
   from before a reconnect) is reported as :class:`Ignored`, but unlike SotW the request still counts:
2. its subscription changes always apply (the protocol forbids rejecting them for a stale nonce):
   ``"*"`` or (legacy) an empty first request subscribes to the wildcard, other names are explicit;
   ``initial_resource_versions`` on the first request of a type says what the proxy already has;
3. the type is answered with whatever the subscription now needs (often nothing).

What a response carries, relative to what the proxy has:

- every resource in scope (all of them for a wildcard, else the explicit names) whose bytes differ;
- every newly subscribed name even if unchanged (the protocol: the client may have forgotten it), except
  names whose version the proxy reported in ``initial_resource_versions`` on reconnect;
- in ``removed_resources``: resources the proxy has that are gone, and subscribed names that do not exist
  (said once, so Envoy need not wait for its initial fetch timeout). Route configurations are never
  removed this way: Envoy ignores RDS removals and logs an error for each.

What the proxy has is, after every push, exactly the snapshot's resources within its subscription, so
the state keeps a reference to the snapshot's own read-only mapping instead of a copy (thousands of
resources times thousands of proxies would otherwise be gigabytes); versions are content hashes of the
shared bytes (:func:`~mizzen.xds.protocol.resource_version`), computed once per distinct resource.

A NACKed response counts as delivered, so its content is not sent again until it changes: a rejected
version is never resent. It is also remembered, so forced resends (below) skip it.

Ordering: snapshot updates are answered in push order CDS, EDS, LDS, RDS, SDS, and removals of clusters
and endpoints are held back to the end of that push, after listeners and routes stopped referring to
them (make-before-break). After a CDS response, the endpoints of every cluster in it are sent again:
Envoy warms a new or changed cluster until it receives its ClusterLoadAssignment, and does not
re-request a name it already watches. Nonces increase per stream and are recorded before the response
is returned.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any as AnyType

from mizzen.xds import types
from mizzen.xds.errors import ProtocolError
from mizzen.xds.protocol import Acked, Action, Connected, DeltaResponse, Ignored, Nacked, NodeInfo, Nonces, node_info
from mizzen.xds.protocol import resource_version as _version
from mizzen.xds.snapshot import Resources, Snapshot, referenced_endpoints
from mizzen.xds.views import Scoped, changes, shared_names

__all__ = ["DeltaStream", "DeltaTypeState"]

_EMPTY: Resources = MappingProxyType({})
# The content of a resource the proxy reported on reconnect with a version we do not serve: never equal
# to real bytes (an ``Any`` starts with its type URL tag), so it is replaced or removed on the next push.
_FOREIGN = b"\x00reported by the proxy"
# Envoy ignores removals of route configurations (and logs an error for each), so none are sent.
_NO_REMOVALS = frozenset({types.ROUTE})
_MAX_PENDING = 32  # unanswered responses remembered per type


@dataclass(frozen=True)
class _Pending:
    """A response awaiting its ACK or NACK."""

    version: str
    have: Resources  # what the proxy has once it applied the response
    payload: Resources


@dataclass
class DeltaTypeState:
    """Everything the server knows about one type URL on one delta stream (read by proxy-status)."""

    type_url: str
    wildcard: bool = False
    # Explicit subscriptions (besides a wildcard): one object per distinct set, shared by alike proxies.
    names: frozenset[str] = frozenset()
    nonce_sent: str = ""
    version_sent: str = ""
    nonce_acked: str = ""
    version_acked: str = ""
    last_error: str = ""
    last_error_time: float | None = None
    last_sent_time: float | None = None
    # What the proxy has (or was offered), by name: for named subscriptions a superset whose
    # subscribed names count. Replaced, never mutated, so it can be the snapshot's own mapping.
    have: Resources = field(default_factory=lambda: _EMPTY)
    confirmed: Resources = field(default_factory=lambda: _EMPTY)  # ``have`` as of the last ACK
    resend: set[str] = field(default_factory=set)  # send (or report missing) whatever the proxy has
    absent: set[str] = field(default_factory=set)  # subscribed names already reported as not existing
    initial: dict[str, str] | None = None  # initial_resource_versions until the first snapshot
    rejected: dict[str, bytes] = field(default_factory=dict)  # NACKed content by name; never offered again
    pending: dict[str, _Pending] = field(default_factory=dict)  # by nonce, oldest first
    deferred: tuple[str, ...] = ()  # removals held back to the end of the current push
    force: bool = False  # answer the next build even when nothing changed (first request of the type)
    reconciled: str | None = None  # the snapshot version ``have`` was last brought up to
    # The subscription changed since the last build: compare every name in scope, not only those the
    # snapshot changed (the diff of two snapshot mappings is computed once for all proxies that had them).
    rescoped: bool = True

    @property
    def sent(self) -> Resources:
        """What the proxy has or is applying, within its subscription."""
        return self._in_scope(self.have)

    @property
    def acked(self) -> Resources:
        """What the proxy confirmed, within its subscription."""
        return self._in_scope(self.confirmed)

    def _in_scope(self, resources: Resources) -> Resources:
        if self.wildcard:
            return resources
        return Scoped(resources, self.names)

    def subscribe(self, request: AnyType, *, first: bool) -> None:
        """Apply a request's subscription changes (and, on the first request, its initial versions)."""
        # Interned: thousands of proxies subscribe to the same names; one string object each, not one per proxy.
        added = set(map(sys.intern, request.resource_names_subscribe))
        gone = set(request.resource_names_unsubscribe)
        if first or added or gone:
            self.rescoped = True
        if first:
            self.wildcard = not added and not gone  # the legacy wildcard rule
            if request.initial_resource_versions:
                self.initial = dict(request.initial_resource_versions)
        if "*" in gone:
            self.wildcard = False
        if "*" in added and not self.wildcard:
            # The proxy kept only its explicit names; it gets the rest of the wildcard now.
            self.wildcard = True
            self.have = {n: b for n, b in self.have.items() if n in self.names}
        added.discard("*")
        gone.discard("*")
        dropped = gone & self.names
        for name in dropped:
            self.absent.discard(name)
            self.resend.discard(name)
            if self.wildcard:  # the protocol's exception: say whether the wildcard still covers it
                self.resend.add(name)
        if dropped or not added <= self.names:
            self.names = shared_names((self.names - dropped) | added)
        self.resend |= added - set(self.initial or ())


class DeltaStream:
    """The protocol state of one incremental ADS stream (see the module docstring)."""

    api = "Delta"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.node: NodeInfo | None = None
        self.types: dict[str, DeltaTypeState] = {}
        self.snapshot: Snapshot | None = None
        self._clock = clock
        # Endpoint names of clusters sent before the proxy subscribed to EDS on this stream (a reconnect sends
        # CDS first): their clusters warm only once EDS arrives, whatever versions the proxy says it has.
        self._warming: set[str] = set()
        self._nonces = Nonces()
        self._order: tuple[str, ...] = ()

    def receive(self, request: AnyType) -> list[Action]:
        """Handle one ``DeltaDiscoveryRequest``; return what to do (responses to write, events to report)."""
        actions: list[Action] = []
        if self.node is None:
            if not request.HasField("node") or not request.node.id:
                raise ProtocolError("the first request on a stream must carry node.id")
            self.node = node_info(request.node)
            actions.append(Connected(self.node))
        type_url = request.type_url
        if not type_url:
            raise ProtocolError("DeltaDiscoveryRequest without type_url on an aggregated stream")
        state = self.types.get(type_url)
        first = state is None
        if state is None:
            state = self.types[type_url] = DeltaTypeState(type_url, force=True)
        if request.response_nonce:
            actions.append(self._answered(state, request))
        state.subscribe(request, first=first)
        if type_url == types.ENDPOINT and self._warming:
            state.resend |= {n for n in self._warming if state.wildcard or n in state.names}
            self._warming.clear()
        actions.extend(self._push([type_url], defer_removals=False))
        return actions

    def snapshot_updated(self, snapshot: Snapshot | None) -> list[DeltaResponse]:
        """Adopt the node's newest snapshot; return the responses it causes, in push order."""
        if snapshot is None:
            return []
        self.snapshot = snapshot
        if len(self._order) != len(self.types):
            self._order = types.ordered(self.types)
        out = self._push(self._order, defer_removals=True)
        for type_url in self._order:
            state = self.types[type_url]
            if state.deferred:
                removed, state.deferred = state.deferred, ()
                out.append(self._respond(state, state.reconciled or "", {}, removed, state.have))
        return out

    # --- ACK / NACK -------------------------------------------------------------------------------

    def _answered(self, state: DeltaTypeState, request: AnyType) -> Action:
        """Record the ACK or NACK of one of our responses (older unanswered ones are moot now)."""
        nonce = request.response_nonce
        pending = state.pending.get(nonce)
        if pending is None:
            return Ignored(state.type_url, nonce)
        while (oldest := next(iter(state.pending))) != nonce:
            del state.pending[oldest]
        del state.pending[nonce]
        if request.HasField("error_detail"):
            state.last_error = request.error_detail.message
            state.last_error_time = self._clock()
            state.rejected.update(pending.payload)
            return Nacked(state.type_url, state.version_acked, nonce, state.last_error)
        state.nonce_acked = nonce
        state.version_acked = pending.version
        state.confirmed = pending.have
        state.last_error = ""
        return Acked(state.type_url, pending.version, nonce)

    # --- building responses -----------------------------------------------------------------------

    def _push(self, type_urls: Iterable[str], *, defer_removals: bool) -> list[DeltaResponse]:
        out: list[DeltaResponse] = []
        for type_url in type_urls:
            response = self._build(self.types[type_url], defer_removals)
            if response is None:
                continue
            out.append(response)
            if type_url == types.CLUSTER and response.resources:
                eds = self._eds_after_cds(response.resources, defer_removals)
                if eds is not None:
                    out.append(eds)
        return out

    def _eds_after_cds(self, clusters: Resources, defer_removals: bool) -> DeltaResponse | None:
        """Send the endpoints of the clusters just sent, so new or changed ones can finish warming."""
        state = self.types.get(types.ENDPOINT)
        if state is None:
            self._warming |= {n for c, d in clusters.items() if (n := _eds_name(c, d)) is not None}
            return None
        for cluster, data in clusters.items():
            name = _eds_name(cluster, data)
            if name is not None and (state.wildcard or name in state.names):
                state.resend.add(name)
        return self._build(state, defer_removals)

    def _build(self, state: DeltaTypeState, defer_removals: bool) -> DeltaResponse | None:
        """The response a type needs now, recording it as sent; None when there is nothing to send."""
        snapshot = self.snapshot
        if snapshot is None:
            return None
        version = snapshot.version(state.type_url)
        if not state.force and not state.resend and version == state.reconciled:
            return None
        available = snapshot.resources(state.type_url)
        have = state.have
        if state.initial is not None:
            have = _reported(state.initial, available)
            state.confirmed = {n: b for n, b in have.items() if b is not _FOREIGN}
            state.initial = None
        changed, removed = _diff(state, have, available)
        state.rescoped = False
        force, state.force, state.resend, state.reconciled = state.force, False, set(), version
        state.have = available
        if state.rejected:
            state.rejected = {n: b for n, b in state.rejected.items() if available.get(n) == b}
        after: Resources = available
        if defer_removals and removed and state.type_url in (types.CLUSTER, types.ENDPOINT):
            state.deferred, after = tuple(removed), {**{n: have[n] for n in removed if n in have}, **available}
            removed = []
        if not changed and not removed and not force:
            return None
        return self._respond(state, version, changed, removed, after)

    def _respond(
        self, state: DeltaTypeState, version: str, changed: Resources, removed: Sequence[str], after: Resources
    ) -> DeltaResponse:
        response = DeltaResponse.make(state.type_url, version, changed, removed, self._nonces)
        nonce = response.nonce
        state.nonce_sent, state.version_sent, state.last_sent_time = nonce, version, self._clock()
        state.pending[nonce] = _Pending(version, after, changed)
        if len(state.pending) > _MAX_PENDING:  # Envoy answers every response; a client that does not must
            del state.pending[next(iter(state.pending))]  # not make the server keep every one it was sent
        return response


def _diff(state: DeltaTypeState, have: Resources, available: Resources) -> tuple[dict[str, bytes], list[str]]:
    """``(changed resources, removed names)`` that bring the proxy from ``have`` to ``available``."""
    if state.rescoped:
        names = available if state.wildcard else state.names
        changed = {n: b for n in names if (b := available.get(n)) is not None and not _same(have.get(n), b)}
        removed = [n for n in have if n not in available] if state.wildcard else []
        gone = set(removed)
        # Subscribed names that are gone, or never existed and were not reported yet.
        for name in state.names:
            if name not in available and name not in gone and (name in have or name not in state.absent):
                removed.append(name)
                gone.add(name)
    else:
        # The same subscription as at the last build, after which every subscribed name the snapshot
        # lacked was reported: only what the snapshot changed since can differ.
        differ, dropped = changes(have, available)
        wild, names = state.wildcard, state.names
        changed = {n: available[n] for n in differ if wild or n in names}
        removed = [n for n in dropped if wild or n in names]
        gone = set(removed)
    for name in state.resend:  # sent (or reported missing) whatever the proxy has, unless it rejected them
        forced = available.get(name)
        if forced is None and name not in gone:
            removed.append(name)
            gone.add(name)
        elif forced is not None and state.rejected.get(name) != forced:
            changed[name] = forced
    state.absent |= gone & state.names
    state.absent -= changed.keys()
    return changed, ([] if state.type_url in _NO_REMOVALS else removed)


def _same(old: bytes | None, new: bytes) -> bool:
    """Shared resources are the very same bytes object, so identity settles almost every comparison."""
    return old is new or old == new


def _reported(initial: Mapping[str, str], available: Resources) -> dict[str, bytes]:
    """What a reconnecting proxy has, from its ``initial_resource_versions``: our bytes where versions match."""
    out: dict[str, bytes] = {}
    for name, version in initial.items():
        data = available.get(name)
        out[name] = data if data is not None and _version(data) == version else _FOREIGN
    return out


_EDS_NAMES: dict[bytes, str | None] = {}
_EDS_CACHE_SIZE = 1 << 16


def _eds_name(cluster: str, data: bytes) -> str | None:
    """The ClusterLoadAssignment name an EDS cluster (serialized ``Any``) watches; None for other clusters.

    Cached by content, which includes the cluster's name, so the name is not part of the key.
    """
    if data in _EDS_NAMES:
        return _EDS_NAMES[data]
    name = next((eds for _, eds in referenced_endpoints({cluster: data})), None)
    _EDS_NAMES[data] = name
    if len(_EDS_NAMES) > _EDS_CACHE_SIZE:
        _EDS_NAMES.pop(next(iter(_EDS_NAMES)))
    return name
