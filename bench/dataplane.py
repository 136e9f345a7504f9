"""Data-plane overhead: a minimal hand-written Envoy pair against the Mizzen pair, in one run.

    .venv/bin/python bench/dataplane.py [--repeats 3] [--seconds 6] [--rate 1000]

Topologies (each: load generator -> client-side Envoy -> server-side Envoy -> nginx, 1 KiB responses):

- minimal: two Envoys with static configs this bench writes, tuned as Envoy's benchmarking FAQ says
  (no request-ID generation, no dynamic stats, no access log, circuit breakers out of the way);
- the Mizzen pairs: a control plane and two ``mizzen run`` workloads (``client`` and ``server``, nginx as
  the app); requests enter the client's sidecar at its outbound HTTP proxy port with ``Host: server:9080``;
- mizzen: a control plane and two ``mizzen run`` workloads with mutual TLS turned off by a mesh-wide
  PeerAuthentication DISABLE (plaintext between the sidecars, as between the minimal pair's Envoys);
- mizzen-mtls: the same pair in Mizzen's (and Istio's) default, auto mTLS: ISTIO_MUTUAL between the
  sidecars with the agents' workload certificates. The mTLS/plaintext ratio is printed at the end.

Each repetition measures every topology in turn (interleaved, so drifting machine load hits all alike):
latency at 1 connection (open loop, 200 rps), latency at a fixed rate (open loop, 16 connections, CO
corrected), maximum throughput (closed loop, 16 connections); CPU per 1000 rps of every mesh process from
the scheduler's runtime during the fixed-rate run; private memory per workload from smaps_rollup.
Figures are medians over repetitions, with the ratio to the minimal pair. With 2+ CPUs the generator
runs on CPU 0 and everything else on CPU 1 (issue 15's set-up). While the Mizzen pair is measured the
minimal pair is paused (SIGSTOP); the Mizzen pair stays up while the minimal pair is measured (its
control plane and agents would not survive a pause), so its idle CPU, which then competes on the same
core, is measured first and printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchtools as bt

from mizzen.agent.envoy import find_envoy
from mizzen.testing.controlplane import free_port, start_controlplane
from mizzen.testing.mesh import Mesh

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
SERVICES = """apiVersion: v1
kind: Service
metadata: {name: server}
spec: {selector: {app: server}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: client}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
"""
MTLS_OFF = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
"""


@dataclass
class Topology:
    """A running topology: where to send requests, and its processes by role."""

    name: str
    port: int
    host: str
    roles: dict[str, list[int]]  # "envoy", "agent", "controlplane" -> pids
    workloads: list[dict[str, int]]  # per workload: role -> pid (for private memory)
    backend: list[int] = field(default_factory=list)  # the apps (nginx): not mesh CPU, but not foreign either
    pause: list[int] = field(default_factory=list)  # pids to SIGSTOP while another topology is measured


# --- minimal pair ----------------------------------------------------------------------------------
def _static_cluster(name: str, port: int) -> dict[str, object]:
    big = 1_000_000_000
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "circuit_breakers": {
            "thresholds": [{"max_connections": big, "max_pending_requests": big, "max_requests": big}]
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                    ]
                }
            ],
        },
    }


