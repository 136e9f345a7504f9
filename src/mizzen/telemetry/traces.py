"""A bounded in-memory store of recent traces, fed by Zipkin v2 JSON span POSTs from the proxies.

Envoy's Zipkin tracer posts batches of spans to ``/api/v2/spans`` on the control plane. The store keeps
the most recently updated ``max_traces`` traces (oldest evicted first) and can forward every batch,
unchanged, to an external Zipkin or Jaeger collector (Jaeger accepts Zipkin v2 JSON on the same path).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Span = dict[str, object]


class TraceError(ValueError):
    """A span batch that is not Zipkin v2 JSON."""


@dataclass
class Trace:
    """The spans of one trace, by span id (a re-sent span replaces the earlier copy)."""

    trace_id: str
    spans: dict[str, Span] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Root span name, start, duration, span count, services and whether any span failed."""
        spans = list(self.spans.values())
        ids = set(self.spans)
        roots = [s for s in spans if s.get("parentId") not in ids] or spans
        root = min(roots, key=_start)
        start = min(_start(s) for s in spans)
        end = max(_start(s) + _int(s.get("duration")) for s in spans)
        return {
            "traceId": self.trace_id,
            "name": root.get("name", ""),
            "rootService": span_service(root),
            "start": start,  # microseconds since the epoch, as Zipkin
            "durationMs": round((end - start) / 1000.0, 3),
            "spanCount": len(spans),
            "services": sorted({span_service(s) for s in spans}),
            "error": any(span_failed(s) for s in spans),
        }


class TraceStore:
    """Recent traces, bounded in number of traces and of spans per trace."""

    def __init__(
        self, *, max_traces: int = 1000, max_spans: int = 1000, keep: bool = True, forward_url: str | None = None
    ) -> None:
        self.max_traces = max_traces
        self.max_spans = max_spans
        self.keep = keep
        self.forward_url = forward_url
        self._traces: OrderedDict[str, Trace] = OrderedDict()
        self.spans_received = 0
        self.spans_dropped = 0

    def add(self, batch: object) -> int:
        """Store a Zipkin v2 JSON batch (a list of spans); returns how many spans were accepted."""
        if not isinstance(batch, list):
            raise TraceError("a Zipkin v2 batch is a JSON list of spans")
        accepted = 0
        for span in batch:
            if not isinstance(span, Mapping) or not span.get("traceId") or not span.get("id"):
                raise TraceError("every span needs traceId and id")
            self.spans_received += 1
            if self.keep and self._put(dict(span)):
                accepted += 1
        return accepted

    def _put(self, span: Span) -> bool:
        trace_id = str(span["traceId"]).lower().rjust(32, "0")  # 64-bit ids pad to the 128-bit form
        span["traceId"] = trace_id
        trace = self._traces.pop(trace_id, None) or Trace(trace_id)
        self._traces[trace_id] = trace  # most recently updated last
        if len(trace.spans) >= self.max_spans and str(span["id"]) not in trace.spans:
            self.spans_dropped += 1
            return False
        trace.spans[str(span["id"])] = span
        while len(self._traces) > self.max_traces:
            self._traces.popitem(last=False)
        return True

    def recent(self, limit: int = 50, service: str | None = None) -> list[dict[str, object]]:
        """Summaries of the most recent traces, newest first, optionally touching ``service``."""
        out = []
        for trace in sorted(self._traces.values(), key=lambda t: -_trace_start(t)):
            summary = trace.summary()
            if service and service not in summary["services"]:  # type: ignore[operator]
                continue
            out.append(summary)
            if len(out) >= limit:
                break
        return out

    def get(self, trace_id: str) -> dict[str, object] | None:
        """One trace: its summary and its spans ordered by start time (with depth for a timeline)."""
        trace = self._traces.get(trace_id.lower().rjust(32, "0"))
        if trace is None:
            return None
        depth = _depths(trace.spans)
        spans = [
            {**s, "service": span_service(s), "depth": depth.get(str(s["id"]), 0), "error": span_failed(s)}
            for s in sorted(trace.spans.values(), key=_start)
        ]
        return {"summary": trace.summary(), "spans": spans}

    def __len__(self) -> int:
        return len(self._traces)


def span_service(span: Mapping[str, object]) -> str:
    """The workload a span belongs to: Zipkin's local service name, else the Envoy node id's name."""
    tags = span.get("tags")
    node_id = str(tags.get("node_id", "")) if isinstance(tags, Mapping) else ""
    parts = node_id.split("~")
    if len(parts) == 4 and parts[2]:
        return parts[2].rsplit(".", 1)[0]
    local = span.get("localEndpoint")
    if isinstance(local, Mapping) and local.get("serviceName"):
        return str(local["serviceName"])
    return "unknown"


def span_failed(span: Mapping[str, object]) -> bool:
    """A span failed if Envoy tagged it ``error`` or its HTTP status is 5xx."""
    tags = span.get("tags")
    if not isinstance(tags, Mapping):
        return False
    return "error" in tags or str(tags.get("http.status_code", "")).startswith("5")


def _depths(spans: Mapping[str, Span]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def of(span_id: str, seen: frozenset[str] = frozenset()) -> int:
        if span_id in depth:
            return depth[span_id]
        parent = str(spans[span_id].get("parentId", ""))
        d = of(parent, seen | {span_id}) + 1 if parent in spans and parent not in seen else 0
        depth[span_id] = d
        return d

    for span_id in spans:
        of(span_id)
    return depth


def _start(span: Mapping[str, object]) -> int:
    return _int(span.get("timestamp"))


def _trace_start(trace: Trace) -> int:
    return min((_start(s) for s in trace.spans.values()), default=0)


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0
