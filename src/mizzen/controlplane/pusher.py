"""Leading-edge push scheduling: start at once when idle, coalesce only while a push is in flight.

Istio debounces every change by at least 100 ms before it even starts building config. We do not
wait: the first change after a quiet period starts a push immediately. Changes that arrive while that
push runs are merged into one pending request, which starts as soon as the running push ends. So a
lone change costs no added delay and a burst costs at most one extra push.

This module is sans-IO: :class:`PushQueue` only records requests and says what to do next; the
asyncio loop that runs pushes lives in :mod:`mizzen.controlplane.mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PushRequest:
    """What a push must recompute.

    ``full``: configuration changed, every output may change. Otherwise only endpoints changed, for
    the hostnames in ``endpoints`` (the EDS fast path, which never rebuilds or resends clusters).
    ``proxies``: proxies that must be (re)computed whatever else changed (e.g. newly connected).
    """

    full: bool = False
    endpoints: set[str] = field(default_factory=set)
    proxies: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)

    def merge(self, other: PushRequest) -> None:
        """Fold ``other`` into this request (the union of what both need recomputed)."""
        self.full = self.full or other.full
        self.endpoints |= other.endpoints
        self.proxies |= other.proxies
        self.reasons |= other.reasons

    @property
    def empty(self) -> bool:
        """True when nothing needs recomputing."""
        return not (self.full or self.endpoints or self.proxies)


class PushQueue:
    """Merges push requests; at most one push runs at a time."""

    def __init__(self) -> None:
        self._pending: PushRequest | None = None
        self._running = False

    def request(self, req: PushRequest) -> bool:
        """Record ``req``; returns True when the caller should start a push now (we were idle)."""
        if req.empty:
            return False
        if self._pending is None:
            self._pending = req
        else:
            self._pending.merge(req)
        return not self._running

    def start(self) -> PushRequest | None:
        """Take the merged pending request to run it, or None when there is nothing to do."""
        if self._running or self._pending is None:
            return None
        req, self._pending = self._pending, None
        self._running = True
        return req

    def done(self) -> bool:
        """Mark the running push finished; returns True when another push is already pending."""
        self._running = False
        return self._pending is not None

    @property
    def busy(self) -> bool:
        """True while a push runs or one is pending."""
        return self._running or self._pending is not None
