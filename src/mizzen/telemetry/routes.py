"""HTTP endpoints of the telemetry: mesh graph, per-service metrics, traces, and the Zipkin receiver.

The control plane's aiohttp app mounts these with :func:`register`; its auth middleware protects them
like the rest of the API (the Zipkin receiver too: an agent posts its Envoy's batches with its credential).
:class:`SpanIntake` takes batches from both ways in (this receiver and the agent channel).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web

from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.traces import TraceError, TraceStore

log = logging.getLogger(__name__)

TELEMETRY_KEY: web.AppKey[Telemetry] = web.AppKey("mizzen_telemetry", Telemetry)
TRACES_KEY: web.AppKey[TraceStore] = web.AppKey("mizzen_traces", TraceStore)
MAX_WINDOW_S = 3600.0


class SpanIntake:
    """Zipkin v2 batches into the trace store, each passed on to the external collector when one is set.

    ``count(via, result)`` is told of every batch: ``via`` ``channel`` or ``http``, ``result`` ``ok`` or
    ``invalid`` (the control plane counts them in ``mizzen_telemetry_span_batches_total``)."""

    def __init__(self, store: TraceStore, count: Callable[[str, str], None] = lambda via, result: None) -> None:
        self.store = store
        self._count = count
        self._forwards: set[asyncio.Task[None]] = set()

    def receive(self, body: bytes, via: str) -> None:
        """Store one batch (the JSON bytes as Envoy sent them); ValueError or TraceError if it is not one."""
        try:
            self.store.add(json.loads(body))
        except ValueError:  # TraceError and JSONDecodeError are ValueErrors
            self._count(via, "invalid")
            raise
        self._count(via, "ok")
        if self.store.forward_url:
            task = asyncio.create_task(_forward(self.store.forward_url, body))
            self._forwards.add(task)
            task.add_done_callback(self._forwards.discard)


INTAKE_KEY: web.AppKey[SpanIntake] = web.AppKey("mizzen_span_intake", SpanIntake)


def register(app: web.Application, telemetry: Telemetry, intake: SpanIntake) -> None:
    """Add the telemetry routes to ``app``."""
    app[TELEMETRY_KEY] = telemetry
    app[TRACES_KEY] = intake.store
    app[INTAKE_KEY] = intake
    app.router.add_get("/api/mizzen/v1/graph", _graph)
    app.router.add_get("/api/mizzen/v1/services/{name}/metrics", _service_metrics)
    app.router.add_get("/api/mizzen/v1/traces", _traces)
    app.router.add_get("/api/mizzen/v1/traces/{id}", _trace)
    app.router.add_post("/api/v2/spans", _spans)


async def _graph(request: web.Request) -> web.Response:
    window = _window(request, 60.0)
    return web.json_response(request.app[TELEMETRY_KEY].graph(window))


async def _service_metrics(request: web.Request) -> web.Response:
    window = _window(request, 600.0)
    series = request.app[TELEMETRY_KEY].service_series(request.match_info["name"], window)
    return web.json_response(series)


async def _traces(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "50"))))
    except ValueError as e:
        raise web.HTTPBadRequest(text="limit must be an integer") from e
    service = request.query.get("service") or None
    return web.json_response({"traces": request.app[TRACES_KEY].recent(limit, service)})


async def _trace(request: web.Request) -> web.Response:
    trace = request.app[TRACES_KEY].get(request.match_info["id"])
    if trace is None:
        raise web.HTTPNotFound(text=json.dumps({"message": "trace not found"}), content_type="application/json")
    return web.json_response(trace)


async def _spans(request: web.Request) -> web.Response:
    """Zipkin v2 receiver: 202 on success, like Zipkin; 400 for a batch that is not v2 JSON."""
    body = await request.read()
    try:
        request.app[INTAKE_KEY].receive(body, "http")
    except (ValueError, TraceError) as e:  # JSONDecodeError is a ValueError
        raise web.HTTPBadRequest(text=f"invalid Zipkin v2 span batch: {e}") from e
    return web.Response(status=202)


async def _forward(url: str, body: bytes) -> None:
    """Send a batch on to an external Zipkin/Jaeger collector; failures are logged, never raised."""
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            if resp.status >= 300:
                log.warning("trace collector %s answered %s", url, resp.status)
    except (aiohttp.ClientError, TimeoutError) as e:
        log.warning("could not forward spans to %s: %s", url, e)


def _window(request: web.Request, default: float) -> float:
    try:
        window = float(request.query.get("window", default))
    except ValueError as e:
        raise web.HTTPBadRequest(text="window must be a number of seconds") from e
    return max(5.0, min(MAX_WINDOW_S, window))
