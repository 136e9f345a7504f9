"""The control-plane process: the HTTP API over the store, plus the extensions the integrator plugs in.

:class:`ControlPlane` owns the store, the metrics registry and the aiohttp application. Other
components add routes to :attr:`ControlPlane.app` before :meth:`ControlPlane.start` and join the
life cycle as *extensions* (xDS server, registry, translator): ``start`` brings the API up, then starts
each extension in order; ``stop`` stops them in reverse order, then the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from aiohttp import web

from mizzen import limits
from mizzen.controlplane import identity_api
from mizzen.controlplane.api import ConfigApi, errors_middleware, register
from mizzen.controlplane.auth import Authenticator
from mizzen.controlplane.home import (
    DEFAULT_ADDRESS,
    DEFAULT_PORT,
    DEFAULT_XDS_PORT,
    Home,
    HomeLocked,
    lock_home,
    resolve_home,
)
from mizzen.controlplane.identity import Identity, Transport, is_loopback
from mizzen.controlplane.metrics import Registry
from mizzen.controlplane.openapi import build_openapi
from mizzen.controlplane.startup import Timeline
from mizzen.hostaddr import WILDCARDS, primary_address
from mizzen.store import ConfigStore, StoreError
from mizzen.store.factory import check_spec, open_store

log = logging.getLogger(__name__)


INFO_PATH = "/api/mizzen/v1/controlplane"


class ControlPlaneError(Exception):
    """The control plane cannot start (already running in this home, port taken, ...)."""


def advertised(address: str) -> str:
    """The address handed to agents: the bind address, or for a wildcard bind the host's primary address."""
    if address not in WILDCARDS:
        return address
    primary = primary_address()
    if primary is None:
        raise ControlPlaneError(
            f"bound to {address or 'every address'} but this host has no address to advertise to agents; "
            "give one with --advertise-address"
        )
    return primary


class Extension(Protocol):
    """A component whose life cycle follows the control plane's."""

    async def start(self, cp: ControlPlane) -> None:
        """Start (the API is already serving)."""

    async def stop(self) -> None:
        """Stop and release what ``start`` took."""


