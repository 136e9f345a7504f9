"""The host agent (``MIZZEN_HOST_AGENT=1``): several ``mizzen run`` workloads in one agent process, real
Envoys and a real control plane. Each ``mizzen run`` stays in the foreground as a bare relay (same pid,
Ctrl-C, exit code); the apps and Envoys are children of the host agent."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mizzen.agent import hostwire
from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: client}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
"""
WE = "/apis/networking.istio.io/v1/namespaces/default/workloadentries/"
IDLE_S = 1.0


def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout:.0f}s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to local port ``port`` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):  # gRPC dials 127.0.0.1 on a dual-stack socket: it shows in tcp6
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            count += remote_port == port and state == "01" and inode in inodes
    return count


def host_agent_pid(home: Path) -> int | None:
    """The pid in the host agent's lock file, if that process is alive."""
    try:
        pid = int((hostwire.socket_path(home).parent / "agent.lock").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


@pytest.fixture
def mesh(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mesh]:
    monkeypatch.setenv("MIZZEN_HOST_AGENT", "1")
    monkeypatch.setenv("MIZZEN_HOST_AGENT_IDLE_SECONDS", str(IDLE_S))
    monkeypatch.setenv("MIZZEN_WORKLOAD_GRACE_SECONDS", "2")
    home = tmp_path_factory.mktemp("host-agent")
    with controlplane(home) as cp:
        try:
            with Mesh(cp) as m:
                m.apply(SERVICES)
                yield m
            # Every workload stopped: the host agent leaves by itself after its idle time.
            until(lambda: host_agent_pid(home) is None, "the host agent exits after its last workload", 15)
        finally:
            pid = host_agent_pid(home)
            if pid is not None:  # never leave it behind, even when the test failed
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _pair(mesh: Mesh) -> tuple[Workload, Workload]:
    client = mesh.run("client", {"app": "client"}, wait=False)
    echo = mesh.run("echo-v1", {"app": "echo", "version": "v1"}, wait=False)
    mesh.wait_running(client, echo)
    mesh.wait_synced(30)
    return client, echo


def test_two_workloads_share_one_host_agent_and_route(mesh: Mesh) -> None:
    """Both workloads run in one host agent, which is the parent of both Envoys and both apps and holds one
    gRPC connection to the control plane for both; each `mizzen run` is a bare relay with its own pid in
    the state file; traffic flows through the sidecars."""
    client, echo = _pair(mesh)
    agent = host_agent_pid(mesh.cp.home)
    assert agent is not None
    assert "mizzen.agent.host" in cmdline(agent)
    for w in (client, echo):
        state = w.state()
        assert state["pid"] == w.process.pid and state["agentPid"] == agent
        assert parent_of(state["envoyPid"]) == agent and parent_of(state["appPid"]) == agent
        relay = cmdline(w.process.pid)
        assert relay[1:4] == ["-I", "-S", "-c"], relay  # the bare relay, not an agent
    assert connections_to(agent, mesh.cp.xds_port) == 1  # one shared gRPC connection for both workloads
    body = client.get("http://echo:9080/hello").json()
    assert (body["workload"], body["version"]) == ("echo-v1", "v1")
    assert "is up as spiffe://" in client.log()  # the summary reached the relay's stdout


def test_sigterm_to_one_mizzen_run_stops_only_its_workload(mesh: Mesh) -> None:
    """SIGTERM to the echo's `mizzen run`: its entry is deregistered, its Envoy and app are stopped, the
    relay exits 0 as a per-workload agent does; the client keeps running in the same host agent."""
    client, echo = _pair(mesh)
    envoy, app = echo.state()["envoyPid"], echo.state()["appPid"]
    assert mesh.http.get(WE + "echo-v1").status_code == 200
    echo.process.send_signal(signal.SIGTERM)
    assert echo.process.wait(30) == 0, echo.log()
    assert mesh.http.get(WE + "echo-v1").status_code == 404
    until(lambda: not alive(envoy) and not alive(app), "echo's Envoy and app stopped")
    assert not echo.state_file.exists()
    assert client.process.poll() is None
    assert client.get("http://echo:9080/").status_code == 503  # no endpoint left, through a live sidecar


def test_a_killed_mizzen_run_stops_its_workload(mesh: Mesh) -> None:
    """`kill -9` of a relay closes its connection: the host agent stops that workload in order."""
    _client, echo = _pair(mesh)
    envoy = echo.state()["envoyPid"]
    echo.process.kill()
    echo.process.wait(10)
    until(lambda: mesh.http.get(WE + "echo-v1").status_code == 404, "echo's entry deregistered")
    until(lambda: not alive(envoy), "echo's Envoy stopped")


def test_a_killed_host_agent_takes_its_workloads_down(mesh: Mesh) -> None:
    """`kill -9` of the host agent: every relay exits non-zero and says why; the Envoys and apps die with it."""
    client, echo = _pair(mesh)
    children = [w.state()[k] for w in (client, echo) for k in ("envoyPid", "appPid")]
    agent = host_agent_pid(mesh.cp.home)
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    for w in (client, echo):
        assert w.process.wait(15) == 1
        assert "the host agent went away" in w.log()
    until(lambda: not any(alive(pid) for pid in children), "every Envoy and app gone with the host agent")


def test_a_second_workload_of_the_same_name_is_refused(mesh: Mesh) -> None:
    """The per-workload agent's rule holds in the host agent: a live workload's name cannot be reused."""
    client, _echo = _pair(mesh)
    again = mesh.run("client", {"app": "client"}, wait=False)
    assert again.process.wait(30) == 1
    assert "is already running here" in again.log()
    assert client.process.poll() is None and client.get("http://echo:9080/").status_code == 200


def test_the_app_runs_in_the_folder_of_its_mizzen_run(
    mesh: Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative command resolves in the folder `mizzen run` was started in, not the host agent's."""
    _pair(mesh)  # the host agent runs, started from this test's folder
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "local_app.py").write_text("import runpy\nrunpy.run_module('mizzen.testing.echo', run_name='__main__')\n")
    monkeypatch.chdir(folder)
    here = mesh.run(
        "echo-v2", {"app": "echo", "version": "v2"}, command=[sys.executable, "local_app.py", "--port", "{port}"]
    )
    assert Path(f"/proc/{here.state()['appPid']}/cwd").resolve() == folder.resolve()


def test_a_gateway_runs_in_the_same_host_agent(mesh: Mesh) -> None:
    """`mizzen gateway` attaches like `mizzen run`: one host agent for the workload and the gateway."""
    client, _echo = _pair(mesh)
    gateway = mesh.run_gateway()
    assert gateway.state()["agentPid"] == client.state()["agentPid"] == host_agent_pid(mesh.cp.home)
    assert cmdline(gateway.process.pid)[1:4] == ["-I", "-S", "-c"]
