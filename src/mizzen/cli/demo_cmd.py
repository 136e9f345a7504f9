"""``mizzen demo``: the control plane, the ingress gateway and Bookinfo's six workloads, in one command.

Steps: check that no demo runs yet and that its ports are free (by default 15014 for the API and the
dashboard, 15010 for xDS, 8080/8443 for the ingress gateway; ``--port``, ``--xds-port``,
``--gateway-port`` and ``--gateway-https-port`` move them, 0 picks a free one), or that a healthy control
plane of this ``$MIZZEN_HOME`` already answers on the API port, which is then reused and left running;
start ``mizzen controlplane``; apply the Services, the ingress gateway's Service (its targetPorts are the
demo's gateway ports), Bookinfo's gateway and destination rules; start
``mizzen gateway`` and one ``mizzen run`` per workload; wait until every proxy is synced and the product
page answers through the gateway with reviews v1, v2 and v3 all seen. Every child runs as
``<python> -m mizzen.cli.main ...`` with its output in ``$MIZZEN_HOME/logs/demo/<name>.log``.

Foreground by default: Ctrl-C (or ``mizzen demo --down`` from another terminal) stops every process
the demo started, by PID, control plane last. ``--detach`` leaves them running, recorded in
``$MIZZEN_HOME/demo.json``, until ``mizzen demo --down``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
import httpx
import yaml
from click.decorators import FC

from mizzen.agent.ports import free_ports
from mizzen.dashboard.cli import sign_in_url
from mizzen.dashboard.sessions import LINKS_PATH
from mizzen.samples.bookinfo import demo_plan as plan
from mizzen.samples.bookinfo.launcher import (
    DemoError,
    DemoState,
    Launched,
    ProcessRecord,
    launch,
    port_in_use,
    stop_all,
    tail,
)

CONTROLPLANE_READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.5


DEMO_MESH_CONFIG = """# Mesh settings for the Bookinfo demo (Istio MeshConfig fields). Edit and restart to change.
defaultConfig:
  tracing:
    sampling: 100
"""


class _Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the demo was starting or running."""


def _resolve_home(explicit: Path | None) -> Path:
    raw = explicit if explicit is not None else os.environ.get("MIZZEN_HOME") or "~/.mizzen"
    return Path(raw).expanduser().resolve()