def _address(port: int) -> dict[str, object]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def minimal_bootstrap(listen: int, upstream: int, admin: int) -> dict[str, object]:
    """One hop: HTTP listener on ``listen`` routing everything to 127.0.0.1:``upstream``."""
    router = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    hcm = {
        "@type": HCM,
        "stat_prefix": "bench",
        "generate_request_id": False,
        "route_config": {
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "up"}}]}
            ]
        },
        "http_filters": [{"name": "router", "typed_config": {"@type": router, "dynamic_stats": False}}],
    }
    listener = {
        "name": "in",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
        "filter_chains": [{"filters": [{"name": "hcm", "typed_config": hcm}]}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": [listener], "clusters": [_static_cluster("up", upstream)]},
    }


@contextlib.contextmanager
def minimal_pair(workdir: Path, nginx: Path) -> Iterator[Topology]:
    """nginx plus two Envoys with static configs."""
    backend, server_port, client_port = free_port(), free_port(), free_port()
    procs = [subprocess.Popen(bt.nginx_argv(nginx, bt.nginx_config(backend, workdir / "nginx")))]
    envoy = str(find_envoy())
    envoys = []
    for name, listen, upstream in (("server", server_port, backend), ("client", client_port, server_port)):
        path = workdir / f"minimal-{name}.json"
        path.write_text(json.dumps(minimal_bootstrap(listen, upstream, free_port())))
        argv = [envoy, "-c", str(path), "--concurrency", "1", "--disable-hot-restart", "-l", "error"]
        envoys.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
    procs += envoys
    try:
        _wait_http(client_port, "minimal pair")
        pids = [p.pid for p in envoys]
        yield Topology(
            "minimal",
            client_port,
            "server",
            {"envoy": pids},
            [{"envoy": p} for p in pids],
            backend=[procs[0].pid],
            pause=[p.pid for p in procs],
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


# --- Mizzen pair -----------------------------------------------------------------------------------
@contextlib.contextmanager
def mizzen_pair(workdir: Path, nginx: Path, *, mtls: bool) -> Iterator[Topology]:
    """A control plane and two ``mizzen run`` workloads with nginx as their app (auto mTLS, or plaintext)."""
    cp = start_controlplane(workdir / "home")
    try:
        with Mesh(cp) as mesh:
            mesh.apply(SERVICES if mtls else SERVICES + "---\n" + MTLS_OFF)
            app = [sys.executable, str(Path(bt.__file__)), "nginx", "{port}", str(nginx), str(workdir)]
            client, server = mesh.run_all(
                [("client", {"app": "client"}), ("server", {"app": "server"})], command=app, ready_path="/"
            )
            mesh.wait_synced(60)
            states = [client.state(), server.state()]
            port = int(states[0]["httpProxy"].rsplit(":", 1)[1])
            _wait_http(port, "Mizzen pair", host="server:9080")
            roles = {
                "envoy": [int(s["envoyPid"]) for s in states],
                "agent": [int(s["pid"]) for s in states],
                "controlplane": [cp.process.pid],
            }
            per_workload = [{"envoy": int(s["envoyPid"]), "agent": int(s["pid"])} for s in states]
            apps = [int(s["appPid"]) for s in states]
            name = "mizzen-mtls" if mtls else "mizzen"
            yield Topology(name, port, "server:9080", roles, per_workload, backend=apps)
    finally:
        cp.stop()


def _wait_http(port: int, what: str, host: str = "server", timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=2, trust_env=False)
            if r.status_code == 200 and len(r.content) == len(bt.BODY):
                return
        time.sleep(0.2)
    raise SystemExit(f"{what}: no 200 with a 1 KiB body on port {port} within {timeout:.0f} s")


# --- measuring -------------------------------------------------------------------------------------
@dataclass
class Sample:
    """The figures of one topology in one repetition."""

    single: bt.LoadResult
    fixed: bt.LoadResult
    maximum: bt.LoadResult
    cpu: dict[str, float]  # role -> cores during the fixed-rate run
    steal: float  # cores stolen by the host during the fixed-rate run
    foreign: float  # cores used by processes other than the mesh's and the generator's (other users)
    memory: dict[str, float]  # role -> private MB per workload (mean over workloads)


def measure(top: Topology, loadgen: Path, args: argparse.Namespace, gen_cpu: int | None) -> Sample:
    def run(conns: int, rate: float, secs: float) -> bt.LoadResult:
        return bt.run_loadgen(
            loadgen, top.port, top.host, connections=conns, rate=rate, seconds=secs, warmup=args.warmup, cpu=gen_cpu
        )

    single = run(1, 200, args.seconds)
    pids = [p for ps in top.roles.values() for p in ps] + top.backend
    before, load0, t0 = {p: bt.cpu_seconds(p) for p in pids}, bt.MachineLoad.now(), time.monotonic()
    fixed = run(16, args.rate, args.seconds)
    elapsed = time.monotonic() - t0
    used = {p: bt.cpu_seconds(p) - before[p] for p in pids}
    busy, steal = bt.MachineLoad.now().since(load0, elapsed)
    # The fixed-rate window includes the generator's warm-up, when the rate is the same.
    cores = {role: sum(used[p] for p in ps) / elapsed for role, ps in top.roles.items()}
    maximum = run(16, 0, args.seconds)
    memory = {role: statistics.mean(bt.private_mb(w[role]) for w in top.workloads) for role in top.workloads[0]}
    backend = sum(used[p] for p in top.backend) / elapsed
    foreign = max(0.0, busy - sum(cores.values()) - backend - fixed.cpu / elapsed)
    return Sample(single, fixed, maximum, cores, steal, foreign, memory)


def idle_cpu(top: Topology, seconds: float) -> float:
    """Cores the topology's processes use over ``seconds`` without traffic."""
    pids = [p for ps in top.roles.values() for p in ps]
    before = sum(bt.cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    return (sum(bt.cpu_seconds(p) for p in pids) - before) / seconds


@contextlib.contextmanager
def paused(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


# --- report ----------------------------------------------------------------------------------------
def med(samples: list[Sample], pick: Callable[[Sample], float]) -> float:
    return statistics.median(pick(s) for s in samples)


def report(results: dict[str, list[Sample]], rate: float) -> None:
    base = results["minimal"]
    rows: list[tuple[str, Callable[[Sample], float], str]] = [
        ("p50, 1 connection (200 rps)", lambda s: s.single.p50, "ms"),
        ("p99, 1 connection (200 rps)", lambda s: s.single.p99, "ms"),
        (f"p50, {rate:.0f} rps, 16 connections", lambda s: s.fixed.p50, "ms"),
        (f"p90, {rate:.0f} rps, 16 connections", lambda s: s.fixed.p90, "ms"),
        (f"p99, {rate:.0f} rps, 16 connections", lambda s: s.fixed.p99, "ms"),
        (f"p99.9, {rate:.0f} rps, 16 connections", lambda s: s.fixed.p999, "ms"),
        ("achieved rate at the fixed rate", lambda s: s.fixed.rps, "rps"),
        ("max throughput, 16 connections", lambda s: s.maximum.rps, "rps"),
        ("CPU per 1000 rps: Envoys", lambda s: _per_k(s, "envoy"), "core"),
        ("CPU per 1000 rps: agents", lambda s: _per_k(s, "agent"), "core"),
        ("CPU per 1000 rps: control plane", lambda s: _per_k(s, "controlplane"), "core"),
        ("CPU per 1000 rps: all mesh processes", lambda s: sum(_per_k(s, r) for r in s.cpu), "core"),
        ("private memory per workload: Envoy", lambda s: s.memory.get("envoy", 0.0), "MB"),
        ("private memory per workload: agent", lambda s: s.memory.get("agent", 0.0), "MB"),
        ("private memory per workload: total", lambda s: sum(s.memory.values()), "MB"),
        ("host steal during the fixed-rate run", lambda s: s.steal, "core"),
        ("other users' CPU during the fixed-rate run", lambda s: s.foreign, "core"),
    ]
    names = list(results)
    print(f"\n{'metric':<42}" + "".join(f"{n:>14}" for n in names) + "".join(f"{'ratio ' + n:>16}" for n in names[1:]))
    for label, pick, unit in rows:
        values = [med(results[n], pick) for n in names]
        comparable = values[0] and not label.startswith(("host steal", "other users"))
        ratio = [f"{v / values[0]:>16.2f}" if comparable else f"{'-':>16}" for v in values[1:]]
        digits = 3 if unit in ("ms", "core") else 1
        print(f"{label + ' (' + unit + ')':<42}" + "".join(f"{v:>14.{digits}f}" for v in values) + "".join(ratio))
    print(f"{'errors (non-200) in all runs':<42}" + "".join(f"{_errors(results[n]):>14}" for n in names))
    _goals(base, results["mizzen"])


def mtls_ratio(plain: list[Sample], mtls: list[Sample]) -> None:
    """Issue 12: what mutual TLS between the sidecars costs, same run (mTLS / plaintext, medians)."""
    print("\nmutual TLS between the sidecars (mizzen-mtls / mizzen):")
    for label, pick in (
        ("latency p50 at 1 connection", lambda s: s.single.p50),
        ("latency p50 at the fixed rate", lambda s: s.fixed.p50),
        ("latency p99 at the fixed rate", lambda s: s.fixed.p99),
        ("max throughput", lambda s: s.maximum.rps),
    ):
        base = med(plain, pick)
        print(f"  {label:<36} {med(mtls, pick) / base if base else float('nan'):8.3f}")


def _per_k(s: Sample, role: str) -> float:
    return s.cpu.get(role, 0.0) / (s.fixed.rps / 1000) if s.fixed.rps else 0.0


def _errors(samples: list[Sample]) -> int:
    return sum(s.single.errors + s.fixed.errors + s.maximum.errors for s in samples)


def _goals(base: list[Sample], ours: list[Sample]) -> None:
    """Issue 15's data-plane goals, met or not (figures, not tests)."""
    checks = [
        (
            "p50 ratio at the fixed rate <= 1.10",
            med(ours, lambda s: s.fixed.p50) / med(base, lambda s: s.fixed.p50),
            1.10,
        ),
        (
            "p99 ratio at the fixed rate <= 1.25",
            med(ours, lambda s: s.fixed.p99) / med(base, lambda s: s.fixed.p99),
            1.25,
        ),
        (
            "max throughput ratio >= 0.85",
            -med(ours, lambda s: s.maximum.rps) / med(base, lambda s: s.maximum.rps),
            -0.85,
        ),
        ("control-plane CPU per 1000 rps <= 0.005 core", med(ours, lambda s: _per_k(s, "controlplane")), 0.005),
        (
            "private memory per workload <= 1.5x minimal",
            med(ours, lambda s: sum(s.memory.values())) / med(base, lambda s: sum(s.memory.values())),
            1.5,
        ),
    ]
    print("\nissue 15 goals:")
    for label, value, limit in checks:
        print(f"  {label:<48} {abs(value):8.3f}  {'met' if value <= limit else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0, help="measured seconds per load run")
    ap.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each load run")
    ap.add_argument("--rate", type=float, default=1000.0, help="the fixed request rate")
    args = ap.parse_args()
    try:
        nginx, loadgen = bt.find_nginx(), bt.build_loadgen()
    except bt.BenchSetupError as exc:
        raise SystemExit(f"dataplane bench: {exc}") from exc
    pinned = (os.cpu_count() or 1) >= 2
    if pinned:  # everything this process starts inherits CPU 1; the generator alone runs on CPU 0
        os.sched_setaffinity(0, {1})
    gen_cpu = 0 if pinned else None
    print(
        f"data plane: minimal Envoy pair vs Mizzen pair, {args.repeats} interleaved repetitions, "
        f"{args.seconds:.0f} s runs after {args.warmup:.0f} s warm-up; "
        f"{'generator on CPU 0, mesh and nginx on CPU 1' if pinned else 'not pinned (1 CPU)'}; "
        f"load average {bt.load_average()}",
        flush=True,
    )
    results: dict[str, list[Sample]] = {"minimal": [], "mizzen": [], "mizzen-mtls": []}
    with tempfile.TemporaryDirectory(prefix="mizzen-dataplane-") as tmp:
        work = Path(tmp)
        with (
            minimal_pair(work / "minimal", nginx) as minimal,
            mizzen_pair(work / "mizzen", nginx, mtls=False) as mizzen,
            mizzen_pair(work / "mtls", nginx, mtls=True) as mtls,
        ):
            print(f"mizzen pair idle (no traffic, 5 s): {idle_cpu(mizzen, 5):.4f} core", flush=True)
            for rep in range(args.repeats):
                for top in (minimal, mizzen, mtls):
                    others = [] if top is minimal else minimal.pause
                    with paused(others):
                        sample = measure(top, loadgen, args, gen_cpu)
                    results[top.name].append(sample)
                    print(
                        f"  rep {rep + 1} {top.name:<11} 1conn p50 {sample.single.p50:.3f} ms  "
                        f"{args.rate:.0f} rps p50/p99 {sample.fixed.p50:.3f}/{sample.fixed.p99:.3f} ms "
                        f"({sample.fixed.rps:.0f} rps)  max {sample.maximum.rps:.0f} rps  steal {sample.steal:.3f}  "
                        f"others {sample.foreign:.2f} core",
                        flush=True,
                    )
    report(results, args.rate)
    mtls_ratio(results["mizzen"], results["mizzen-mtls"])


if __name__ == "__main__":
    main()
