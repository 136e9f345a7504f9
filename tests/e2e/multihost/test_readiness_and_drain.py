"""Readiness while running and graceful drain, across hosts: v1 on b, v2 and the client on c."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mizzen.testing.labmesh import LabMesh, LabWorkload, records

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROBE = ("--ready-path", "/ready", "--probe", "period=1s,timeout=1s")
V1 = {"app": "echo", "version": "v1"}
V2 = {"app": "echo", "version": "v2"}


@pytest.fixture(scope="module")
def flag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flags") / "v1-unready"


@pytest.fixture(scope="module")
def placed(lab_mesh: LabMesh, flag: Path) -> dict[str, LabWorkload]:
    hosts = lab_mesh.lab.hosts
    unready = ("--unready-file", str(flag))
    v1 = lab_mesh.run(hosts["b"], "echo-v1", V1, extra=PROBE, app_args=unready, wait=False)
    v2 = lab_mesh.run(hosts["c"], "echo-v2", V2, extra=PROBE, wait=False)
    client = lab_mesh.run(hosts["c"], "client", {"app": "client"}, wait=False)
    lab_mesh.wait_running(v1, v2, client)
    lab_mesh.wait_synced()
    return {"v1": v1, "v2": v2, "client": client}


def _wait(predicate: Any, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)
    return time.time()


def test_an_unready_app_leaves_load_balancing_and_returns(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], flag: Path, tmp_path: Path
) -> None:
    """A failing probe takes v1 (host b) out within one probe period plus the push (< 3 s) with no 5xx, shows it
    UNHEALTHY, and v1 is back within 3 s of passing again."""
    out = tmp_path / "load.jsonl"
    load = lab_mesh.load(placed["client"], "http://echo:9080/", out, rate=40)
    try:
        time.sleep(2.0)
        failed_at = time.time()
        flag.touch()
        _wait(
            lambda: (
                (lab_mesh.endpoints("echo-v1") or {})
                .get("metadata", {})
                .get("annotations", {})
                .get("mizzen.io/healthy")
                == "false"
            ),
            10,
            "v1 marked unhealthy",
        )
        shown = lab_mesh.cli(lab_mesh.lab.hosts["cp"], "get", "workloads").stdout
        time.sleep(2.0)
        flag.unlink()
        ready_at = time.time()
        time.sleep(3.0)
    finally:
        placed["client"].host.stop(load)
    recs = records(out)
    assert recs and all(r["code"] == 200 for r in recs), [r for r in recs if r["code"] != 200][:5]
    last_v1 = max(float(r["t"]) for r in recs if r.get("version") == "v1" and float(r["t"]) < ready_at)
    back_v1 = min(float(r["t"]) for r in recs if r.get("version") == "v1" and float(r["t"]) >= ready_at)
    print(f"readiness: out {last_v1 - failed_at:.2f}s after failing, back {back_v1 - ready_at:.2f}s after ready")
    assert last_v1 - failed_at < 3.0
    assert back_v1 - ready_at < 3.0
    assert any(line.startswith("echo-v1") and "UNHEALTHY" in line for line in shown.splitlines()), shown


def test_a_rolling_restart_under_load_loses_no_request(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """Restarting v1 (host b) then v2 (host c) one at a time, each drained on SIGTERM, under 40 rps: all 200."""
    out = tmp_path / "load.jsonl"
    load = lab_mesh.load(placed["client"], "http://echo:9080/", out, rate=40)
    hosts = lab_mesh.lab.hosts
    try:
        time.sleep(1.0)
        for name, host, labels in (("echo-v1", "b", V1), ("echo-v2", "c", V2)):
            old = placed["v1" if name == "echo-v1" else "v2"]
            started = time.monotonic()
            assert lab_mesh.stop(old) == 0
            stop_s = time.monotonic() - started
            print(f"drain: {name} stopped in {stop_s:.2f}s")
            assert stop_s < 8.0  # at most the 5 s drain, plus stopping
            placed["v1" if name == "echo-v1" else "v2"] = lab_mesh.run(hosts[host], name, labels, extra=PROBE)
            lab_mesh.wait_synced()
            time.sleep(1.0)
    finally:
        placed["client"].host.stop(load)
    recs = records(out)
    bad = [r for r in recs if r["code"] != 200]
    print(f"drain: {len(recs)} requests, {len(bad)} failed")
    assert len(recs) > 100 and not bad, bad[:5]
    assert {r.get("version") for r in recs} == {"v1", "v2"}
