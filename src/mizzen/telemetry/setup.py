"""One call for the composition root: telemetry on the xDS gRPC server and the HTTP app."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from aiohttp import web

from mizzen.telemetry import routes
from mizzen.telemetry.als import AccessLogService
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.model import RegistrySource
from mizzen.telemetry.traces import TraceStore


def install(
    app: web.Application,
    grpc_server: grpc.aio.Server,
    registry: RegistrySource,
    *,
    token: str | None = None,
    is_known: Callable[[str], bool] | None = None,
    forward_url: str | None = None,
    keep_traces: bool = True,
    max_traces: int = 1000,
) -> tuple[Telemetry, TraceStore]:
    """Add the ALS servicer to ``grpc_server`` (before it starts) and the telemetry routes to ``app``.

    Returns the :class:`Telemetry` (merge ``prometheus_text()`` into ``/metrics``; call
    ``observe_node`` as proxies connect) and the :class:`TraceStore`.
    """
    telemetry = Telemetry(registry)
    traces = TraceStore(max_traces=max_traces, keep=keep_traces, forward_url=forward_url)
    AccessLogService(telemetry, token=token, is_known=is_known).add_to_server(grpc_server)
    routes.register(app, telemetry, traces)
    return telemetry, traces
