"""Two control-plane replicas on one throwaway PostgreSQL, Bookinfo's workloads connected to both (issue 17).

Replica A starts first (so it leads); the agents of details, ratings, reviews-v1 and reviews-v3 list A
first, productpage and reviews-v2 list B first (``--xds-address a,b`` / ``b,a``). Istio's own Bookinfo
files are applied unchanged through A. The tests then check, on real Envoys: an apply through A reroutes
productpage's sidecar (on B) within a second; proxy-status from either replica lists every proxy; A's
workloads are not reaped by A although they are not connected to it; ``kill -9`` of A moves its proxies to
B, SYNCED within 2 s, with no failed request under steady load and no acknowledged apply lost; B takes the
leadership and reaps a killed workload; A restarted on its ports serves again; PostgreSQL stopped for 10 s:
writes 503, proxies keep working, everything converges after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen.samples.bookinfo.demo_plan import WORKLOADS, workload_argv
from mizzen.testing.controlplane import RunningControlPlane, restart, start_controlplane
from mizzen.testing.mesh import Mesh, Workload, _synced
from mizzen.testing.postgres import Cluster, PostgresUnavailable, start_cluster
from mizzen.testing.samples import istio_samples_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.istio_samples]

ON_A = ("details-v1", "ratings-v1", "reviews-v1", "reviews-v3")  # the others list B first
REPLICAS = "/api/mizzen/v1/replicas"


def _sa(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "default"}}


@dataclass
class Ha:
    """The replicas, the database, the two meshes (workloads listing A first / B first)."""

    pg: Cluster
    a: RunningControlPlane
    b: RunningControlPlane
    mesh_a: Mesh
    mesh_b: Mesh
    samples: Path
    started: float
    workloads: dict[str, Workload] = field(default_factory=dict)

    def apply_sample(self, cp: RunningControlPlane, name: str) -> None:
        mesh = self.mesh_a if cp is self.a else self.mesh_b
        mesh.apply((self.samples / name).read_text(), file=name)

    def name_of(self, cp: RunningControlPlane) -> str:
        return str(_get(cp, REPLICAS)["replica"])


def _get(cp: RunningControlPlane, path: str) -> dict[str, Any]:
    resp = httpx.get(cp.address + path, headers=cp.headers(), timeout=5)
    resp.raise_for_status()
    return dict(resp.json())


def _wait(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll ``check`` every 20 ms; the seconds it took. Fails the test after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(0.02)
    return time.monotonic() - start


def _quiet(check: Callable[[], bool]) -> Callable[[], bool]:
    def run() -> bool:
        try:
            return check()
        except (httpx.HTTPError, KeyError):
            return False

    return run


def _version(body: dict[str, Any]) -> str:
    """Which reviews version answered: v1 shows no ratings, v2 black stars, v3 red ones."""
    rating = body["reviews"][0].get("rating")
    if rating is None:
        return "v1"
    return "v3" if rating.get("color") == "red" else "v2"


def _reviews_version(productpage: Workload) -> str:
    resp = productpage.get("http://reviews:9080/reviews/0", timeout=5)
    resp.raise_for_status()
    return _version(resp.json())


class SteadyLoad:
    """Requests through one sidecar, back to back, in a thread; every failure is kept."""

    def __init__(self, via: Workload, url: str) -> None:
        self.via, self.url = via, url
        self.ok_at: list[float] = []  # monotonic times of the successful answers
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def answered_between(self, start: float, end: float) -> int:
        """How many requests succeeded in ``[start, end]``."""
        return sum(1 for t in self.ok_at if start <= t <= end)

    def _run(self) -> None:
        with self.via.client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    resp = client.get(self.url)
                    if resp.status_code == 200:
                        self.ok_at.append(time.monotonic())
                    else:
                        self.failures.append(f"{time.monotonic():.2f} {resp.status_code} {resp.text[:100]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{time.monotonic():.2f} {exc!r}")
                time.sleep(0.01)


class Writer:
    """Applies one new ServiceAccount after another through A, through B when A does not answer."""

    def __init__(self, replicas: list[RunningControlPlane]) -> None:
        self.replicas = replicas
        self.acknowledged: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            name = f"writer-{i}"
            for cp in self.replicas:
                try:
                    resp = httpx.post(
                        cp.address + "/api/mizzen/v1/apply",
                        json={"documents": [_sa(name)]},
                        headers=cp.headers(),
                        timeout=10,
                    )
                except httpx.HTTPError:
                    continue  # not acknowledged by this replica: try the next
                if resp.status_code < 300:
                    self.acknowledged.append(name)
                    break
            i += 1
            time.sleep(0.05)


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ha]:
    samples = istio_samples_dir()
    assert samples is not None  # istio_samples: skipped (or failed under CI=true) without them
    try:
        pg = start_cluster()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required with CI=true: {exc}")
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    root = tmp_path_factory.mktemp("ha")
    store = ("--store", pg.url(pg.create_database()), "--store-password-file", str(pg.password_file))
    stack = contextlib.ExitStack()
    state: list[Ha] = []
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MIZZEN_WORKLOAD_GRACE_SECONDS", "2")
            mp.setenv("MIZZEN_WORKLOAD_STARTUP_GRACE_SECONDS", "4")
            a = start_controlplane(root / "a", extra_args=store)
            stack.callback(lambda: (state[0].a if state else a).stop())  # A is replaced when restarted
            _wait("A leads", _quiet(lambda: bool(_get(a, REPLICAS)["isLeader"])), 10)
            # One mesh CA for both: B plugs in A's CA folder (Istio's plug-in CA files).
            b = start_controlplane(root / "b", extra_args=(*store, "--ca-dir", str(root / "a" / "ca")))
            stack.callback(b.stop)
        mesh_a, mesh_b = Mesh(a), Mesh(b)
        stack.callback(mesh_b.close)
        stack.callback(mesh_a.close)
        ha_state = Ha(pg, a, b, mesh_a, mesh_b, samples, time.monotonic())
        state.append(ha_state)
        for name in ("bookinfo.yaml", "destination-rule-all.yaml", "virtual-service-all-v1.yaml"):
            ha_state.apply_sample(a, name)
        started: list[Workload] = []
        for w in WORKLOADS:
            first, second, mesh = (a, b, mesh_a) if w.name in ON_A else (b, a, mesh_b)
            argv = workload_argv(sys.executable, w)
            extra = ("--xds-address", f"{first.xds_address},{second.xds_address}")
            extra += ("--server", f"{first.address},{second.address}")
            wl = mesh.run(
                w.name,
                {"app": w.app, "version": w.version},
                service_account=w.service_account,
                command=argv[argv.index("--") + 1 :],
                extra_args=extra,
                wait=False,
            )
            ha_state.workloads[w.name] = wl
            started.append(wl)
        for wl in started:
            (mesh_a if wl.name in ON_A else mesh_b).wait_running(wl, timeout=90)
        mesh_a.wait_synced(60)
        mesh_b.wait_synced(60)
        yield ha_state
    finally:
        stack.close()
        pg.destroy()


def _ids_at(cp: RunningControlPlane) -> dict[str, str]:
    """Proxy id -> the replica it is connected to, as ``cp`` lists them."""
    return {p["id"]: p["controlPlane"] for p in _get(cp, "/api/mizzen/v1/proxies")["items"]}


def test_replicas_share_routing_proxies_failover_and_leadership(ha: Ha) -> None:
    """Apply via A reroutes B's proxies in < 1 s; kill -9 A: its proxies SYNCED on B in < 2 s, no failed request,
    no acknowledged apply lost, B leads and reaps; A restarted serves again."""
    a_name, b_name = ha.name_of(ha.a), ha.name_of(ha.b)
    productpage = ha.workloads["productpage-v1"]
    expected = {f"{w.name}.default" for w in WORKLOADS}
    # proxy-status from either replica lists every proxy, each at the replica it is connected to.
    # Each replica learns the other's proxies from its beats (every 0.5 s), so a busy machine may lag a beat.
    where = {f"{n}.default": a_name if n in ON_A else b_name for n in (w.name for w in WORKLOADS)}
    for cp in (ha.a, ha.b):
        _wait("every proxy listed at its replica", lambda cp=cp: _ids_at(cp) == where, 5)
        assert _ids_at(cp) == where
    assert _reviews_version(productpage) == "v1"

    # An apply through A changes the routing of productpage's sidecar, which is connected to B.
    ha.apply_sample(ha.a, "virtual-service-reviews-v3.yaml")
    took = _wait("productpage (on B) routes reviews to v3", _quiet(lambda: _reviews_version(productpage) == "v3"), 5)
    print(f"apply through A -> routing changed on B: {took:.3f}s")
    assert took < 1.0, f"routing on B changed {took:.3f}s after the apply through A"

    # A leads; it has not reaped B's workloads although none of them is connected to A (shared records).
    time.sleep(max(0.0, ha.started + 6 - time.monotonic()))  # past the start-up grace of 4 s
    entries = httpx.get(f"{ha.a.address}/apis/networking.istio.io/v1/workloadentries", headers=ha.a.headers())
    assert len(entries.json()["items"]) == len(WORKLOADS)
    assert _get(ha.b, REPLICAS)["leader"] == a_name

    reviews_v3 = ha.workloads["reviews-v3"]  # on A: its calls to ratings go through a proxy that must move
    with (
        SteadyLoad(reviews_v3, "http://ratings:9080/ratings/0") as on_a,
        SteadyLoad(productpage, "http://reviews:9080/reviews/0") as on_b,
        Writer([ha.a, ha.b]) as writer,
    ):
        time.sleep(1.0)
        ha.a.kill()
        killed = time.monotonic()

        def all_on_b_and_synced() -> bool:
            items = _get(ha.b, "/api/mizzen/v1/proxies")["items"]
            return {p["id"] for p in items} == expected and all(
                p["controlPlane"] == b_name and _synced(p, False) for p in items
            )

        moved = _wait("A's proxies SYNCED on B", _quiet(all_on_b_and_synced), 20)
        print(f"kill -9 A -> every proxy on B and SYNCED: {moved:.3f}s")
        _wait("B leads", _quiet(lambda: bool(_get(ha.b, REPLICAS)["isLeader"])), 10)
        time.sleep(1.0)
    assert moved < 2.0, f"A's proxies were SYNCED on B only {moved:.3f}s after A was killed"
    assert on_a.failures == [] and on_b.failures == [], (on_a.failures[:5], on_b.failures[:5])
    for load in (on_a, on_b):  # traffic really ran before, during and after the switch
        assert load.answered_between(killed - 1.0, killed) > 0
        assert load.answered_between(killed, killed + moved) > 0
        assert load.answered_between(killed + moved, time.monotonic()) > 0
    stored = {i["metadata"]["name"] for i in _get(ha.b, "/api/v1/namespaces/default/serviceaccounts")["items"]}
    assert writer.acknowledged and set(writer.acknowledged) <= stored, set(writer.acknowledged) - stored
    print(f"applies acknowledged during the failover: {len(writer.acknowledged)}, all stored")
    assert time.monotonic() - killed < 30

    # The reaper moved with the leadership: a workload killed outright is removed by B.
    victim = ha.workloads["details-v1"]
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait(10)
    we = "/apis/networking.istio.io/v1/namespaces/default/workloadentries/details-v1"
    gone = _wait(
        "B reaps details-v1",
        lambda: httpx.get(ha.b.address + we, headers=ha.b.headers(), timeout=5).status_code == 404,
        20,
    )
    print(f"killed workload reaped by the new leader after {gone:.1f}s")

    # A comes back on its ports: serving, listed by B, writes through it reach B's proxies.
    ha.a = restart(ha.a, same_ports=True)
    _wait(
        "B sees A alive",
        _quiet(lambda: any(r["alive"] for r in _get(ha.b, REPLICAS)["replicas"] if r["name"] == a_name)),
        10,
    )
    ha.mesh_a.http.close()
    ha.mesh_a.http = ha.a.client(timeout=30.0, trust_env=False)
    ha.apply_sample(ha.a, "virtual-service-reviews-v2-v3.yaml")
    _wait("productpage sees v2 again", _quiet(lambda: _reviews_version(productpage) == "v2"), 10)
    status = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", "status"],
        env={
            **os.environ,
            "MIZZEN_HOME": str(ha.a.home.parent / "cli"),
            "MIZZEN_TOKEN": ha.b.token,
            "MIZZEN_ADDRESS": f"http://127.0.0.1:1,{ha.a.address},{ha.b.address}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert f"leader: {b_name}" in status.stdout and "store: postgresql://" in status.stdout, status.stdout
    assert f"replica {a_name}: alive" in status.stdout and f"replica {b_name}: alive" in status.stdout, status.stdout


def test_a_database_outage_refuses_writes_keeps_proxies_and_converges(ha: Ha) -> None:
    """PostgreSQL stopped for 10 s: both replicas answer writes with 503 and /readyz 503, traffic keeps flowing;
    once it is back both are ready, writes work and both replicas reach the store's revision."""
    productpage = ha.workloads["productpage-v1"]
    refused: dict[str, int] = {}
    with SteadyLoad(productpage, "http://reviews:9080/reviews/0") as load:
        ha.pg.stop()
        down = time.monotonic()
        try:
            while time.monotonic() - down < 10:
                for label, cp in (("a", ha.a), ("b", ha.b)):
                    resp = httpx.post(
                        cp.address + "/api/mizzen/v1/apply",
                        json={"documents": [_sa(f"outage-{label}")]},
                        headers=cp.headers(),
                        timeout=15,
                    )
                    assert resp.status_code == 503, resp.text
                    assert "unavailable" in resp.json()["message"] and "nothing was changed" in resp.json()["message"]
                    refused[label] = refused.get(label, 0) + 1
                    if time.monotonic() - down > 3:  # a beat or two after the outage began
                        assert httpx.get(cp.address + "/readyz", timeout=5).status_code == 503
                time.sleep(0.5)
        finally:
            ha.pg.start()
        for cp in (ha.a, ha.b):
            _wait(
                "ready again", _quiet(lambda cp=cp: httpx.get(cp.address + "/readyz", timeout=5).status_code == 200), 20
            )
        ha.apply_sample(ha.b, "virtual-service-all-v1.yaml")
        _wait("productpage routes reviews to v1", _quiet(lambda: _reviews_version(productpage) == "v1"), 10)
    assert refused.get("a") and refused.get("b")
    assert load.failures == [], (f"outage began at {down:.2f}", load.failures[:5])
    assert load.answered_between(down, down + 10) > 20  # traffic flowed all through the outage
    accounts = {i["metadata"]["name"] for i in _get(ha.b, "/api/v1/namespaces/default/serviceaccounts")["items"]}
    assert not {"outage-a", "outage-b"} & accounts  # refused means nothing was stored
    revision = int(_get(ha.b, "/api/v1/namespaces/default/services")["metadata"]["resourceVersion"])
    for cp in (ha.a, ha.b):
        _wait(
            "the replica caught up with every event",
            _quiet(lambda cp=cp: _get(cp, "/api/mizzen/v1/proxies")["revision"] >= revision),
            10,
        )
        assert _get(cp, "/api/mizzen/v1/proxies")["revision"] == revision
    ha.mesh_b.wait_synced(20)
    # The outage did not look like every proxy vanishing: past the settle time and the agent grace, the leader
    # has reaped nothing (details-v1 was killed in the previous test; the other five are alive).
    time.sleep(6)
    entries = _get(ha.b, "/apis/networking.istio.io/v1/namespaces/default/workloadentries")["items"]
    assert sorted(e["metadata"]["name"] for e in entries) == sorted(w.name for w in WORKLOADS if w.name != "details-v1")
