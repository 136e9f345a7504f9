"""Faults across hosts, with figures: the control plane cut off from one host, a host's link down, an agent
killed. Bounds (documented in the README): a control-plane partition shorter than the control plane takes to reap a
silent host (~10 s for gRPC to give up on an unanswered send, plus the 10 s grace) drains nothing; with the
configuration the README recommends for hosts that can vanish (connect timeout 1 s, per-try timeout 2 s, round robin,
retries on another host), a vanished host costs no failed request and no stall beyond a few seconds, and
its proxy has its stream again and serves within 2 s of its link returning (asserted with a margin for a loaded
2-core machine: 3 s), even after its entry was reaped; a killed agent's endpoint is withdrawn within the grace
(10 s) plus 4 s."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from mizzen.testing.labmesh import LabMesh, LabWorkload, records

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PARTITION_S = 15.0  # well inside the ~20 s it takes the control plane to reap a silent host (below)
# Longer than the control plane takes to reap a silent host's entries: ~10 s until gRPC gives up on the unanswered
# scrape request (its keepalive timeout bounds unacknowledged data too), then the 10 s grace and a reaper pass.
LINK_CUT_S = 25.0
# The README's advice for hosts that can vanish: Istio's defaults (10 s connect timeout, no per-try timeout)
# let a request wait on a silent host for as long as it is gone. (Outlier detection would spare the 1 s
# connect attempts, but an ejected host comes back only after its ejection time: v1 then returned > 2 s late.)
# ROUND_ROBIN: under Istio's default LEAST_REQUEST, the power of two choices picks the dead host again whenever
# it has fewer requests in flight (its connects fail in batches), so the previous-hosts predicate's 5 re-picks
# can all land on it: 12 of 202 retries went back to the cut host in one run, and a request whose 4 attempts
# all did so failed in CI (1 of 496); with ROUND_ROBIN 631 of 631 retries (three runs) succeeded at once.
VANISHING_HOSTS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    connectionPool: {tcp: {connectTimeout: 1s}}
    loadBalancer: {simple: ROUND_ROBIN}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - route: [{destination: {host: echo}}]
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "connect-failure,refused-stream,unavailable,cancelled,reset,5xx"}
"""


@pytest.fixture(scope="module")
def placed(lab_mesh: LabMesh) -> dict[str, LabWorkload]:
    hosts = lab_mesh.lab.hosts
    v1 = lab_mesh.run(hosts["b"], "echo-v1", {"app": "echo", "version": "v1"}, wait=False)
    v2 = lab_mesh.run(hosts["c"], "echo-v2", {"app": "echo", "version": "v2"}, wait=False)
    client = lab_mesh.run(hosts["c"], "client", {"app": "client"}, wait=False)
    lab_mesh.wait_running(v1, v2, client)
    lab_mesh.wait_synced()
    return {"v1": v1, "v2": v2, "client": client}


