"""The agent's span forwarder: Envoy's ``zipkin`` cluster is this UNIX socket; batches go to the control plane.

Envoy's Zipkin tracer POSTs JSON v2 batches to ``/api/v2/spans``; the agent passes each one on with its
credential (Envoy's config holds none) and answers with the control plane's status. The control plane
stores them and forwards them to an external collector if ``mesh.yaml`` names one.
"""

from __future__ import annotations

import logging

from aiohttp import web

from mizzen.agent.cpclient import ControlPlaneClient
from mizzen.agent.errors import ControlPlaneCallError

log = logging.getLogger(__name__)

MAX_BATCH = 16 * 1024 * 1024


class SpanForwarder:
    """An HTTP server on a UNIX socket accepting Zipkin batches."""

    def __init__(self, client: ControlPlaneClient) -> None:
        self._client = client
        self._runner: web.AppRunner | None = None
        self.forwarded = 0

    async def start(self, path: str) -> None:
        app = web.Application(client_max_size=MAX_BATCH)
        app.router.add_post("/api/v2/spans", self._spans)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.UnixSite(self._runner, path).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _spans(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            status = await self._client.post_spans(body, request.content_type or "application/json")
        except ControlPlaneCallError as exc:
            log.warning("dropped a span batch: %s", exc)
            return web.Response(status=503, text="control plane unreachable")
        self.forwarded += 1
        return web.Response(status=status)