class ControlPlane:
    """One control plane: store + HTTP API on ``address:port`` + extensions (xDS on ``xds_port``)."""

    def __init__(
        self,
        home: Path | str | None = None,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        xds_port: int = DEFAULT_XDS_PORT,
        store: ConfigStore | None = None,
        store_url: str | None = None,
        store_password_file: Path | None = None,
        *,
        trust_domain: str = "cluster.local",
        ca_dir: Path | None = None,
        transport: Transport | None = None,
        advertise_address: str | None = None,
        timeline: Timeline | None = None,
    ) -> None:
        self.timeline = timeline or Timeline()  # start-up phases (``control plane ready`` log line)
        self.home = Home(resolve_home(home))
        self.home.ensure()  # private (0700/0600), tightened if an older home was looser
        self.token = ""  # the admin credential, known once start() holds the home (Identity.prepare)
        self.address = address
        self.port = port
        self.xds_port = xds_port
        self.advertise_address = advertise_address or advertised(address)
        transport = transport or Transport()
        if self.advertise_address not in transport.sans:  # agents verify the address they are handed
            transport = dataclasses.replace(transport, sans=(*transport.sans, self.advertise_address))
        self.transport = transport
        self.tls = self.transport.uses_tls(address)
        self._owns_store = store is None
        if store is None and not store_url:
            self.home.create_private(self.home.db)  # SQLite gives its WAL and SHM files the same mode
        try:
            self.store_description = check_spec(store_url, self.home.db) if store is None else type(store).__name__
            self.store: ConfigStore = (
                store if store is not None else open_store(store_url, self.home.db, password_file=store_password_file)
            )
        except StoreError as exc:
            raise ControlPlaneError(f"cannot open the store: {exc}") from exc
        self.identity = Identity(self.home, self.store, trust_domain=trust_domain, ca_dir=ca_dir)
        self.metrics = Registry()
        self.auth = Authenticator(self.identity.credentials)
        self.app = web.Application(
            middlewares=[errors_middleware(self.metrics), self.auth.middleware],
            client_max_size=limits.MAX_REQUEST_BYTES,
        )
        self.config_api = ConfigApi(self.store, self.metrics)
        register(self.app, self.config_api)
        identity_api.register(self.app, self.config_api, self.identity)
        self.app.router.add_get(INFO_PATH, self._info)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/openapi/v3", self._openapi)
        self.extensions: list[Extension] = []
        self.readiness: list[Callable[[], str | None]] = []  # each says why not ready (the store is away), or None
        self.ready = False
        self._runner: web.AppRunner | None = None
        self._started: list[Extension] = []
        self._lock_fd: int | None = None

    @property
    def url(self) -> str:
        """The API's base URL, e.g. ``http://127.0.0.1:15014`` (``https://`` when TLS is on); for a wildcard
        bind, the loopback address local clients reach it at."""
        address = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.address, self.address)
        host = f"[{address}]" if ":" in address else address
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        """Serve the API, then start every extension; ready once all have started."""
        self._claim_home()
        self.timeline.mark("set-up")
        # Only the holder of the home creates CA material and the admin token.
        self.identity.prepare()
        self.token = self.identity.admin_token
        self.timeline.mark("home and identity")
        if self.transport.insecure and not is_loopback(self.address):
            log.warning("serving plaintext on %s (--insecure): credentials cross the network unencrypted", self.address)
        ssl_context = self.identity.server_ssl_context(self.address, self.transport.sans) if self.tls else None
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.address, self.port, ssl_context=ssl_context).start()
        except OSError as exc:
            await self._runner.cleanup()
            self._release_home()
            raise ControlPlaneError(f"cannot listen on {self.address}:{self.port}: {exc.strerror or exc}") from exc
        self.port = int(self._runner.addresses[0][1])  # the real port when 0 was asked for
        self.home.write_private(self.home.address_file, self.url + "\n")
        self.timeline.mark("API listening")
        for ext in self.extensions:
            try:
                await ext.start(self)
            except Exception:
                log.exception("extension %s failed to start; stopping", type(ext).__name__)
                await self.stop()
                raise
            self._started.append(ext)
        self.ready = True
        log.info(
            "control plane ready: API %s, xDS port %d, home %s, store %s (%s)",
            self.url,
            self.xds_port,
            self.home.root,
            self.store_description,
            self.timeline.summary(),
        )

    async def stop(self) -> None:
        """Stop extensions in reverse order, then the API; close the store if we opened it."""
        self.ready = False
        while self._started:
            ext = self._started.pop()
            try:
                await ext.stop()
            except Exception:
                # Keep stopping the rest: one broken extension must not leave others running.
                log.exception("extension %s failed to stop", type(ext).__name__)
        await self.config_api.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._owns_store:
            self.store.close()
        self.home.address_file.unlink(missing_ok=True)
        self._release_home()

    async def run(self) -> None:
        """Start, serve until SIGTERM or SIGINT, then stop (the foreground ``mizzen controlplane``)."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
        try:
            await stopping.wait()
            log.info("stopping the control plane")
        finally:
            await self.stop()

    def _claim_home(self) -> None:
        # The flock decides who runs (atomic, gone with the process); the pid file is for status/down.
        if self._lock_fd is None:
            try:
                self._lock_fd = lock_home(self.home)
            except HomeLocked as exc:
                raise ControlPlaneError(str(exc)) from exc
        self.home.write_private(self.home.pid_file, f"{os.getpid()}\n")

    def _release_home(self) -> None:
        if self._lock_fd is None:
            return
        self.home.pid_file.unlink(missing_ok=True)
        os.close(self._lock_fd)  # releases the flock
        self._lock_fd = None

    def info(self) -> dict[str, object]:
        """Where agents reach this control plane (``GET`` :data:`INFO_PATH`): the advertised address with the
        API and xDS ports, whatever address it is bound to."""
        host = f"[{self.advertise_address}]" if ":" in self.advertise_address else self.advertise_address
        return {
            "advertiseAddress": self.advertise_address,
            "apiAddress": f"{'https' if self.tls else 'http'}://{host}:{self.port}",
            "xdsAddress": f"{host}:{self.xds_port}",
            "tls": self.tls,
        }

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response(self.info())

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.Response(status=503, text="starting")
        problems = [p for p in (check() for check in self.readiness) if p]
        if problems:
            return web.Response(status=503, text="; ".join(problems))
        return web.Response(text="ok")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self.metrics.render)
        return web.Response(
            text=body, content_type="text/plain", charset="utf-8", headers={"X-Prometheus-Format": "0.0.4"}
        )

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(build_openapi(), dumps=lambda o: json.dumps(o, indent=None))
