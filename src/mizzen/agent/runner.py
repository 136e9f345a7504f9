"""The asyncio shell around :class:`~mizzen.agent.supervisor.Supervisor`: it performs the actions
(processes, probe, registration, timers) and feeds back what happens as events.

Before Envoy starts, the agent obtains its credential (:mod:`mizzen.agent.credential`) and brings up what
Envoy talks to instead of the control plane (:mod:`mizzen.agent.services`): the xDS proxy, the SDS server
with the first certificate, the span forwarder, and the agent channel for admin calls.

Children run in their own sessions so a terminal's Ctrl-C reaches only the agent, which then stops
them in order (deregister, SIGTERM, SIGKILL after a grace period); on Linux they also get SIGTERM
if the agent itself dies, so a killed agent leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mizzen.agent import netns, probe, transparent
from mizzen.agent import supervisor as sv
from mizzen.agent.bootstrap import build_bootstrap
from mizzen.agent.cpclient import ControlPlaneClient, plain_http_context
from mizzen.agent.envoy import envoy_command
from mizzen.agent.errors import AgentError, AlreadyRunningError, RegistrationError
from mizzen.agent.join import join
from mizzen.agent.readiness import ReadinessTracker
from mizzen.agent.scrape import app_target
from mizzen.agent.spawn import alive, with_parent_death_signal, write_private
from mizzen.agent.spec import (
    Allocation,
    WorkloadSpec,
    allocate,
    app_argv,
    app_env,
    proxy_of,
    withheld,
    workload_entry,
)
from mizzen.agent.statsserver import StatsServer
from mizzen.node import Proxy

if TYPE_CHECKING:  # gRPC servers, aiohttp and the xDS encoder load only when a workload runs, not per CLI command
    from mizzen.agent.services import AgentServices
    from mizzen.agent.upstream import UpstreamPool

log = logging.getLogger("mizzen.agent")

STOP_GRACE_S = 5.0
MIN_DRAIN_S = 1.0  # peers receive the endpoint's removal well within this (a push takes milliseconds)
PROBE_INTERVAL_S = 0.1
SYNC_WARN_AFTER_S = 15.0


@dataclass(frozen=True)
class RunPaths:
    """Files of one running workload under ``$MIZZEN_HOME``."""

    app_log: Path
    envoy_log: Path
    access_log: Path
    state_file: Path
    bootstrap: Path

    @classmethod
    def of(cls, home: Path, spec: WorkloadSpec) -> RunPaths:
        """The files of ``spec``'s workload under ``home``."""
        logs, workloads = home / "logs", home / "workloads"
        stem = f"{spec.namespace}.{spec.name}"
        return cls(
            app_log=logs / f"{spec.name}.app.log",
            envoy_log=logs / f"{spec.name}.envoy.log",
            access_log=logs / f"{spec.name}.access.log",
            state_file=workloads / f"{stem}.json",
            bootstrap=workloads / f"{stem}.envoy.json",
        )


@dataclass(frozen=True)
class ControlPlane:
    """How to reach the control plane, and with what: the credential the agent was given, the mesh root."""

    api_url: str
    xds_address: tuple[str, int]
    token: str
    roots: bytes | None = None  # to verify a TLS control plane (its API is https://)
    secret_ttl_s: float = 24 * 3600.0
    other_api_urls: tuple[str, ...] = ()  # more replicas, tried in order when the first is unreachable
    other_xds_addresses: tuple[tuple[str, int], ...] = ()

    @property
    def api_urls(self) -> tuple[str, ...]:
        """Every replica's API address, the first one first."""
        return (self.api_url, *self.other_api_urls)

    @property
    def xds_addresses(self) -> tuple[tuple[str, int], ...]:
        """Every replica's xDS address, the first one first."""
        return (self.xds_address, *self.other_xds_addresses)

    xds_given: bool = True  # False: use the xDS address the control plane advertises (mizzen.agent.join)

    @property
    def tls(self) -> bool:
        """The control plane serves TLS (on both ports) exactly when its API address is https."""
        return self.api_url.startswith("https://")


