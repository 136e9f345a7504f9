"""`mizzen demo` in the foreground: a second run is refused, and Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mizzen.agent.ports import free_ports
from mizzen.samples.bookinfo.launcher import DemoState, port_in_use

pytestmark = pytest.mark.e2e


def _mizzen(*args: str) -> list[str]:
    return [sys.executable, "-m", "mizzen.cli.main", *args]


def test_foreground_demo_refuses_a_second_run_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The foreground demo on free ports serves Bookinfo; a second `mizzen demo` says one is running and
    where; SIGINT stops all and frees every port."""
    env = {**os.environ, "MIZZEN_HOME": str(tmp_path)}
    env.pop("MIZZEN_TOKEN", None)
    env.pop("MIZZEN_ADDRESS", None)
    ports = free_ports(4)
    flags = [
        f"--{name}={port}"
        for name, port in zip(("port", "xds-port", "gateway-port", "gateway-https-port"), ports, strict=True)
    ]
    log = tmp_path / "demo-output.txt"
    with open(log, "wb") as out:
        demo = subprocess.Popen(
            _mizzen("demo", "--timeout", "240", *flags), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 300
        while "Press Ctrl-C" not in log.read_text():
            assert demo.poll() is None, f"demo exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"demo not up in time:\n{log.read_text()}"
            time.sleep(0.5)
        page = httpx.get(f"http://127.0.0.1:{ports[2]}/productpage", timeout=30, trust_env=False)
        assert "<title>Simple Bookstore App</title>" in page.text
        state = DemoState.load(tmp_path)
        assert state is not None and state.mode == "foreground" and len(state.processes) == 8
        second = subprocess.run(_mizzen("demo"), env=env, capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 1 and "already running" in second.stderr
        assert f"http://127.0.0.1:{ports[2]}/productpage" in second.stderr
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=120) == 0
    finally:
        if demo.poll() is None:  # the test failed before Ctrl-C: stop it the supported way
            subprocess.run(_mizzen("demo", "--down"), env=env, timeout=180, check=False)
            demo.wait(timeout=30)
    assert not DemoState.path(tmp_path).exists()
    assert not any(r.alive() for r in state.processes)
    assert not any(port_in_use(p) for p in ports)
