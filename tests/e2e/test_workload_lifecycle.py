"""Endpoints never outlive their process: registration, clean stop, and an agent that vanishes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from mizzen.testing.controlplane import RunningControlPlane, controlplane
from mizzen.testing.mesh import Mesh

pytestmark = pytest.mark.e2e

SERVICE = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
"""
WE = "/apis/networking.istio.io/v1/namespaces/default/workloadentries/"


@pytest.fixture
def cp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningControlPlane]:
    monkeypatch.setenv("MIZZEN_WORKLOAD_GRACE_SECONDS", "2")
    with controlplane(tmp_path_factory.mktemp("lifecycle")) as c:
        yield c


def _cli(cp: RunningControlPlane, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", *args],
        env={**os.environ, **cp.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_stop_deregisters_and_endpoint_disappears(cp: RunningControlPlane) -> None:
    """A workload stopped with SIGTERM removes its WorkloadEntry; clients stop reaching it."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        client = mesh.run("client", {"app": "client"})
        a = mesh.run("echo-a", {"app": "echo", "version": "a"})
        mesh.run("echo-b", {"app": "echo", "version": "b"})
        mesh.wait_synced()
        assert mesh.http.get(WE + "echo-a").status_code == 200
        wide = _cli(cp, "get", "workloads", "-o", "wide")
        row = next(line for line in wide.splitlines() if line.startswith("echo-a "))
        assert (
            "CONNECTED" in row and a.http_proxy in row and "app=echo,security.istio.io/tlsMode=istio,version=a" in row
        ), wide
        items = json.loads(_cli(cp, "get", "workloads", "-o", "json"))["items"]
        item = next(i for i in items if i["workloadEntry"]["metadata"]["name"] == "echo-a")
        assert item["proxy"]["httpProxy"] == a.http_proxy and item["proxy"]["connected"]
        # A person (or a tool) can send a request through that sidecar with `curl -x`:
        assert httpx.get("http://echo:9080/", proxy=a.http_proxy, trust_env=False).status_code == 200

        # ... and the README's `mizzen pc stats <proxy> | grep ...` shows Envoy's counters for it.
        def sent() -> int:
            out = _cli(cp, "pc", "stats", "client", "--filter", "echo.default.svc.cluster.local.upstream_rq_total")
            line = next(x for x in out.splitlines() if "outbound|9080||echo.default.svc.cluster.local" in x)
            return int(line.rsplit(":", 1)[1])

        before = sent()
        assert client.get("http://echo:9080/").status_code == 200
        assert sent() == before + 1
        assert "upstream_rq_total" in _cli(cp, "pc", "envoy-stats", "client", "--filter", "upstream_rq_total")
        a.stop()
        _wait(lambda: mesh.http.get(WE + "echo-a").status_code == 404)
        mesh.wait_synced()
        assert {client.get("http://echo:9080/").json()["version"] for _ in range(10)} == {"b"}


def test_a_vanished_agent_is_removed_after_the_grace_period(cp: RunningControlPlane) -> None:
    """SIGKILL of the whole workload (agent, app, Envoy) cannot deregister; the control plane drops it."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        w = mesh.run("echo-gone", {"app": "echo", "version": "a"})
        mesh.wait_synced()
        state = w.state()
        # The agent first (under MIZZEN_HOST_AGENT, the host agent; else the `mizzen run` itself), so that
        # nobody is left to deregister; then `mizzen run` (the relay, under the host agent), Envoy, the app.
        for pid in (state.get("agentPid", state["pid"]), state["pid"], state["envoyPid"], state["appPid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        w.process.wait(10)
        assert mesh.http.get(WE + "echo-gone").status_code == 200  # nobody deregistered it
        _wait(lambda: mesh.http.get(WE + "echo-gone").status_code == 404, timeout=30)
        assert all(p["id"] != "echo-gone.default" for p in mesh.proxies()["items"])