class WorkloadRunner:
    """Runs one workload (or gateway) in the foreground until it stops; :meth:`run` returns the exit code."""

    def __init__(
        self,
        spec: WorkloadSpec,
        *,
        home: Path,
        envoy: Path,
        control_plane: ControlPlane,
        policy: sv.Policy | None = None,
        out: Callable[[str], None] = print,
        environ: Mapping[str, str] | None = None,
        owner_pid: int | None = None,
        cwd: str | None = None,
        upstreams: UpstreamPool | None = None,
    ) -> None:
        """Prepare to run ``spec``; nothing starts before :meth:`run`.

        ``environ`` is what the app's and Envoy's environments start from (default: this process's), and
        ``owner_pid`` the process a user signals to stop the workload (default: this one), ``cwd`` the folder
        the app and exec probes run in (default: this process's), ``upstreams`` the gRPC channels to share
        (default: one of this workload's own). A host agent (:mod:`mizzen.agent.host`) runs several
        workloads in one process: each gets its ``mizzen run``'s environment, pid and folder, and all
        share the host agent's channel to each control plane."""
        self.spec, self.envoy, self.cp, self.out = spec, envoy, control_plane, out
        self.home = home
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.owner_pid = os.getpid() if owner_pid is None else owner_pid
        self.cwd = cwd
        self._upstreams = upstreams
        self.paths = RunPaths.of(home, spec)
        policy = policy or sv.Policy(drain_s=spec.drain_s)
        self.machine = sv.Supervisor(has_app=spec.has_app, registers=spec.registers, policy=policy)
        self.healthy = True  # the app passes its readiness probe (mizzen.agent.readiness)
        self.alloc: Allocation | None = None
        self._events: asyncio.Queue[sv.Event] = asyncio.Queue()
        self._procs: dict[sv.Which, asyncio.subprocess.Process] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self.services: AgentServices | None = None
        self.capture: transparent.Capture | None = None  # --capture: the app's namespace, veth and nft table
        self.stats: StatsServer | None = None  # the merged Prometheus endpoint (--stats-port)

    async def run(self, *, handle_signals: bool = True) -> int:
        """Start everything, supervise, and return the exit code once everything has stopped.

        ``handle_signals``: SIGINT and SIGTERM of this process stop the workload; a host agent, which runs
        several, passes False and calls :meth:`request_stop` instead."""
        self._claim_state_file()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        try:
            joined = await join(self.cp, self.spec, xds_given=self.cp.xds_given)
            self.cp, self.spec = joined.control_plane, joined.spec
            self.alloc = allocate(self.spec)
            if self.spec.capture:
                self._start_capture()
            proxy = proxy_of(self.spec, self.alloc, access_log=str(self.paths.access_log))
            from mizzen.agent.services import AgentServices

            logs = {"app": self.paths.app_log, "access": self.paths.access_log, "envoy": self.paths.envoy_log}
            reconnected = functools.partial(self._events.put_nowait, sv.Reconnected())
            self.services = await AgentServices.start(
                self.spec, proxy, self.cp, self.home, logs, reconnected, upstreams=self._upstreams
            )
            await self._start_stats()
            self._write_bootstrap(proxy)
            if self.capture is not None:  # from Envoy's start: the app may call out before it is ready
                self._task("capture-names", self._keep_names(self.capture))
            self._events.put_nowait(sv.Start())
            while True:
                event = await self._events.get()
                for action in self.machine.handle(event, loop.time()):
                    code = await self._perform(action)
                    if code is not None:
                        return code
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self._cleanup()

    def request_stop(self, reason: str) -> None:
        """Stop the workload in order (deregister, drain, stop), as a signal would; ``reason`` is logged."""
        self._events.put_nowait(sv.StopRequested(reason))

    def _start_capture(self) -> None:
        """Create the app's namespace, veth and redirect rules; the app is then reached at its veth address."""
        assert self.alloc is not None and self.alloc.capture is not None
        cp = transparent.ipv4_hosts([*self.cp.api_urls, *(f"{h}:{p}" for h, p in self.cp.xds_addresses)])
        endpoint_ports = sorted(self.alloc.inbound.values())
        cap = transparent.start(self.home, self.spec.name, self.spec.namespace, endpoint_ports, self.alloc.capture, cp)
        self.capture = cap
        self.alloc = dataclasses.replace(self.alloc, app_address=cap.layout.app_address)
        policy = self.spec.probe
        if policy.host == "127.0.0.1":  # the app's loopback is its own now: probe it where Envoy reaches it
            policy = dataclasses.replace(policy, host=cap.layout.app_address)
        if policy.exec_command:  # an exec probe runs where the app runs, as Kubernetes runs it in the container
            policy = dataclasses.replace(policy, exec_command=(*netns.exec_prefix(cap.layout), *policy.exec_command))
        self.spec = dataclasses.replace(self.spec, probe=policy)

    async def _start_stats(self) -> None:
        """Serve the merged Prometheus endpoint (before Envoy starts: until then it answers without Envoy's part)."""
        assert self.alloc is not None and self.services is not None
        if not self.alloc.stats:
            return
        app = app_target(self.spec.annotations, self.spec.ports, self.alloc.app, self.alloc.app_address)
        if app is not None and app.port == self.alloc.stats:  # Istio refuses this too: it would scrape itself
            raise AgentError(
                f"prometheus.io/port {app.port} is the stats port itself; the endpoint would scrape itself"
            )
        label = f"{self.spec.name}.{self.spec.namespace}"
        server = StatsServer(self.spec.address, self.alloc.stats, self.services.sockets.admin, app, label=label)
        await server.start()
        self.stats = server

    async def _perform(self, action: sv.Action) -> int | None:
        """Carry out one of the state machine's actions; an exit code when the workload is done."""
        match action:
            case sv.StartProcess(which=which):
                await self._start(which)
            case sv.StopProcess(which=which, force=force):
                self._signal(which, signal.SIGKILL if force else signal.SIGTERM)
            case sv.StartTimer(name=name, delay=delay):
                loop = asyncio.get_running_loop()
                self._timers.append(loop.call_later(delay, self._events.put_nowait, sv.TimerFired(name)))
            case sv.Notify(message=message, level=level):
                log.log(logging.getLevelName(level.upper()), "%s.%s: %s", self.spec.name, self.spec.namespace, message)
            case sv.Up():
                self._up()
            case sv.Exit(code=code):
                return code
            case _:
                self._launch(action)
        return None

    def _launch(self, action: sv.Action) -> None:
        """The actions that start (or cancel) background tasks: probes, registration, drain."""
        match action:
            case sv.ProbeApp():
                self._task("probe-app", self._probe())
            case sv.ProbeEnvoy():
                self._task("probe-envoy", self._probe_envoy())
            case sv.CancelProbe():
                self._cancel("probe-app")
                self._cancel("probe-envoy")
            case sv.Register():
                self._task("register", self._register())
            case sv.EnsureRegistered():
                if "ensure" not in self._tasks or self._tasks["ensure"].done():
                    self._task("ensure", self._ensure_registered())
            case sv.Deregister():
                self._cancel("register")
                self._cancel("ensure")
                self._cancel("watch-ready")
                self._task("deregister", self._deregister())
            case sv.Drain(seconds=seconds):
                self._task("drain", self._drain(seconds))

    def _up(self) -> None:
        """Running: say so, watch the proxy's sync and (for a registered app) its readiness."""
        self._write_state("running")
        self.out(self.summary())
        self._task("watch-sync", self._report_sync())
        if self.spec.has_app and self.spec.registers:
            self._task("watch-ready", self._watch_ready())

    async def _keep_names(self, cap: transparent.Capture) -> None:
        async with self._admin_client() as client:
            await transparent.keep_names(cap, client)

    # --- processes ---
    async def _start(self, which: sv.Which) -> None:
        assert self.alloc is not None
        if which == "envoy":
            argv = envoy_command(
                self.envoy,
                self.paths.bootstrap,
                concurrency=self.spec.concurrency,
                log_level=self.spec.envoy_log_level,
                config_yaml=self.spec.bootstrap_override or None,
            )
            env, log_path = withheld(self.environ), self.paths.envoy_log
        else:
            argv = app_argv(self.spec, self.alloc)
            if self.capture is not None:
                argv = [*netns.exec_prefix(self.capture.layout), *argv]
            env, log_path = app_env(self.spec, self.alloc, self.environ), self.paths.app_log
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as logf:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *with_parent_death_signal(argv),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=logf,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=self.cwd if which == "app" else None,
                    start_new_session=True,
                )
            except OSError as exc:
                log.error("cannot start %s %r: %s", which, argv[0], exc)
                self._events.put_nowait(sv.ProcessExited(which, 127))
                return
        self._procs[which] = proc
        self._task(f"wait-{which}-{proc.pid}", self._wait(which, proc))
        self._write_state("starting" if self.machine.state is not sv.State.RUNNING else "running")

    async def _wait(self, which: sv.Which, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        self._events.put_nowait(sv.ProcessExited(which, code))

    def _signal(self, which: sv.Which, sig: signal.Signals) -> None:
        proc = self._procs.get(which)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile; its waiter reports it
            os.killpg(proc.pid, sig)
        if sig != signal.SIGKILL:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(STOP_GRACE_S, self._signal, which, signal.SIGKILL))

    # --- probe and registration ---
    def probe_where(self) -> probe.Where:
        """Where an exec probe runs: the app's folder and the app's environment, as Kubernetes runs an exec
        probe in the container (never the agent's ``MIZZEN_*`` settings, a token among them)."""
        assert self.alloc is not None
        return probe.Where(self.cwd, app_env(self.spec, self.alloc, self.environ))

    async def _probe(self) -> None:
        assert self.alloc is not None
        policy = self.spec.probe
        port = probe.probe_port(policy, self.spec.ports, self.alloc.app)
        await asyncio.sleep(policy.initial_delay_s)
        where = self.probe_where()
        while not await probe.check(policy, self.spec.ready_path, port, where=where):
            await asyncio.sleep(PROBE_INTERVAL_S)
        self._events.put_nowait(sv.AppReady())

    def _admin_client(self) -> httpx.AsyncClient:
        """A client for this workload's Envoy admin (a UNIX socket only the agent's user can open)."""
        assert self.services is not None
        transport = httpx.AsyncHTTPTransport(uds=str(self.services.sockets.admin), verify=plain_http_context())
        return httpx.AsyncClient(transport=transport, base_url="http://envoy-admin", trust_env=False, timeout=1.0)

    async def _probe_envoy(self) -> None:
        url = "/ready"
        async with self._admin_client() as client:
            while True:
                try:
                    await client.get(url)  # any answer will do: LIVE needs the control plane too
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(PROBE_INTERVAL_S)
        self._events.put_nowait(sv.EnvoyReady())

    async def _report_sync(self) -> None:
        """Say once whether Envoy received its configuration (admin /ready turns LIVE), so that an
        unreachable or unconfigured control plane is visible right away rather than as failed requests."""
        url = "/ready"
        deadline = asyncio.get_running_loop().time() + SYNC_WARN_AFTER_S
        async with self._admin_client() as client:
            while asyncio.get_running_loop().time() < deadline:
                try:
                    if (await client.get(url)).text.strip() == "LIVE":
                        log.info(
                            "%s.%s: Envoy is LIVE (configuration received from the control plane)",
                            self.spec.name,
                            self.spec.namespace,
                        )
                        return
                except httpx.HTTPError:
                    pass  # Envoy restarting: the supervisor handles that; keep asking until the deadline
                await asyncio.sleep(0.2)
        host, port = self.cp.xds_address
        log.warning(
            "%s.%s: Envoy has no configuration after %.0fs; is the control plane's xDS reachable at "
            "%s:%d? (Envoy log: %s)",
            self.spec.name,
            self.spec.namespace,
            SYNC_WARN_AFTER_S,
            host,
            port,
            self.paths.envoy_log,
        )

    async def _watch_ready(self) -> None:
        """Keep probing the app; on a change of readiness, re-register with the health annotation."""
        assert self.alloc is not None
        policy = self.spec.probe
        port = probe.probe_port(policy, self.spec.ports, self.alloc.app)
        tracker, where = ReadinessTracker(policy), self.probe_where()
        while True:
            await asyncio.sleep(policy.period_s)
            changed = tracker.observe(await probe.check(policy, self.spec.ready_path, port, where=where))
            if changed is None:
                continue
            self.healthy = changed
            state = "ready again" if changed else "not ready: taking its endpoint out of load balancing"
            log.warning("%s.%s: the app is %s", self.spec.name, self.spec.namespace, state)
            try:
                await self._client.register(workload_entry(self.spec, self.alloc, healthy=changed))
            except RegistrationError as exc:
                log.warning("%s.%s: cannot report readiness: %s", self.spec.name, self.spec.namespace, exc)

    async def _drain(self, seconds: float) -> None:
        """After deregistering: let Envoy finish in-flight inbound requests (at most ``seconds``), then report.

        Peers need the endpoint's removal first, so the drain lasts at least :data:`MIN_DRAIN_S`; then it ends
        as soon as no inbound request is in flight (Istio's ``EXIT_ON_ZERO_ACTIVE_CONNECTIONS`` idea)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        await asyncio.sleep(min(MIN_DRAIN_S, seconds))
        async with self._admin_client() as client:
            while loop.time() < deadline:
                try:
                    stats = await client.get("/stats", params={"filter": r"^cluster\.inbound\|.*\.upstream_rq_active$"})
                except httpx.HTTPError:
                    break  # Envoy is gone: nothing left to drain
                active = sum(int(v) for line in stats.text.splitlines() if (v := line.rpartition(": ")[2]).isdigit())
                if active == 0:
                    break
                await asyncio.sleep(0.1)
        self._events.put_nowait(sv.Drained())

    @property
    def _client(self) -> ControlPlaneClient:
        assert self.services is not None
        return self.services.client

    async def _register(self) -> None:
        assert self.alloc is not None
        try:
            await self._client.register(workload_entry(self.spec, self.alloc))
        except RegistrationError as exc:
            self._events.put_nowait(sv.RegistrationFailed(str(exc)))
        else:
            self._events.put_nowait(sv.Registered())

    async def _ensure_registered(self) -> None:
        assert self.alloc is not None
        try:
            if await self._client.ensure(workload_entry(self.spec, self.alloc, healthy=self.healthy)):
                log.warning("%s.%s: WorkloadEntry was gone; registered it again", self.spec.name, self.spec.namespace)
        except RegistrationError as exc:
            log.warning("%s.%s: cannot check registration: %s", self.spec.name, self.spec.namespace, exc)

    async def _deregister(self) -> None:
        try:
            await self._client.deregister(self.spec.namespace, self.spec.name)
        except RegistrationError as exc:
            self._events.put_nowait(sv.Deregistered(str(exc)))
        else:
            self._events.put_nowait(sv.Deregistered())

    # --- bookkeeping ---
    def _task(self, name: str, coro: Any) -> None:
        self._tasks[name] = asyncio.create_task(coro, name=name)

    def _cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    async def _cleanup(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for proc in self._procs.values():
            if proc.returncode is None:  # only after an unexpected error: never leave children behind
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self.stats is not None:
            await self.stats.stop()
        if self.services is not None:
            await self.services.stop()
        self._stop_capture()
        for path in (self.paths.state_file, self.paths.bootstrap):
            path.unlink(missing_ok=True)

    def _stop_capture(self) -> None:
        if self.capture is None:
            return
        try:
            removed = self.capture.close()
        except AgentError as exc:
            log.error("%s.%s: %s", self.spec.name, self.spec.namespace, exc)
            return
        log.info("%s.%s: capture removed: %s", self.spec.name, self.spec.namespace, ", ".join(removed))

    def _claim_state_file(self) -> None:
        try:
            other = json.loads(self.paths.state_file.read_text())
        except (OSError, ValueError):
            return
        pid = other.get("pid") if isinstance(other, dict) else None
        if isinstance(pid, int) and pid != self.owner_pid and alive(pid):
            raise AlreadyRunningError(
                f"{self.spec.name}.{self.spec.namespace} is already running here (agent pid {pid}); "
                f"stop it first or pick another --name"
            )
        log.info("replacing stale state file %s", self.paths.state_file)

    def _write_bootstrap(self, proxy: Proxy) -> None:
        assert self.services is not None
        config = build_bootstrap(proxy, paths=self.services.sockets.paths())
        write_private(self.paths.bootstrap, json.dumps(config, indent=1))

    def _write_state(self, status: str) -> None:
        write_private(self.paths.state_file, json.dumps(self.state(status), indent=1))

    def state(self, status: str = "running") -> dict[str, Any]:
        """What ``$MIZZEN_HOME/workloads/<ns>.<name>.json`` holds: enough to find and reach the workload."""
        alloc, services = self.alloc, self.services
        assert alloc is not None and services is not None
        return {
            "name": self.spec.name,
            "namespace": self.spec.namespace,
            "type": self.spec.proxy_type,
            "status": status,
            "pid": self.owner_pid,
            "agentPid": os.getpid(),  # the process running the agent: this one, or the host agent
            "appPid": _pid(self._procs.get("app")),
            "envoyPid": _pid(self._procs.get("envoy")),
            "address": self.spec.address,
            "labels": dict(self.spec.labels),
            "ports": {
                "app": dict(alloc.app),
                "inbound": dict(alloc.inbound),
                "httpProxy": alloc.http_proxy,
                "stats": alloc.stats,
                "upstreams": [
                    {"host": u.host, "port": u.port, "bind": u.bind, "listenPort": u.listen_port}
                    for u in alloc.upstreams
                ],
            },
            "admin": f"unix:{services.sockets.admin}",
            "adminSocket": str(services.sockets.admin),
            "identity": services.credential.identity,
            "credential": services.credential.id,
            "httpProxy": f"127.0.0.1:{alloc.http_proxy}" if alloc.http_proxy else None,
            "capture": self._capture_state(),
            "logs": {
                "app": str(self.paths.app_log),
                "envoy": str(self.paths.envoy_log),
                "access": str(self.paths.access_log),
            },
        }

    def _capture_state(self) -> dict[str, Any] | None:
        if self.capture is None or self.alloc is None or self.alloc.capture is None:
            return None
        outbound, inbound = self.alloc.capture
        return {**self.capture.layout.record(), "table": self.capture.table, "ports": [outbound, inbound]}

    def summary(self) -> str:
        """Human summary of the allocated ports, printed once the workload is up."""
        alloc, services = self.alloc, self.services
        assert alloc is not None and services is not None
        kind = "gateway" if self.spec.proxy_type == "router" else "workload"
        lines = [f"{kind} {self.spec.name}.{self.spec.namespace} is up as {services.credential.identity}"]
        for port in self.spec.ports:
            app = alloc.app.get(port.name)
            target = f" -> app {alloc.app_address}:{app}" if app else ""
            lines.append(
                f"  port {port.name}={port.number}: sidecar {self.spec.address}:{alloc.inbound.get(port.name)}{target}"
            )
        if alloc.http_proxy:
            lines.append(f"  HTTP proxy: http://127.0.0.1:{alloc.http_proxy}  (the app's HTTP_PROXY)")
        lines += [f"  upstream {u.host}:{u.port} at {u.bind}:{u.listen_port}" for u in alloc.upstreams]
        if self.capture is not None and alloc.capture is not None:
            lay = self.capture.layout
            lines.append(
                f"  capture: app in netns {lay.netns} at {lay.app_address} (veth {lay.host_veth}); its TCP goes to "
                f"the sidecar's :{alloc.capture[0]}, peers' to :{alloc.capture[1]} (nft table {self.capture.table})"
            )
        if self.stats is not None:
            lines.append(self._stats_line(self.stats))
        lines.append(f"  Envoy admin: unix:{services.sockets.admin} (mode 0600; `mizzen pc` reaches it)")
        lines.append(f"  logs: {self.paths.envoy_log.parent}/{self.spec.name}.*.log")
        return "\n".join(lines)

    def _stats_line(self, stats: StatsServer) -> str:
        merged = f", app {stats.app.shown}" if stats.app is not None else ""
        return f"  Prometheus: http://{self.spec.address}:{stats.port}/stats/prometheus (Envoy, agent{merged})"


def _pid(proc: asyncio.subprocess.Process | None) -> int | None:
    return proc.pid if proc is not None and proc.returncode is None else None
