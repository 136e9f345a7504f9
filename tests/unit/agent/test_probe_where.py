"""An exec probe runs as Kubernetes runs one in the container: in the app's folder with the app's
environment, so the agent's own MIZZEN_* settings (a token among them) never reach the command."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mizzen.agent import probe
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.runner import ControlPlane, WorkloadRunner
from mizzen.agent.spec import Allocation, PortSpec, WorkloadSpec


def test_an_exec_probe_gets_the_apps_environment_and_folder_not_the_agents(tmp_path: Path) -> None:
    spec = WorkloadSpec(name="w", ports=(PortSpec("http", 9080),), env={"GREETING": "hi"})
    cp = ControlPlane(api_url="http://127.0.0.1:1", xds_address=("127.0.0.1", 2), token="t")
    environ = {"PATH": "/usr/bin:/bin", "MIZZEN_TOKEN": "mzt.secret", "MIZZEN_HOME": str(tmp_path)}
    runner = WorkloadRunner(spec, home=tmp_path, envoy=Path("envoy"), control_plane=cp, environ=environ, cwd="/")
    runner.alloc = Allocation(app={"http": 23456})
    where = runner.probe_where()
    assert where.cwd == "/" and where.env is not None
    assert where.env["PORT"] == "23456" and where.env["GREETING"] == "hi" and where.env["PATH"] == "/usr/bin:/bin"
    assert "MIZZEN_TOKEN" not in where.env and "MIZZEN_HOME" not in where.env
    code = "import os, sys; sys.exit(0 if 'MIZZEN_TOKEN' not in os.environ and os.getcwd() == '/' else 1)"
    policy = ProbePolicy(timeout_s=10, exec_command=(sys.executable, "-c", code))
    assert asyncio.run(probe.check(policy, None, None, where=where))
