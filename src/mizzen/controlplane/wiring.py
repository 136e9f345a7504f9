"""Wires the mesh into the control-plane process: xDS server, mesh controller, store watch, inspection API.

This is the composition root's mesh half (``server.py`` is the API half): the only place where the
store, the registry, the translator and the xDS server meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from mizzen import dashboard, gatewayapi
from mizzen.config.kinds import internal_kind
from mizzen.config.resource import Resource
from mizzen.controlplane import inspect_api
from mizzen.controlplane.agent_channel import AgentChannels
from mizzen.controlplane.auth import credential_of
from mizzen.controlplane.credentials import KIND as CREDENTIAL_KIND
from mizzen.controlplane.credentials import Unauthenticated
from mizzen.controlplane.home import DEFAULT_ADDRESS, DEFAULT_PORT, DEFAULT_XDS_PORT, resolve_home
from mizzen.controlplane.identity import Transport
from mizzen.controlplane.mesh import MeshController
from mizzen.controlplane.pusher import PushRequest
from mizzen.controlplane.replicas import ReplicaSet, default_name, new_replica
from mizzen.controlplane.scraper import Scraper, ScrapeSettings
from mizzen.controlplane.server import ControlPlane
from mizzen.controlplane.startup import Timeline
from mizzen.controlplane.xds_auth import CredentialAuthenticator
from mizzen.dashboard.sessions import Sessions
from mizzen.node import Proxy
from mizzen.security.credentials import Credential
from mizzen.store.errors import NotFound
from mizzen.store.replicas import coordination_for
from mizzen.telemetry import AccessLogService, SpanIntake, Telemetry, TraceStore
from mizzen.telemetry import register as register_telemetry
from mizzen.translate.model import MeshConfig, load_mesh_config
from mizzen.translate.security.upstream import credential_names
from mizzen.translate.telemetry_api import zipkin_address
from mizzen.xds import NodeInfo, SnapshotCache, XdsServer

log = logging.getLogger("mizzen.wiring")
GENERATED_PATH = "/api/mizzen/v1/gatewayapi/generated"
REPLICAS_PATH = "/api/mizzen/v1/replicas"

SPAN_COLLECTOR = "zipkin.istio-system:9411"  # Istio's default collector address (defaultConfig.tracing.zipkin)
REVALIDATE_EVERY_S = 2.0  # open streams of an expired credential end within this long


class MeshExtension:
    """The control plane's mesh: serves xDS on ``cp.xds_port`` from the store's current config."""

    def __init__(self, cp: ControlPlane, mesh_config: MeshConfig | None = None, *, manage_heap: bool = False) -> None:
        self.cp = cp
        self.cache = SnapshotCache()
        config = mesh_config or load_mesh_config(cp.home.root / "mesh.yaml")
        # Proxies post spans (traces) back to this control plane, through their agents (which add their
        # credentials); their metrics are scraped from their Envoy stats (access logs are streamed only when
        # the mesh config asks for the access-log service). Spans for an external Zipkin or Jaeger named in
        # mesh.yaml (defaultConfig.tracing.zipkin.address, else a `zipkin` extension provider; one collector,
        # load_mesh_config checks) are forwarded there by this control plane.
        external = zipkin_address(config)
        config = dataclasses.replace(
            config,
            # Only the Host header of span posts (the `zipkin` cluster is the agent's socket): the same name on
            # every replica, so replicas of one store translate byte-identical listeners (a proxy moving to
            # another replica gets no listener update, hence no drained connections).
            zipkin_address=SPAN_COLLECTOR,
            zipkin_cluster_static=True,
        )
        grace = float(os.environ.get("MIZZEN_WORKLOAD_GRACE_SECONDS", "10"))
        startup = float(os.environ.get("MIZZEN_WORKLOAD_STARTUP_GRACE_SECONDS", "35"))
        self.controller = MeshController(
            self.cache,
            config,
            delete_workload=self._delete_workload,
            agent_grace_s=grace,
            startup_grace_s=startup,
            manage_heap=manage_heap,
        )
        self.grpc_auth = CredentialAuthenticator(cp.identity.credentials, self._stored_secrets, self._dr_credentials)
        self.xds = XdsServer(
            self.cache,
            authenticator=self.grpc_auth,
            on_connect=self._on_connect,
            on_disconnect=self.controller.on_disconnect,
            on_ack=self.controller.on_ack,
        )
        # Istio's metrics: every proxy's Envoy stats, scraped over its agent channel. While the mesh also
        # streams access logs (ALS), those count and scraped readings are only kept as baselines.
        scrape = ScrapeSettings.from_env(os.environ)
        self.telemetry = Telemetry(
            lambda: self.controller.state.snapshot().registry,
            counting="als" if config.access_log_service else "scrape",
            grace_s=scrape.grace_s,
        )
        self.traces = TraceStore(forward_url=f"http://{external}/api/v2/spans" if external else None)
        batches = cp.metrics.counter(
            "mizzen_telemetry_span_batches_total", "Zipkin span batches received, by way in and result."
        )
        self.span_intake = SpanIntake(self.traces, count=lambda via, result: batches.inc(via=via, result=result))
        als = AccessLogService(self.telemetry, authenticator=self.grpc_auth, is_known=self._is_connected)
        self.xds.add_service(als.add_to_server)
        self._watch: asyncio.Task[None] | None = None
        cp.config_api.status = (gatewayapi.GATEWAY_API_KINDS, self._gateway_api_status)
        cp.app.router.add_get(GENERATED_PATH, self._generated)
        self._sweeper: asyncio.Task[None] | None = None
        cp.identity.credentials.subscribe(self._revalidate)
        self.channels = AgentChannels(self.grpc_auth, on_spans=lambda body: self.span_intake.receive(body, "channel"))
        self.xds.add_service(self.channels.add_to_server)
        self.scraper = Scraper(self.telemetry, self._scrape_targets, self.channels.call, scrape, cp.metrics)
        self._scraping: asyncio.Task[None] | None = None
        self.replicas: ReplicaSet | None = None  # known once the ports are (start)
        self._proxy_views = inspect_api.register(
            cp.app, self.controller, self.xds, self.channels, remote=self._remote_proxies, instance=self._replica_name
        )
        cp.app.router.add_get(REPLICAS_PATH, self._replicas)
        cp.readiness.append(self._store_problem)
        register_telemetry(cp.app, self.telemetry, self.span_intake)
        index = cp.identity.credentials
        self.sessions: Sessions[Credential] = Sessions(self._admin_of, still_valid=lambda c: index.is_valid(c.id))
        dashboard.register(cp.app, self.sessions, credential_of, secure=cp.tls)
        cp.auth.public_paths |= set(dashboard.PUBLIC_PATHS)
        cp.auth.public_prefixes.extend(dashboard.PUBLIC_PREFIXES)
        cp.auth.session_lookups.append(dashboard.session_of)
        cp.metrics.register_text_collector(self._metrics_text)
        cp.metrics.register_text_collector(self.telemetry.prometheus_text)

    async def _on_connect(self, node: NodeInfo) -> None:
        await self.controller.on_connect(node)
        rec = self.controller.proxies.get(node.node_id)
        if rec is not None:
            self.telemetry.observe_node(rec.proxy)

    def _gateway_api_status(self, objects: Sequence[Resource]) -> Mapping[tuple[str, str, str], dict[str, Any]]:
        """Gateway API statuses; a connected gateway proxy is an instance of the Services selecting it."""
        proxies = [
            gatewayapi.GatewayProxy(rec.proxy.namespace, dict(rec.proxy.labels))
            for rec in list(self.controller.proxies.values())
            if rec.connected and rec.proxy.type == "router"
        ]
        return gatewayapi.convert(objects, proxies).statuses

    async def _generated(self, request: web.Request) -> web.Response:
        """The Istio config generated from the Gateway API (as istiod's internal config), for describe."""
        _, objects = await asyncio.to_thread(self.cp.store.snapshot)
        converted = await asyncio.to_thread(gatewayapi.convert, objects)
        return web.json_response({"items": [r.to_json() for r in converted.resources]})

    def _admin_of(self, token: str) -> Credential | None:
        """The admin credential ``token`` stands for (dashboard sign-in), or None."""
        try:
            cred = self.cp.identity.credentials.authenticate(token)
        except Unauthenticated:
            return None
        return cred if cred.is_admin else None

    def _scrape_targets(self) -> list[Proxy]:
        """Connected proxies (sidecars and gateways) whose agent has its channel open."""
        return [r.proxy for _, r in self.controller.proxies.connected() if self.channels.connected(r.proxy.id)]

    def _is_connected(self, node_id: str) -> bool:
        rec = self.controller.proxies.get(node_id)
        return rec is not None and rec.connected

    async def start(self, cp: ControlPlane) -> None:
        """Load the stored config, then serve xDS, push, follow the store and sweep expired credentials."""
        # Load everything before accepting streams, so a reconnecting Envoy never gets empty config.
        revision, resources = cp.store.snapshot()
        for resource in resources:
            if internal_kind(resource.kind) is None:
                self.controller.state.apply("ADDED", resource)
        self.controller.revision = self.controller.pushed_revision = revision
        cp.timeline.mark("store loaded")
        tls = cp.identity.serving_certificate(cp.address, cp.transport.sans) if cp.tls else None
        cp.xds_port = await self.xds.start(cp.address, cp.xds_port, tls=tls)
        cp.timeline.mark("xDS listening")
        me = new_replica(default_name(cp.port), cp.url, f"{cp.address}:{cp.xds_port}")
        replicas = self.replicas = ReplicaSet(coordination_for(cp.store), me, self._proxy_views)
        await replicas.beat()  # leader or not before the reaper's first pass
        replicas.start()
        self.controller.reaper.leading = lambda: replicas.leader
        self.controller.reaper.elsewhere = replicas.remote_workloads
        self.controller.start()
        self._watch = asyncio.create_task(self._follow(revision), name="mizzen-store-watch")
        self._sweeper = asyncio.create_task(self._sweep(), name="mizzen-credential-sweep")
        self._scraping = asyncio.create_task(self.scraper.run(), name="mizzen-telemetry-scrape")
        cp.timeline.mark("replicas and push loop")

    async def stop(self) -> None:
        """Stop following the store and sweeping, then the push loop and the xDS server."""
        for task in (self._watch, self._sweeper, self._scraping):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.controller.stop()
        if self.replicas is not None:
            await self.replicas.stop()
        await self.xds.stop()

    async def _follow(self, revision: int) -> None:
        async for event in self.cp.store.watch(revision):
            if event.resource.kind == CREDENTIAL_KIND:
                self.cp.identity.credentials.on_store_event(event.type, event.resource)
            if internal_kind(event.resource.kind) is not None:
                self.controller.pusher.request(PushRequest(), event.revision)  # no proxy depends on it
                continue
            self.controller.on_store_event(event.type, event.resource, event.revision)

    def _replica_name(self) -> str:
        return self.replicas.me.name if self.replicas is not None else inspect_api.INSTANCE

    def _remote_proxies(self) -> list[dict[str, Any]]:
        return self.replicas.remote_proxies() if self.replicas is not None else []

    def _store_problem(self) -> str | None:
        return self.replicas.readiness_problem() if self.replicas is not None else None

    async def _replicas(self, request: web.Request) -> web.Response:
        """Every replica of this control plane, the store and the leader (``mizzen status``)."""
        if self.replicas is None:
            raise web.HTTPServiceUnavailable(text="starting")
        return web.json_response(self.replicas.status_json(self.cp.store_description))

    def _revalidate(self) -> None:
        closed = self.xds.revalidate() + self.channels.revalidate()
        if closed:
            log.info("closed %d stream(s) whose credential was revoked or expired", closed)

    async def _sweep(self) -> None:
        """Expiry needs no event: re-check open streams every few seconds."""
        while True:
            await asyncio.sleep(REVALIDATE_EVERY_S)
            self._revalidate()

    def _stored_secrets(self) -> frozenset[tuple[str, str]]:
        return frozenset((r.namespace, r.name) for r in self.controller.state.resources("Secret"))

    def _dr_credentials(self) -> frozenset[tuple[str, str]]:
        return frozenset(
            (c.namespace, name)
            for c in self.controller.state.snapshot().destination_rules
            for name in credential_names(c.spec)
        )

    def _delete_workload(self, namespace: str, name: str) -> None:
        # Already gone (the agent deregistered on its way out): nothing to clean up.
        with contextlib.suppress(NotFound):
            self.cp.store.delete([("WorkloadEntry", namespace, name)])

    def _metrics_text(self) -> str:
        c = self.controller
        lines = [
            "# HELP mizzen_pushes_total Pushes run by the control plane (each covers every affected proxy).",
            "# TYPE mizzen_pushes_total counter",
            f"mizzen_pushes_total {c.push_count}",
            "# HELP mizzen_push_errors_total Proxies whose config failed to translate (they keep the last good one).",
            "# TYPE mizzen_push_errors_total counter",
            f"mizzen_push_errors_total {c.push_errors}",
            "# HELP mizzen_last_push_seconds Duration of the last push.",
            "# TYPE mizzen_last_push_seconds gauge",
            f"mizzen_last_push_seconds {c.last_push_seconds:.6f}",
        ]
        return "\n".join(lines) + "\n" + self.xds.metrics_text()


def install(cp: ControlPlane) -> None:
    """Add the mesh to a control plane before it starts."""
    cp.extensions.append(MeshExtension(cp))


def create_control_plane(
    home: Path | str | None = None,
    address: str = DEFAULT_ADDRESS,
    port: int = DEFAULT_PORT,
    xds_port: int = DEFAULT_XDS_PORT,
    store_url: str | None = None,
    store_password_file: Path | None = None,
    *,
    ca_dir: Path | None = None,
    transport: Transport | None = None,
    advertise_address: str | None = None,
    timeline: Timeline | None = None,
    manage_heap: bool = False,
) -> ControlPlane:
    """The whole control plane (API, store, mesh, telemetry, dashboard): the composition root's entry.

    ``manage_heap``: the process is the control plane's own (``python -m mizzen.controlplane``), so it may
    take over the garbage collector (:mod:`~mizzen.controlplane.heap`)."""
    mesh_config = load_mesh_config(resolve_home(home) / "mesh.yaml")
    cp = ControlPlane(
        home,
        address=address,
        port=port,
        xds_port=xds_port,
        store_url=store_url,
        store_password_file=store_password_file,
        trust_domain=mesh_config.trust_domain,
        ca_dir=ca_dir,
        transport=transport,
        advertise_address=advertise_address,
        timeline=timeline,
    )
    cp.extensions.append(MeshExtension(cp, mesh_config, manage_heap=manage_heap))
    return cp
