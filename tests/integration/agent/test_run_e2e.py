"""`mizzen run` / `mizzen gateway` end to end: real agent process, real Envoy, real control plane."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen.testing.controlplane import RunningControlPlane, start_controlplane

pytestmark = pytest.mark.e2e

WE_PATH = "/apis/networking.istio.io/v1/namespaces/{}/workloadentries/{}"
# The app records the environment it was given, then serves the echo backend on $PORT.
APP = (
    "import json, os, sys; "
    "json.dump({k: os.environ.get(k) for k in ('PORT', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', "
    "'MIZZEN_WORKLOAD', 'MIZZEN_NAMESPACE', 'MIZZEN_TOKEN', 'MIZZEN_HOME', 'GREETING')}, open(sys.argv[1], 'w')); "
    "from mizzen.testing.echo import main; main(['--port', sys.argv[2]])"
)


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_controlplane(tmp_path_factory.mktemp("home"))
    try:
        yield plane
    finally:
        plane.stop()


class Agent:
    """A `python -m mizzen.agent ...` process and the files it writes."""

    def __init__(self, cp: RunningControlPlane, args: list[str], state_name: str) -> None:
        self.cp = cp
        self.state_file = cp.home / "workloads" / f"{state_name}.json"
        self.output = cp.home / f"{state_name}.agent.out"
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mizzen.agent", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **cp.env()},
            )
        self.pids: set[int] = set()

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())  # type: ignore[no-any-return]

    def wait_running(self, timeout: float = 60) -> dict[str, Any]:
        state = wait_for(lambda: self._running_state(), timeout, lambda: self.log())
        self.pids.update(p for p in (state["appPid"], state["envoyPid"]) if p)
        return state

    def _running_state(self) -> dict[str, Any] | None:
        assert self.proc.poll() is None, f"agent exited with {self.proc.returncode}:\n{self.log()}"
        try:
            state = self.state()
        except (OSError, ValueError):
            return None
        return state if state["status"] == "running" and state["envoyPid"] else None

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        """Kill whatever is left by pid (only reached when a test failed half-way)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def agents(cp: RunningControlPlane) -> Iterator[Callable[[list[str], str], Agent]]:
    started: list[Agent] = []

    def start(args: list[str], state_name: str) -> Agent:
        started.append(Agent(cp, args, state_name))
        return started[-1]

    yield start
    for agent in started:
        agent.cleanup()


