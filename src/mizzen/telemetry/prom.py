"""Counters and histograms keyed by label values, rendered in Prometheus text exposition format 0.0.4."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

# Istio's standard metrics are Envoy histograms with Envoy's default buckets (milliseconds / bytes).
ISTIO_BUCKETS = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)


@dataclass
class Histogram:
    """Cumulative-on-render histogram: per-bucket counts, sum and count."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        """Count one observation into its bucket."""
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1


class Family:
    """One metric family: name, help, type and a bounded set of label-value series."""

    def __init__(
        self,
        name: str,
        help_text: str,
        kind: str,
        label_names: Sequence[str],
        *,
        buckets: Sequence[float] = ISTIO_BUCKETS,
        max_series: int = 10000,
    ) -> None:
        self.name, self.help, self.kind = name, help_text, kind
        self.label_names = tuple(label_names)
        self.buckets = tuple(buckets)
        self.max_series = max_series
        self.counters: dict[tuple[str, ...], float] = {}
        self.histograms: dict[tuple[str, ...], Histogram] = {}
        self.dropped = 0

    def inc(self, labels: tuple[str, ...], amount: float = 1) -> None:
        """Add to a counter series (dropped when the series limit is reached)."""
        if labels not in self.counters and not self._room():
            return
        self.counters[labels] = self.counters.get(labels, 0) + amount

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """Observe into a histogram series (dropped when the series limit is reached)."""
        hist = self.histograms.get(labels)
        if hist is None:
            if not self._room():
                return
            hist = self.histograms[labels] = Histogram(self.buckets)
        hist.observe(value)

    def add_buckets(
        self, labels: tuple[str, ...], bounds: Sequence[float], cumulative: Sequence[int], total: float, n: int
    ) -> None:
        """Add a histogram delta given as Prometheus reports it (cumulative counts at each upper bound, the
        last +Inf): each bucket's own count lands in this family's bucket holding that bound (the same
        bucket when the bounds agree, as Envoy's and Istio's do)."""
        hist = self.histograms.get(labels)
        if hist is None:
            if not self._room():
                return
            hist = self.histograms[labels] = Histogram(self.buckets)
        if not hist.counts:
            hist.counts = [0] * (len(self.buckets) + 1)
        below = 0
        for bound, running in zip(bounds, cumulative, strict=True):
            hist.counts[bisect.bisect_left(self.buckets, bound)] += max(0, running - below)
            below = max(below, running)
        hist.total += total
        hist.n += n

    def _room(self) -> bool:
        # Cardinality guard: a runaway label (e.g. passthrough hosts) must not grow memory forever.
        if len(self.counters) + len(self.histograms) < self.max_series:
            return True
        self.dropped += 1
        return False

    def render(self, out: list[str]) -> None:
        """Append this family's exposition lines to ``out`` (nothing when it has no series)."""
        if not self.counters and not self.histograms:
            return
        out.append(f"# HELP {self.name} {self.help}")
        out.append(f"# TYPE {self.name} {self.kind}")
        for labels in sorted(self.counters):
            out.append(f"{self.name}{_braces(self._labels(labels))} {_num(self.counters[labels])}")
        for labels in sorted(self.histograms):
            hist = self.histograms[labels]
            base = self._labels(labels)
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), hist.counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else _num(bound)
                out.append(f'{self.name}_bucket{{{base + "," if base else ""}le="{le}"}} {running}')
            out.append(f"{self.name}_sum{_braces(base)} {_num(hist.total)}")
            out.append(f"{self.name}_count{_braces(base)} {hist.n}")

    def _labels(self, values: tuple[str, ...]) -> str:
        return ",".join(f'{k}="{escape(v)}"' for k, v in zip(self.label_names, values, strict=True))


def escape(value: str) -> str:
    """Escape a label value as the text format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _braces(labels: str) -> str:
    """``{labels}``, or nothing for a series without labels."""
    return f"{{{labels}}}" if labels else ""


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