def _reconnect_delay(lab_mesh: LabMesh, proxy_id: str, before: float, up_at: float) -> float:
    """Seconds from ``up_at`` until ``proxy_id`` had a stream again: 0 if its stream from ``before`` survived."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rec = lab_mesh.proxy(proxy_id)
        if rec is not None and rec.get("connected") and rec.get("connectedSince"):
            since = float(rec["connectedSince"])
            return 0.0 if since == before else max(0.0, since - up_at)
        time.sleep(0.1)
    raise AssertionError(f"{proxy_id} did not reconnect within 30 s of the link")


def _failures(lab_mesh: LabMesh, client: LabWorkload, recs: list[dict[str, Any]], down_at: float, up_at: float) -> str:
    """What a failed request was (times from the cut), the client sidecar's non-200 log lines and its retry and
    connect counters for echo: a failure in a loaded CI run must say which path it took."""
    lines = [
        f"t-down {float(r['t']) - down_at:+.2f}s t-up {float(r['t']) - up_at:+.2f}s {r}"
        for r in recs
        if r["code"] != 200
    ]
    access = client.home / "logs" / f"{client.name}.access.log"
    if access.exists():
        lines += [line for line in access.read_text(errors="replace").splitlines() if '" 200 ' not in line][-10:]
    assert lab_mesh.cp_host is not None
    stats = lab_mesh.cli(lab_mesh.cp_host, "pc", "stats", client.proxy_id, check=False)
    keep = ("upstream_rq_retry", "upstream_cx_connect_fail", "upstream_cx_connect_timeout", "upstream_rq_per_try")
    lines += [line for line in (stats.stdout or "").splitlines() if "echo" in line and any(k in line for k in keep)]
    return "\n".join(lines)


def _summary(recs: list[dict[str, Any]]) -> tuple[int, float]:
    failed = sum(1 for r in recs if r["code"] != 200)
    return failed, max((float(r["ms"]) for r in recs), default=0.0) / 1000


def test_control_plane_cut_off_from_one_host_for_15s_drains_nothing(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """Partitioned from the control plane for 15 s, host b keeps its registration and keeps serving on its last
    config: no failed request, v1 still answers, and b's proxy is SYNCED within 5 s of the partition healing."""
    hosts = lab_mesh.lab.hosts
    out = tmp_path / "load.jsonl"
    load = lab_mesh.load(placed["client"], "http://echo:9080/", out, rate=20)
    try:
        lab_mesh.lab.partition(hosts["cp"], hosts["b"])
        end = time.monotonic() + PARTITION_S
        while time.monotonic() < end:
            assert lab_mesh.endpoints("echo-v1") is not None, "host b was drained during a control-plane partition"
            time.sleep(1.0)
        lab_mesh.lab.heal(hosts["cp"], hosts["b"])
        healed = time.monotonic()
        lab_mesh.wait_synced(timeout=5.0)
        print(f"partition: b SYNCED {time.monotonic() - healed:.2f}s after healing")
    finally:
        lab_mesh.lab.heal(hosts["cp"], hosts["b"])
        placed["client"].host.stop(load)
    recs = records(out)
    failed, worst = _summary(recs)
    print(f"partition: {len(recs)} requests, {failed} failed, slowest {worst:.2f}s")
    assert failed == 0 and {r.get("version") for r in recs} == {"v1", "v2"}


def test_a_host_whose_link_is_down_for_25s(lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path) -> None:
    """Host b's link down 25 s, with the README's settings for vanishing hosts: no failed request (retried on v2),
    no request slower than 4 s; the control plane has withdrawn v1's entry by the end of the cut, and within 2 s of
    the link returning (3 s allowed on a loaded machine) b's proxy has its xDS stream again and v1 answers again
    (its agent re-registers as soon as its stream is back, not at its next periodic check)."""
    hosts = lab_mesh.lab.hosts
    lab_mesh.apply(VANISHING_HOSTS)
    lab_mesh.wait_synced()
    out = tmp_path / "load.jsonl"
    load = lab_mesh.load(placed["client"], "http://echo:9080/", out, rate=20)
    before = float((lab_mesh.proxy("echo-v1.default") or {}).get("connectedSince") or 0)
    try:
        time.sleep(1.0)
        hosts["b"].link_down()
        down_at = time.time()
        time.sleep(LINK_CUT_S)
        withdrawn = lab_mesh.endpoints("echo-v1") is None
        hosts["b"].link_up()
        up_at = time.time()
        time.sleep(4.0)
    finally:
        hosts["b"].link_up()
        placed["client"].host.stop(load)
    recs = records(out)
    failed, worst = _summary(recs)
    reconnect_s = _reconnect_delay(lab_mesh, "echo-v1.default", before, up_at)
    back = min(
        float(r["t"]) + float(r["ms"]) / 1000 for r in recs if r.get("version") == "v1" and float(r["t"]) >= up_at
    )
    stalled = sum(1 for r in recs if float(r["ms"]) > 1000)
    print(
        f"link down: {len(recs)} requests, {failed} failed, {stalled} slower than 1 s, slowest {worst:.2f}s, "
        f"v1 back {back - up_at:.2f}s after the link"
    )
    diagnosis = _failures(lab_mesh, placed["client"], recs, down_at, up_at)
    print(f"link down: the client's failures and counters:\n{diagnosis}")
    assert failed == 0, diagnosis
    assert worst < 4.0
    print(f"link down: b's proxy had a stream again {reconnect_s:.2f}s after the link")
    assert withdrawn, "v1's entry outlived a 25 s cut: the control plane did not notice the silent host"
    # The 2 s, plus 1 s for a loaded 2-core machine: the agent's keepalive (1 s / 2 s) has found the old
    # connection dead during the cut, and it reconnects every 0.1-1 s (agent/upstream.py).
    assert reconnect_s <= 3.0
    assert back - up_at <= 3.0