class Demo:
    """One ``mizzen demo`` run: starts processes in order, waits, and stops what it started."""

    def __init__(
        self, home: Path, timeout: float, ports: plan.DemoPorts = plan.DEFAULT_PORTS, python: str = sys.executable
    ) -> None:
        self.home = home
        self.ports = ports
        self.timeout = timeout
        self.python = python
        self.logs = home / "logs" / "demo"
        self.launched: list[Launched] = []
        self.state = DemoState(
            mode="foreground",
            demo_pid=os.getpid(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            product_page=ports.product_page_url,
        )
        self.http = httpx.Client(timeout=5.0, trust_env=False)  # never send loopback calls via a user proxy

    # --- helpers ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """One progress line."""
        click.echo(text)

    def env(self) -> dict[str, str]:
        """The environment every child gets: this home and the default loopback addresses."""
        env = {
            **os.environ,
            "MIZZEN_HOME": str(self.home),
            "MIZZEN_ADDRESS": self.ports.api_url,
            "MIZZEN_XDS_ADDRESS": f"127.0.0.1:{self.ports.xds}",
            "PYTHONUNBUFFERED": "1",
        }
        if not self.state.reused_controlplane:
            env.pop("MIZZEN_TOKEN", None)  # our control plane's token is the one in this home
        return env

    def token(self) -> str:
        """The API token: ``$MIZZEN_TOKEN`` for a reused control plane if set, else this home's token file."""
        if self.state.reused_controlplane and os.environ.get("MIZZEN_TOKEN"):
            return os.environ["MIZZEN_TOKEN"]
        try:
            return (self.home / "token").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def api_get(self, path: str) -> httpx.Response:
        """An authenticated GET on the control plane API."""
        return self.http.get(self.ports.api_url + path, headers={"Authorization": f"Bearer {self.token()}"})

    def start(self, name: str, argv: list[str]) -> Launched:
        """Launch one child, record it in demo.json at once (so ``--down`` can always clean up)."""
        launched = launch(name, argv, self.logs / f"{name}.log", self.env())
        self.launched.append(launched)
        self.state.processes.append(launched.record)
        self.state.save(self.home)
        return launched

    def check_children(self, step: str) -> None:
        """Fail the step if any child has exited."""
        for item in self.launched:
            code = item.popen.poll()
            if code is not None:
                raise DemoError(
                    f"{step}: {item.record.name} exited with code {code}; its log is "
                    f"{item.record.log}:\n{tail(item.record.log)}"
                )

    # --- steps -----------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Refuse to start a second demo or to fight over a busy port; decide whether to reuse a control plane."""
        existing = DemoState.load(self.home)
        if existing is not None and (existing.live() or existing.demo_alive()):
            pids = ", ".join(str(p.pid) for p in existing.live()) or str(existing.demo_pid)
            raise DemoError(
                f"a Bookinfo demo is already running from {self.home} (started {existing.started}, "
                f"{existing.mode}, pids {pids}).\nOpen {existing.product_page or plan.PRODUCT_PAGE_URL}, "
                f"or stop it with `mizzen demo --down{self.home_flag()}`."
            )
        if existing is not None:
            DemoState.path(self.home).unlink(missing_ok=True)  # a stale record: nothing of it runs
        for port in (self.ports.gateway, self.ports.gateway_https):
            if port_in_use(port):
                raise DemoError(self._busy(port))
        if port_in_use(self.ports.api):
            if not self._our_controlplane_answers():
                raise DemoError(self._busy(self.ports.api))
            self.state.reused_controlplane = True
        elif port_in_use(self.ports.xds):
            raise DemoError(self._busy(self.ports.xds))

    def home_flag(self) -> str:
        """`` --home <dir>`` when this home is not what ``$MIZZEN_HOME`` gives (for printed commands)."""
        return f" --home {self.home}" if os.environ.get("MIZZEN_HOME") != str(self.home) else ""

    def _busy(self, port: int) -> str:
        owner, option = next((o, opt) for p, o, opt in self.ports.owners() if p == port)
        return (
            f"port {port} (needed for {owner}) is already in use on 127.0.0.1.\n"
            f"Find the program holding it with `ss -ltnp 'sport = :{port}'` (or `lsof -i :{port}`), stop it, "
            f"and run `mizzen demo` again, or give the demo another port ({option} N, or {option} 0 for a free "
            f"one). If it is a demo started with another MIZZEN_HOME, stop that one with "
            f"`mizzen demo --down --home <that home>`."
        )

    def _our_controlplane_answers(self) -> bool:
        """True when a ready control plane on the API port accepts our token (so it is ours to reuse)."""
        self.state.reused_controlplane = True  # token() may then take $MIZZEN_TOKEN, as other clients do
        try:
            ok = (
                self.http.get(self.ports.api_url + "/readyz").status_code == 200
                and self.api_get("/api/v1/namespaces/default/services").status_code == 200
            )
        except httpx.HTTPError:
            ok = False
        self.state.reused_controlplane = ok
        return ok

    def start_controlplane(self) -> None:
        """Start (or reuse) the control plane and wait for ``/readyz``."""
        if self.state.reused_controlplane:
            self.say(
                f"[1/5] control plane: reusing the one already running at {self.ports.api_url} "
                "(it stays running afterwards)"
            )
            return
        mesh_config = self.home / "mesh.yaml"
        if not mesh_config.exists():
            # The demo traces every request (Istio's demo profile samples 100%; its default is 1%).
            mesh_config.write_text(DEMO_MESH_CONFIG, encoding="utf-8")
        item = self.start("controlplane", plan.controlplane_argv(self.python, self.ports))
        self.say(f"[1/5] control plane: starting (pid {item.record.pid}, log {item.record.log})")
        deadline = time.monotonic() + CONTROLPLANE_READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_children("starting the control plane")
            try:
                if self.http.get(self.ports.api_url + "/readyz").status_code == 200:
                    self.say(f"      ready: API {self.ports.api_url}, xDS 127.0.0.1:{self.ports.xds}")
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.2)
        raise DemoError(
            f"starting the control plane: not ready within {CONTROLPLANE_READY_TIMEOUT:.0f}s; "
            f"its log is {item.record.log}:\n{tail(item.record.log)}"
        )

    def apply(self) -> None:
        """``mizzen apply`` the Services, the gateway's Service, Bookinfo's gateway and the destination rules."""
        self.logs.mkdir(parents=True, exist_ok=True)
        service = self.logs / "ingressgateway-service.yaml"
        service.write_text(yaml.safe_dump(plan.gateway_service(self.ports), sort_keys=False), encoding="utf-8")
        files = [plan.setup_files()[0], service, *plan.setup_files()[1:]]
        self.say("[2/5] applying " + ", ".join(f.name for f in files))
        log_path = self.logs / "apply.log"
        done = subprocess.run(
            plan.apply_argv(self.python, files),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        log_path.write_text(done.stdout + done.stderr, encoding="utf-8")
        if done.returncode != 0:
            raise DemoError(
                f"applying the Bookinfo configuration failed (exit {done.returncode}); its log is "
                f"{log_path}:\n{(done.stdout + done.stderr).strip()}"
            )
        for line in done.stdout.strip().splitlines():
            self.say(f"      {line}")

    def start_mesh(self) -> None:
        """Start the ingress gateway and the six workloads (each with its sidecar)."""
        gw = self.start("gateway", plan.gateway_argv(self.python))
        self.say(
            f"[3/5] ingress gateway istio-ingressgateway on 127.0.0.1:{self.ports.gateway} "
            f"(pid {gw.record.pid}, log {gw.record.log})"
        )
        self.say("[4/5] workloads:")
        for workload in plan.WORKLOADS:
            item = self.start(workload.name, plan.workload_argv(self.python, workload))
            self.say(f"      {workload.name:<15} pid {item.record.pid:<7} log {item.record.log}")

    def wait_ready(self) -> None:
        """Wait for registration, proxy sync and a product page through the gateway showing v1, v2 and v3."""
        self.say(f"[5/5] waiting for the workloads, the proxies and {self.ports.product_page_url} ...")
        deadline = time.monotonic() + self.timeout
        progress = plan.WaitProgress(self.say)
        while time.monotonic() < deadline:
            self.check_children("waiting for Bookinfo")
            progress.registered(self._registered())
            progress.synced(self._synced())
            if progress.all_registered and progress.proxies_ok:
                progress.page(self._page_version())
            if progress.done:
                return
            time.sleep(POLL_INTERVAL)
        raise DemoError(
            f"waiting for Bookinfo: not ready within {self.timeout:.0f}s ({progress.missing()}). "
            f"Logs are in {self.logs}."
        )

    def _registered(self) -> set[str]:
        try:
            resp = self.api_get("/apis/networking.istio.io/v1/namespaces/default/workloadentries")
        except httpx.HTTPError:
            return set()
        if resp.status_code != 200:
            return set()
        return {item["metadata"]["name"] for item in resp.json().get("items", [])}

    def _synced(self) -> set[str] | None:
        """Ids of connected proxies with every sent type ACKed; None when the API has no proxy list."""
        try:
            resp = self.api_get("/api/mizzen/v1/proxies")
        except httpx.HTTPError:
            return set()
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            return set()
        return {p["id"] for p in resp.json().get("items", []) if plan.proxy_synced(p)}

    def _page_version(self) -> str | None:
        try:
            resp = self.http.get(self.ports.product_page_url, timeout=10.0)
        except httpx.HTTPError:
            return None
        if resp.status_code != 200 or "<title>Simple Bookstore App</title>" not in resp.text:
            return None
        return plan.reviews_version(resp.text)

    def summary(self) -> None:
        """Where to look and what to try next."""
        self.say("")
        self.say(f"Bookinfo is up. Product page: {self.ports.product_page_url}")
        if self._dashboard_exists():
            self.say(f"Dashboard: {self._sign_in_url()}  (or: mizzen dashboard)")
        self.say(f"Bookinfo's networking YAML: {plan.setup_files()[1].parent}")
        if self.home != _resolve_home(None):
            self.say(f"In another terminal, first: export MIZZEN_HOME={self.home}")
        self.say(plan.next_steps())

    def _sign_in_url(self) -> str:
        """A single-use dashboard sign-in link (a code, never the token, in the URL)."""
        api = self.ports.api_url
        resp = self.http.post(api + LINKS_PATH, headers={"Authorization": f"Bearer {self.token()}"})
        return sign_in_url(api, resp.json()) if resp.status_code == 200 else self.ports.dashboard_url

    def _dashboard_exists(self) -> bool:
        try:
            resp = self.http.get(self.ports.dashboard_url)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and "html" in resp.headers.get("content-type", "")

    def stop(self) -> None:
        """Stop every process this run started (control plane last) and forget the state file."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abandon half-stopped children
        popens = {item.record.pid: item.popen for item in self.launched}
        stop_all([item.record for item in self.launched], popens, report=lambda s: self.say(f"  {s}"))
        path = DemoState.path(self.home)
        current = DemoState.load(self.home)
        if current is not None and current.demo_pid == os.getpid():
            path.unlink(missing_ok=True)
        self.http.close()


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def _run(home: Path, detach: bool, timeout: float, ports: plan.DemoPorts) -> int:
    demo = Demo(home, timeout, ports)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        demo.preflight()
        demo.say(f"Mizzen home: {home}")
        demo.start_controlplane()
        demo.apply()
        demo.start_mesh()
        demo.wait_ready()
        demo.summary()
        if detach:
            demo.state.mode = "detached"
            demo.state.save(home)
            demo.say(
                f"\nRunning in the background (PIDs in {DemoState.path(home)}). "
                f"Stop with: mizzen demo --down{demo.home_flag()}"
            )
            demo.http.close()
            return 0
        demo.say("\nPress Ctrl-C to stop the demo.")
        while True:
            time.sleep(1.0)
            demo.check_children("running")
    except _Interrupted:
        demo.say("\nstopping the demo ...")
        demo.stop()
        return 0
    except DemoError as exc:
        click.echo(f"error: {exc}", err=True)
        if demo.launched:
            demo.say("stopping what the demo started ...")
        demo.stop()
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _down(home: Path) -> int:
    state = DemoState.load(home)
    if state is None:
        click.echo(f"no demo is running (no {DemoState.path(home)})")
        return 0
    if state.demo_alive():
        click.echo(f"asking the foreground demo (pid {state.demo_pid}) to stop ...")
        os.kill(state.demo_pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while state.demo_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
    leftovers: list[ProcessRecord] = state.live()
    stop_all(leftovers, report=lambda s: click.echo(f"  {s}"))
    DemoState.path(home).unlink(missing_ok=True)
    kept = " (the control plane it reused keeps running)" if state.reused_controlplane else ""
    click.echo(f"demo stopped{kept}")
    return 0


def _port_option(flag: str, default: int, what: str) -> Callable[[FC], FC]:
    return click.option(
        flag,
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help=f"Port on 127.0.0.1 for {what} (0: a free one).",
    )


def resolve_ports(api: int, xds: int, gateway: int, gateway_https: int) -> plan.DemoPorts:
    """The demo's ports: each 0 becomes a free port; two equal ports are refused."""
    wanted = [api, xds, gateway, gateway_https]
    picked = iter(free_ports(wanted.count(0)))
    ports = plan.DemoPorts(*(n or next(picked) for n in wanted))
    numbers = [p for p, _, _ in ports.owners()]
    if len(set(numbers)) != len(numbers):
        raise click.BadParameter(
            "--port, --xds-port, --gateway-port and --gateway-https-port must all differ, got "
            + ", ".join(f"{opt} {p}" for p, _, opt in ports.owners())
        )
    return ports


@click.command("demo")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="Mizzen home for this demo [default: $MIZZEN_HOME, else ~/.mizzen].",
)
@click.option("--detach", is_flag=True, help="Leave the demo running in the background (stop with --down).")
@click.option("--down", is_flag=True, help="Stop a demo started with --detach (or running in another terminal).")
@click.option(
    "--timeout",
    type=float,
    default=180.0,
    show_default=True,
    help="Seconds to wait for Bookinfo to answer through the gateway.",
)
@_port_option("--port", plan.API_PORT, "the control plane's HTTP API and the dashboard")
@_port_option("--xds-port", plan.XDS_PORT, "the control plane's xDS server")
@_port_option("--gateway-port", plan.GATEWAY_PORT, "the ingress gateway's HTTP port (the product page)")
@_port_option("--gateway-https-port", plan.GATEWAY_HTTPS_PORT, "the ingress gateway's HTTPS port (Gateways on 443)")
def demo_command(
    home: Path | None,
    detach: bool,
    down: bool,
    timeout: float,
    port: int,
    xds_port: int,
    gateway_port: int,
    gateway_https_port: int,
) -> None:
    """Run the Bookinfo demo: control plane, ingress gateway on 127.0.0.1:8080 and six workloads.

    \b
    Foreground by default (Ctrl-C stops everything it started). Beside another mesh, move its ports:
      mizzen demo --port 0 --xds-port 0 --gateway-port 18080 --gateway-https-port 0
    Then, for example:
      mizzen apply -f <networking>/virtual-service-reviews-test-v2.yaml
    """
    resolved = _resolve_home(home)
    if down:
        sys.exit(_down(resolved))
    sys.exit(_run(resolved, detach, timeout, resolve_ports(port, xds_port, gateway_port, gateway_https_port)))


__all__ = ["demo_command"]
