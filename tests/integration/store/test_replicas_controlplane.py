"""Two control-plane processes on one PostgreSQL: both listed with the leader, the leadership moves when the
leader is killed, and a database outage makes a replica unready with writes refused as 503 until it is back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen.testing.controlplane import RunningControlPlane, start_controlplane
from mizzen.testing.postgres import Cluster, PostgresUnavailable, start_cluster

SA = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "default"}}


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own (it is stopped and started again)."""
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required with CI=true: {exc}")
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


def replicas(cp: RunningControlPlane) -> dict[str, Any]:
    resp = httpx.get(cp.address + "/api/mizzen/v1/replicas", headers=cp.headers(), timeout=5)
    resp.raise_for_status()
    return dict(resp.json())


def wait(check: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        assert time.monotonic() - start < timeout, "not reached in time"
        time.sleep(0.05)


def test_replicas_leader_takeover_and_store_outage(own_cluster: Cluster, tmp_path: Path) -> None:
    """B lists A and itself with A leading; kill -9 A and B leads within ~2 s; with the database stopped B is
    unready and answers writes 503; with it back B is ready and writes succeed."""
    store = ("--store", own_cluster.url(own_cluster.create_database()))
    store += ("--store-password-file", str(own_cluster.password_file))
    a = start_controlplane(tmp_path / "a", extra_args=store)
    try:
        wait(lambda: bool(replicas(a)["isLeader"]), 10)
        b = start_controlplane(tmp_path / "b", extra_args=store)
        try:
            wait(lambda: len(replicas(b)["replicas"]) == 2, 10)
            seen = replicas(b)
            assert seen["leader"] == replicas(a)["replica"] and not seen["isLeader"]
            assert all(r["alive"] for r in seen["replicas"]) and seen["store"]["reachable"]
            cli = subprocess.run(
                [sys.executable, "-m", "mizzen.cli.main", "status"],
                env={
                    **os.environ,
                    "MIZZEN_HOME": str(tmp_path / "cli"),
                    "MIZZEN_TOKEN": b.token,
                    "MIZZEN_ADDRESS": f"http://127.0.0.1:1,{b.address}",  # the first does not answer
                },
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert cli.returncode == 0, cli.stderr
            assert f"leader: {seen['leader']}" in cli.stdout and cli.stdout.count(": alive,") == 2, cli.stdout

            a.kill()
            took = wait(lambda: bool(replicas(b)["isLeader"]), 10)
            print(f"leadership moved {took:.2f}s after kill -9 of the leader")
            # Lock lost with the killed session, then one 0.5 s beat; 5 s leaves room for a loaded machine
            # (3.03 s seen in a full run) — the proxies' failover bound of the issue is asserted in the e2e.
            assert took < 5.0

            own_cluster.stop()
            try:
                wait(lambda: httpx.get(b.address + "/readyz", timeout=5).status_code == 503, 10)
                assert "store is unreachable" in httpx.get(b.address + "/readyz", timeout=5).text
                refused = httpx.post(
                    b.address + "/api/mizzen/v1/apply", json={"documents": [SA]}, headers=b.headers(), timeout=15
                )
                assert refused.status_code == 503 and "nothing was changed" in refused.json()["message"]
                assert not replicas(b)["isLeader"] and not replicas(b)["store"]["reachable"]
            finally:
                own_cluster.start()
            wait(lambda: httpx.get(b.address + "/readyz", timeout=5).status_code == 200, 20)
            done = httpx.post(
                b.address + "/api/mizzen/v1/apply", json={"documents": [SA]}, headers=b.headers(), timeout=15
            )
            assert done.status_code == 200, done.text
            wait(lambda: bool(replicas(b)["isLeader"]), 10)
        finally:
            b.stop()
    finally:
        a.stop()
