"""A small metrics registry rendering the Prometheus text format (version 0.0.4).

Components create :class:`Counter`, :class:`Gauge` and :class:`Histogram` families here, or register a
*collector* (a function returning samples at scrape time) for values they already keep.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Labels = tuple[tuple[str, str], ...]
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Sample:
    """One line of output: ``name{labels} value``."""

    name: str
    labels: Labels
    value: float


@dataclass(frozen=True)
class Family:
    """A metric family as a collector reports it."""

    name: str
    type: str  # counter | gauge | histogram | untyped
    help: str
    samples: Sequence[Sample]


Collector = Callable[[], Iterable[Family]]
_M = TypeVar("_M", bound="_Metric")


def _labels(values: dict[str, str]) -> Labels:
    return tuple(sorted(values.items()))


class _Metric:
    type = "untyped"

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self._lock = threading.Lock()
        self._values: dict[Labels, float] = {}

    def family(self) -> Family:
        with self._lock:
            samples = [Sample(self.name, k, v) for k, v in sorted(self._values.items())]
        return Family(self.name, self.type, self.help, samples)


class Counter(_Metric):
    """A monotonically increasing value per label set."""

    type = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to the series with these labels."""
        key = _labels(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    """A value that goes up and down per label set."""

    type = "gauge"

    def set(self, value: float, **labels: str) -> None:
        """Set the series with these labels to ``value``."""
        with self._lock:
            self._values[_labels(labels)] = value


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with ``_sum`` and ``_count``."""

    type = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help)
        self.buckets = tuple(sorted(buckets))
        self._obs: dict[Labels, tuple[list[int], float, int]] = {}

    def observe(self, value: float, **labels: str) -> None:
        """Count ``value`` into the buckets of the series with these labels."""
        key = _labels(labels)
        with self._lock:
            counts, total, n = self._obs.get(key) or ([0] * len(self.buckets), 0.0, 0)
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._obs[key] = (counts, total + value, n + 1)

    def family(self) -> Family:
        """The histogram as Prometheus samples (cumulative buckets, sum, count)."""
        samples: list[Sample] = []
        with self._lock:
            for key, (counts, total, n) in sorted(self._obs.items()):
                for bound, count in zip(self.buckets, counts, strict=True):
                    samples.append(Sample(f"{self.name}_bucket", (*key, ("le", _num(bound))), count))
                samples.append(Sample(f"{self.name}_bucket", (*key, ("le", "+Inf")), n))
                samples.append(Sample(f"{self.name}_sum", key, total))
                samples.append(Sample(f"{self.name}_count", key, n))
        return Family(self.name, self.type, self.help, samples)


class Registry:
    """All metrics of one process; :meth:`render` produces the ``/metrics`` body."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Collector] = []
        self._text_collectors: list[Callable[[], str]] = []

    def counter(self, name: str, help: str) -> Counter:
        """Register and return a new counter."""
        return self._add(Counter(name, help))

    def gauge(self, name: str, help: str) -> Gauge:
        """Register and return a new gauge."""
        return self._add(Gauge(name, help))

    def histogram(self, name: str, help: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        """Register and return a new histogram."""
        return self._add(Histogram(name, help, buckets))

    def _add(self, metric: _M) -> _M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def register_collector(self, collector: Collector) -> None:
        """Call ``collector`` at every scrape and include the families it returns."""
        self._collectors.append(collector)

    def register_text_collector(self, collector: Callable[[], str]) -> None:
        """Append ``collector()`` (already Prometheus text, e.g. from the xDS server) to every scrape."""
        self._text_collectors.append(collector)

    def families(self) -> list[Family]:
        """Every registered metric and collector's families, for rendering."""
        out = [m.family() for m in self._metrics.values()]
        for collector in self._collectors:
            out.extend(collector())
        return out

    def render(self) -> str:
        """The Prometheus text exposition of every metric and collector."""
        lines: list[str] = []
        for fam in self.families():
            lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
            lines.append(f"# TYPE {fam.name} {fam.type}")
            for s in fam.samples:
                label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in s.labels)
                head = f"{s.name}{{{label_text}}}" if label_text else s.name
                lines.append(f"{head} {_num(s.value)}")
        text = "\n".join(lines) + "\n"
        for collector in self._text_collectors:
            extra = collector()
            text += extra if extra.endswith("\n") or not extra else extra + "\n"
        return text


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
