"""From each proxy's cumulative Envoy stats to what happened since the last scrape (pure, no I/O).

Theory of operation. Envoy's counters and histograms (:mod:`mizzen.meshstats`) only grow while Envoy
lives. The control plane scrapes every proxy at an interval and keeps, per proxy, the last
:class:`~mizzen.meshstats.Reading`; the difference between two readings is what the proxy did in between,
and that delta is what the control plane adds to its own totals. So its totals survive a proxy going away,
and several proxies' readings never need re-summing.

An Envoy restart shows as a reading that went backwards: some counter or bucket lower than before, or a
series that was there and is gone. Then the whole new reading is the delta (the new Envoy started from
zero). The first reading of a proxy is all delta too: it counts what the proxy did before we first saw it.

A proxy that stops being scraped (disconnected) keeps its last reading for a grace period, so a quick
reconnect of the same Envoy adds only what is new; after that it is dropped, bounding memory to the
proxies of the last grace period times their series (each reading holds at most the reader's max_series).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from mizzen.meshstats import Histogram, Reading

DEFAULT_GRACE_S = 120.0


def delta(previous: Reading | None, current: Reading) -> Reading:
    """What ``current`` adds to ``previous`` (the same proxy's earlier reading); all of it after a restart."""
    if previous is None or restarted(previous, current):
        return _copy(current)
    out = Reading()
    for key, value in current.counters.items():
        grown = value - previous.counters.get(key, 0.0)
        if grown > 0:
            out.counters[key] = grown
    for key, hist in current.histograms.items():
        before = previous.histograms.get(key)
        if before is None or before.bounds != hist.bounds:
            if hist.total > 0:
                out.histograms[key] = _copy_histogram(hist)
            continue
        if hist.total > before.total:
            counts = [a - b for a, b in zip(hist.counts, before.counts, strict=True)]
            out.histograms[key] = Histogram(hist.bounds, counts, hist.total - before.total, hist.sum - before.sum)
    return out


def restarted(previous: Reading, current: Reading) -> bool:
    """Whether ``current`` cannot follow ``previous`` in one Envoy's life: something went down or vanished.

    A vanished series counts only when the current reading is complete (nothing dropped over the series
    limit): over the limit, which series are kept can change from one reading to the next.
    """
    complete = current.dropped == 0
    for key, value in previous.counters.items():
        now = current.counters.get(key)
        if (now is None and complete) or (now is not None and now < value):
            return True
    for key, hist in previous.histograms.items():
        later = current.histograms.get(key)
        if later is None:
            if complete:
                return True
            continue
        if later.bounds == hist.bounds and (
            later.total < hist.total or any(a < b for a, b in zip(later.counts, hist.counts, strict=True))
        ):
            return True
    return False


@dataclass
class _Kept:
    reading: Reading
    missing_since: float | None = None


class Baselines:
    """The last reading of every proxy scraped recently, by proxy id (``<name>.<namespace>``)."""

    def __init__(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.grace_s = grace_s
        self._kept: dict[str, _Kept] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, proxy_id: object) -> bool:
        return proxy_id in self._kept

    def update(self, proxy_id: str, reading: Reading) -> Reading:
        """Remember ``reading`` as the proxy's last one; return its delta from the one before."""
        kept = self._kept.get(proxy_id)
        change = delta(kept.reading if kept else None, reading)
        self._kept[proxy_id] = _Kept(reading)
        return change

    def sweep(self, present: Collection[str], now: float) -> list[str]:
        """Start the grace period of proxies not in ``present``; drop those past it. Returns the dropped."""
        gone = []
        for proxy_id, kept in list(self._kept.items()):
            if proxy_id in present:
                kept.missing_since = None
            elif kept.missing_since is None:
                kept.missing_since = now
            elif now - kept.missing_since > self.grace_s:
                del self._kept[proxy_id]
                gone.append(proxy_id)
        return gone

    def series(self) -> int:
        """How many series all kept readings hold (the memory this costs)."""
        return sum(len(k.reading.counters) + len(k.reading.histograms) for k in self._kept.values())


def _copy(reading: Reading) -> Reading:
    hists = {k: _copy_histogram(h) for k, h in reading.histograms.items() if h.total > 0}
    return Reading({k: v for k, v in reading.counters.items() if v > 0}, hists)


def _copy_histogram(hist: Histogram) -> Histogram:
    return Histogram(hist.bounds, list(hist.counts), hist.total, hist.sum)