def test_after_a_link_cut_every_proxy_is_synced_again(lab_mesh: LabMesh, placed: dict[str, LabWorkload]) -> None:
    """Right after the link test: within 60 s every proxy, host b's included, has ACKed its current config."""
    started = time.monotonic()
    lab_mesh.wait_synced(timeout=60.0)
    print(f"link down: every proxy SYNCED {time.monotonic() - started:.2f}s after the link test")


def test_a_killed_agent_is_withdrawn_within_the_grace(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """kill -9 of v1's agent: its Envoy and app go with it, no request fails (retried elsewhere), and the
    control plane withdraws its endpoint within the 10 s grace plus 4 s (measured 6-11.4 s)."""
    v1 = placed["v1"]
    lab_mesh.wait_running(v1)  # connected again after the link test
    out = tmp_path / "load.jsonl"
    load = lab_mesh.load(placed["client"], "http://echo:9080/", out, rate=20)
    try:
        time.sleep(1.0)
        v1.host.signal(v1.process, signal.SIGKILL)
        killed = time.monotonic()
        deadline = killed + 20
        while lab_mesh.endpoints("echo-v1") is not None:
            assert time.monotonic() < deadline, "the killed agent's endpoint was never withdrawn"
            time.sleep(0.2)
        withdrawn = time.monotonic() - killed
        time.sleep(1.0)
    finally:
        placed["client"].host.stop(load)
    recs = records(out)
    failed, _ = _summary(recs)
    print(f"kill -9: endpoint withdrawn after {withdrawn:.2f}s; {len(recs)} requests, {failed} failed")
    assert withdrawn < 14.0  # grace 10 s, a reaper pass every 1 s, the store delete and push
    assert failed == 0


def test_a_killed_control_plane_stops_no_traffic_and_every_proxy_resyncs(
    lab_mesh: LabMesh, placed: dict[str, LabWorkload], tmp_path: Path
) -> None:
    """kill -9 of the control plane: requests between hosts go on (0 failed) on the last config; after a restart
    on the same home every proxy is SYNCED again within 15 s (measured ~9 s; the 2.5 s target needs the ADS
    reconnect backoff, the "perf" task's). Runs last: v1 is gone by then (killed above)."""
    out = tmp_path / "load.jsonl"
    load = lab_mesh.load(placed["client"], "http://echo:9080/", out, rate=20)
    try:
        time.sleep(1.0)
        lab_mesh.kill_controlplane()
        time.sleep(3.0)
        restarted = time.monotonic()
        lab_mesh.start_controlplane(lab_mesh.lab.hosts["cp"])
        lab_mesh.wait_synced(timeout=30.0)
        synced = time.monotonic() - restarted
        time.sleep(1.0)
    finally:
        placed["client"].host.stop(load)
    recs = records(out)
    failed, _ = _summary(recs)
    print(
        f"control plane kill -9: {len(recs)} requests, {failed} failed; every proxy SYNCED {synced:.2f}s after restart"
    )
    assert failed == 0 and {r.get("version") for r in recs} == {"v2"}
    assert synced < 15.0
