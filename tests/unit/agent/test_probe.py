"""Readiness probes as a WorkloadGroup describes them: parsing, the port mapping, and one real check of each kind."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from mizzen.agent import probe
from mizzen.agent.errors import AgentError
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.spec import PortSpec
from mizzen.agent.template import probe_of, template_from_manifests
from mizzen.testing.echo import serve
from mizzen.testing.ports import free_port

GROUP = """
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: ratings, namespace: default}
spec:
  metadata: {labels: {app: ratings, version: v1}}
  template: {serviceAccount: bookinfo-ratings, ports: {http: 9080}}
  probe:
    periodSeconds: 3
    timeoutSeconds: 2
    failureThreshold: 2
    initialDelaySeconds: 1
    httpGet: {path: /ready, port: 9080, httpHeaders: [{name: x-probe, value: "1"}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}, {name: grpc, port: 9090}]
"""


def test_a_workload_group_gives_labels_account_ports_and_probe() -> None:
    """`--from` a WorkloadGroup: its labels, service account, its declared ports of the Services, its probe."""
    template = template_from_manifests([GROUP], "ratings-vm1")
    assert dict(template.labels) == {"app": "ratings", "version": "v1"}
    assert template.service_account == "bookinfo-ratings"
    assert template.ports == (PortSpec("http", 9080),)
    assert template.probe == ProbePolicy(
        period_s=3.0,
        timeout_s=2.0,
        failure_threshold=2,
        initial_delay_s=1.0,
        http_path="/ready",
        port=9080,
        headers=(("x-probe", "1"),),
    )


def test_probe_shapes_and_unsupported_ones() -> None:
    """tcpSocket and exec parse; grpc and an HTTPS httpGet are refused rather than probed wrongly."""
    assert probe_of({"tcpSocket": {"port": 5000}}) == ProbePolicy(port=5000)
    assert probe_of({"exec": {"command": ["true"]}}) == ProbePolicy(exec_command=("true",))
    with pytest.raises(AgentError, match="grpc is not supported"):
        probe_of({"grpc": {"port": 5000}})
    with pytest.raises(AgentError, match="HTTPS is not supported"):
        probe_of({"httpGet": {"port": 1, "scheme": "HTTPS"}})


def test_a_service_port_number_means_the_apps_port_for_it() -> None:
    """A probe on 9080 checks the port the agent gave the app for its 9080 port; another number is used as is."""
    ports, app = (PortSpec("http", 9080),), {"http": 23456}
    assert probe.probe_port(ProbePolicy(port=9080), ports, app) == 23456
    assert probe.probe_port(ProbePolicy(port=7000), ports, app) == 7000
    assert probe.probe_port(ProbePolicy(), ports, app) == 23456


async def _check(policy: ProbePolicy, port: int | None, ready_path: str | None = None) -> bool:
    return await probe.check(policy, ready_path, port)


def test_real_checks_of_each_kind() -> None:
    """httpGet passes on 2xx and fails on 503 or a closed port; tcpSocket connects; exec follows the exit code."""
    port = free_port()
    server = serve(port)
    server.unready_file = None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert asyncio.run(_check(ProbePolicy(http_path="/health"), port))
        assert not asyncio.run(_check(ProbePolicy(http_path="/?status=503"), port))
        assert asyncio.run(_check(ProbePolicy(), port))
    finally:
        server.shutdown()
        server.server_close()
    assert not asyncio.run(_check(ProbePolicy(), port))
    assert asyncio.run(_check(ProbePolicy(exec_command=(sys.executable, "-c", "pass")), None))
    assert not asyncio.run(_check(ProbePolicy(exec_command=(sys.executable, "-c", "raise SystemExit(1)")), None))
    slow = ProbePolicy(timeout_s=0.2, exec_command=(sys.executable, "-c", "import time; time.sleep(5)"))
    assert not asyncio.run(_check(slow, None))
