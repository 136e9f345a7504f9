"""The agent channel against a real control plane over real gRPC: the agent hears ``ready`` on each new stream,
the first time and again after the control plane was killed and restarted, so the runner re-checks its
WorkloadEntry the moment it can be reached again (an entry reaped during a long outage comes back with the
stream, not at the next periodic check)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from mizzen.agent.channel import AdminChannel
from mizzen.agent.upstream import Upstream
from mizzen.testing.controlplane import RunningControlPlane, restart, start_controlplane


def mint_workload(cp: RunningControlPlane) -> str:
    body = {"type": "workload", "name": "a", "namespace": "default", "serviceAccount": "sa-a"}
    resp = httpx.post(f"{cp.address}/api/mizzen/v1/tokens", json=body, headers=cp.headers(), timeout=10)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def test_ready_is_heard_on_each_new_stream_and_again_after_a_restart(tmp_path: Path) -> None:
    cp = start_controlplane(tmp_path / "home")
    try:
        token = mint_workload(cp)
        heard: list[float] = []

        async def scenario() -> tuple[int, int, float]:
            nonlocal cp
            upstream = Upstream([("127.0.0.1", cp.xds_port)], None)
            channel = AdminChannel(
                upstream,
                lambda: token,
                "a.default",
                tmp_path / "no-admin.sock",
                on_ready=lambda: heard.append(time.monotonic()),
            )
            task = asyncio.create_task(channel.run())
            try:
                await wait_for(lambda: len(heard) == 1, "no ready frame on the first stream")
                first = len(heard)
                await asyncio.sleep(0.5)
                assert len(heard) == first, "ready heard more than once on one stream"
                cp.kill()
                cp = await asyncio.to_thread(restart, cp, same_ports=True)
                started = time.monotonic()
                await wait_for(lambda: len(heard) == 2, "no ready frame on the stream after the restart")
                return first, len(heard), heard[-1] - started
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await upstream.close()

        first, total, after = asyncio.run(scenario())
        print(f"agent channel: ready heard {after:.2f}s after the restarted control plane was ready")
        assert (first, total) == (1, 2)
    finally:
        cp.kill()