def wait_for(check: Callable[[], Any], timeout: float, explain: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s\n{explain()}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def get_entry(cp: RunningControlPlane, name: str, namespace: str = "default") -> httpx.Response:
    return httpx.get(cp.address + WE_PATH.format(namespace, name), headers=cp.headers(), timeout=5)


def run_args(name: str, env_file: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--name",
        name,
        "--labels",
        "app=echo,version=v1",
        "--service-account",
        "echo-sa",
        "--port",
        "http=9080",
        "--ready-path",
        "/health",
        "--env",
        "GREETING=hi",
        *extra,
        "--",
        sys.executable,
        "-c",
        APP,
        str(env_file),
        "{port}",
    ]


def test_run_registers_supervises_and_deregisters(
    cp: RunningControlPlane, agents: Callable[..., Agent], tmp_path: Path
) -> None:
    """The app gets $PORT and HTTP_PROXY, the WorkloadEntry points at the sidecar (and comes back when
    deleted), Envoy's admin answers, a killed Envoy is restarted, and SIGINT stops both and deregisters."""
    env_file = tmp_path / "env.json"
    agent = agents(run_args("echo-v1", env_file), "default.echo-v1")
    state = agent.wait_running()
    ports = state["ports"]

    env = json.loads(env_file.read_text())
    assert env["PORT"] == str(ports["app"]["http"])
    assert env["HTTP_PROXY"] == env["http_proxy"] == f"http://127.0.0.1:{ports['httpProxy']}"
    assert env["NO_PROXY"] == "localhost,127.0.0.1"
    assert (env["MIZZEN_WORKLOAD"], env["MIZZEN_NAMESPACE"], env["GREETING"]) == ("echo-v1", "default", "hi")
    assert env["MIZZEN_TOKEN"] is None and env["MIZZEN_HOME"] is None

    entry = get_entry(cp, "echo-v1").json()
    assert entry["spec"] == {
        "address": "127.0.0.1",
        "ports": {"http": ports["inbound"]["http"]},
        "labels": {"app": "echo", "version": "v1", "security.istio.io/tlsMode": "istio"},
        "serviceAccount": "echo-sa",
    }
    assert entry["metadata"]["annotations"]["mizzen.io/registered-by"] == "agent"
    assert entry["metadata"]["annotations"]["mizzen.io/identity"] == "spiffe://cluster.local/ns/default/sa/echo-sa"

    app = httpx.get(f"http://127.0.0.1:{ports['app']['http']}/hello", timeout=5).json()
    assert (app["workload"], app["version"]) == ("echo-v1", "v1")

    admin = state["adminSocket"]
    assert os.stat(admin).st_mode & 0o777 == 0o600
    info = _admin_get(admin, "/server_info").json()
    assert info["node"]["id"] == "sidecar~127.0.0.1~echo-v1.default~default.svc.cluster.local"
    assert info["node"]["metadata"]["MIZZEN_HTTP_PROXY_PORT"] == ports["httpProxy"]
    assert _admin_get(admin, "/ready").text.strip() in {"LIVE", "PRE_INITIALIZING", "INITIALIZING"}

    httpx.delete(cp.address + WE_PATH.format("default", "echo-v1"), headers=cp.headers(), timeout=5)
    wait_for(lambda: get_entry(cp, "echo-v1").status_code == 200, 30, agent.log)  # re-registered

    first_envoy = state["envoyPid"]
    os.kill(first_envoy, signal.SIGKILL)
    restarted = wait_for(lambda: (s := agent.state())["envoyPid"] not in (None, first_envoy) and s, 30, agent.log)
    agent.pids.add(restarted["envoyPid"])
    wait_for(lambda: _answers(admin, "/server_info"), 30, agent.log)

    assert agent.stop(signal.SIGINT) == 0, agent.log()
    assert not alive(state["appPid"]) and not alive(restarted["envoyPid"])
    assert get_entry(cp, "echo-v1").status_code == 404
    assert not agent.state_file.exists()
    assert not (cp.home / "workloads" / "default.echo-v1.envoy.json").exists()


def test_app_exit_stops_envoy_and_deregisters(
    cp: RunningControlPlane, agents: Callable[..., Agent], tmp_path: Path
) -> None:
    """When the app dies the agent deregisters, stops Envoy and exits with 128+signal."""
    agent = agents(run_args("echo-crash", tmp_path / "env.json"), "default.echo-crash")
    state = agent.wait_running()
    assert get_entry(cp, "echo-crash").status_code == 200
    os.kill(state["appPid"], signal.SIGKILL)
    assert agent.proc.wait(30) == 137, agent.log()
    assert not alive(state["envoyPid"])
    assert get_entry(cp, "echo-crash").status_code == 404


def test_second_agent_with_same_name_is_refused(
    cp: RunningControlPlane, agents: Callable[..., Agent], tmp_path: Path
) -> None:
    """Running the same workload twice on one host fails clearly instead of colliding; SIGTERM stops."""
    first = agents(run_args("echo-dup", tmp_path / "a.json"), "default.echo-dup")
    first.wait_running()
    second = agents(run_args("echo-dup", tmp_path / "b.json"), "default.echo-dup")
    assert second.proc.wait(60) != 0
    assert "already running" in second.log()
    assert first.stop(signal.SIGTERM) == 0, first.log()


def test_gateway_runs_router_envoy(cp: RunningControlPlane, agents: Callable[..., Agent]) -> None:
    """`mizzen gateway` runs a router-type Envoy with the gateway labels, is an endpoint of its own Service
    (a WorkloadEntry with its labels and no sidecar tlsMode, as Istio's gateway pod) and withdraws it on stop."""
    agent = agents(["gateway"], "istio-system.istio-ingressgateway")
    state = agent.wait_running()
    info = _admin_get(state["adminSocket"], "/server_info").json()
    assert info["node"]["id"].startswith("router~127.0.0.1~istio-ingressgateway.istio-system~")
    assert info["node"]["metadata"]["LABELS"] == {"istio": "ingressgateway"}
    entry = get_entry(cp, "istio-ingressgateway", "istio-system")
    assert entry.status_code == 200, entry.text
    labels = entry.json()["spec"]["labels"]
    assert labels["istio"] == "ingressgateway" and "security.istio.io/tlsMode" not in labels
    assert agent.stop() == 0, agent.log()
    assert not alive(state["envoyPid"])
    assert get_entry(cp, "istio-ingressgateway", "istio-system").status_code == 404


def _admin_get(socket_path: str, path: str) -> httpx.Response:
    """GET from an Envoy admin on its UNIX socket."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket_path), base_url="http://envoy", timeout=5) as c:
        return c.get(path)


def _answers(socket_path: str, path: str) -> bool:
    try:
        return _admin_get(socket_path, path).status_code == 200
    except httpx.HTTPError:
        return False


def test_killed_agent_takes_its_children_along(
    cp: RunningControlPlane, agents: Callable[..., Agent], tmp_path: Path
) -> None:
    """If the agent itself is SIGKILLed, the app and Envoy do not outlive it."""
    agent = agents(run_args("echo-orphan", tmp_path / "env.json"), "default.echo-orphan")
    state = agent.wait_running()
    agent.proc.kill()
    agent.proc.wait(10)
    wait_for(lambda: not alive(state["appPid"]) and not alive(state["envoyPid"]), 15)


def test_requests_through_a_client_sidecar_reach_registered_workloads(
    cp: RunningControlPlane, agents: Callable[..., Agent], tmp_path: Path
) -> None:
    """A Service selecting two `mizzen run` workloads is reachable by name through a third workload's
    HTTP proxy, and both versions answer."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "mesh-echo", "namespace": "default"},
        "spec": {"selector": {"app": "mesh-echo"}, "ports": [{"name": "http", "port": 9080}]},
    }
    resp = httpx.put(
        f"{cp.address}/api/v1/namespaces/default/services/mesh-echo", json=service, headers=cp.headers(), timeout=10
    )
    assert resp.is_success, resp.text
    backends = [
        agents(
            [
                "run",
                "--name",
                f"mesh-echo-{v}",
                "--labels",
                f"app=mesh-echo,version={v}",
                "--port",
                "http=9080",
                "--ready-path",
                "/health",
                "--",
                sys.executable,
                "-m",
                "mizzen.testing.echo",
            ],
            f"default.mesh-echo-{v}",
        )
        for v in ("v1", "v2")
    ]
    client = agents(
        [
            "run",
            "--name",
            "mesh-client",
            "--labels",
            "app=mesh-client",
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(3600)",
        ],
        "default.mesh-client",
    )
    for backend in backends:
        backend.wait_running()
    proxy = f"http://{client.wait_running()['httpProxy']}"

    def versions() -> set[str] | None:
        seen = set()
        with httpx.Client(proxy=proxy, timeout=5) as http:
            for _ in range(12):
                r = http.get("http://mesh-echo:9080/hello")
                if r.status_code != 200:
                    return None
                seen.add(r.json()["version"])
        return seen if seen == {"v1", "v2"} else None

    wait_for(versions, 60, lambda: client.log() + backends[0].log())
    for agent in (client, *backends):
        assert agent.stop() == 0, agent.log()
