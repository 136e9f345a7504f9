#!/usr/bin/env python3
"""ADS fan-out: time from ``cache.set`` of a new snapshot for every node until every proxy has ACKed it.

N simulated Envoys (grpc.aio clients in a separate process, one gRPC channel each) subscribe like
Envoy does: wildcard CDS and LDS, then EDS for the clusters and RDS for the route configs they
received, ACKing every response. Each repeat publishes a snapshot with one change for all N nodes
and measures, on the server, until the last ACK arrives: ``route`` (default) one route changed (a
VirtualService edit), ``cluster`` one cluster's timeout (a DestinationRule edit), ``endpoint`` one
endpoint's port (a WorkloadEntry edit). It also prints how many resources each proxy was sent.

    .venv/bin/python bench/xds_fanout.py --proxies 100 1000 [--envoys 10 50] [--services 50] [--repeats 20]
                                         [--change route|cluster|endpoint] [--api sotw|delta]

With ``--envoys``, real Envoy 1.40 processes (stats pruned, one worker each) are started too, each with
its own listener port; their fan-out is measured the same way. ``--api delta`` makes the simulated and
real Envoys speak incremental xDS (DeltaAggregatedResources) instead of State of the World.

Prints, per N, the median, p99 and max over the repeats, plus the server's RSS per connected proxy.
Targets (issue 3, not tests): <= 1 s at 1000 simulated proxies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

from mizzen.agent.envoy import find_envoy
from mizzen.testing.ports import free_port
from mizzen.xds import types
from mizzen.xds.cache import SnapshotCache
from mizzen.xds.server import XdsServer
from mizzen.xds.snapshot import Snapshot
from mizzen.xds.testing import AdsClient, FakeEnvoy, ads_bootstrap
from mizzen.xds.testing_delta import DeltaAdsClient, FakeDeltaEnvoy

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE
TOKEN = "bench-token"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def node_id(i: int) -> str:
    return f"sidecar~127.0.0.1~p{i}.default~default.svc.cluster.local"


def build_snapshot(services: int, rev: int, change: str, listen_port: int = 15001) -> Snapshot:
    """A sidecar-like scope: per service an EDS cluster, its endpoints and a virtual host; one HTTP listener."""
    hosts = [f"svc{i}.default.svc.cluster.local" for i in range(services)]
    names = [f"outbound|9080||{h}" for h in hosts]
    clusters = {
        n: {
            "name": n,
            "type": "EDS",
            "connect_timeout": f"{10 + (rev if change == 'cluster' and n == names[0] else 0)}s",  # one DR edit
            "eds_cluster_config": {"service_name": n, "eds_config": {"ads": {}, "resource_api_version": "V3"}},
        }
        for n in names
    }
    endpoints = {
        n: {
            "cluster_name": n,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": f"127.0.0.{2 + j}",
                                        "port_value": 20000 + i + (rev if change == "endpoint" and i == 0 else 0),
                                    }
                                }
                            }
                        }
                        for j in range(3)
                    ]
                }
            ],
        }
        for i, n in enumerate(names)
    }
    vhosts = [
        {
            "name": f"{h}:9080",
            "domains": [h, f"{h}:9080", h.split(".")[0]],
            "routes": [
                {
                    "match": {"prefix": f"/v{rev}" if change == "route" and i == 0 else "/"},
                    "route": {"cluster": n, "timeout": "0s"},
                }
            ],
        }
        for i, (h, n) in enumerate(zip(hosts, names, strict=True))
    ]
    listener = {
        "name": "http_proxy",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": "outbound",
                            "rds": {"route_config_name": "http_proxy", "config_source": {"ads": {}}},
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }
    return Snapshot.from_dicts(
        {
            CDS: clusters,
            EDS: endpoints,
            LDS: {"http_proxy": listener},
            RDS: {"http_proxy": {"name": "http_proxy", "virtual_hosts": vhosts}},
        }
    )


# --- simulated Envoys (child process) ---------------------------------------------------------------


async def simulated_envoy(target: str, i: int) -> None:
    """Subscribe and ACK like Envoy: CDS/LDS wildcard, then EDS/RDS by the names they reference."""
    client = AdsClient(target, token=TOKEN, envoy=FakeEnvoy(node_id(i)))
    client.subscribe(CDS)
    client.subscribe(LDS)
    while True:
        resp = await client.receive(timeout=3600)
        client.send(client.envoy.ack(resp))
        if resp.type_url == CDS:
            names = sorted(_cluster_service(r) for r in resp.resources)
            if names != client.envoy.names.get(EDS):
                client.subscribe(EDS, names)
        elif resp.type_url == LDS:
            routes = sorted({n for r in resp.resources for n in _route_names(r)})
            if routes != client.envoy.names.get(RDS):
                client.subscribe(RDS, routes)


async def simulated_delta_envoy(target: str, i: int) -> None:
    """The same over incremental xDS: track what is held, (un)subscribe EDS/RDS names by difference."""
    client = DeltaAdsClient(target, token=TOKEN, envoy=FakeDeltaEnvoy(node_id(i)))
    client.subscribe(CDS)
    client.subscribe(LDS)
    held: dict[str, dict[str, list[str]]] = {CDS: {}, LDS: {}}
    watching: dict[str, set[str]] = {EDS: set(), RDS: set()}
    while True:
        resp = await client.receive(timeout=3600)
        client.send(client.envoy.ack(resp))
        if resp.type_url not in held:
            continue
        names = held[resp.type_url]
        for r in resp.resources:
            names[r.name] = [_cluster_service(r.resource)] if resp.type_url == CDS else _route_names(r.resource)
        for name in resp.removed_resources:
            names.pop(name, None)
        kind = EDS if resp.type_url == CDS else RDS
        wanted = {n for refs in names.values() for n in refs}
        if wanted != watching[kind]:
            client.send(client.envoy.request(kind, sorted(wanted - watching[kind]), sorted(watching[kind] - wanted)))
            watching[kind] = wanted


def _cluster_service(resource: object) -> str:
    c = cluster_pb2.Cluster()
    resource.Unpack(c)  # type: ignore[attr-defined]
    return c.eds_cluster_config.service_name or c.name


def _route_names(resource: object) -> list[str]:
    listener = listener_pb2.Listener()
    resource.Unpack(listener)  # type: ignore[attr-defined]
    out = []
    for chain in listener.filter_chains:
        for f in chain.filters:
            if f.typed_config.type_url == HCM:
                m = hcm_pb2.HttpConnectionManager()
                f.typed_config.Unpack(m)
                out.append(m.rds.route_config_name)
    return out


async def run_clients(port: int, count: int, first: int, api: str = "sotw") -> None:
    target = f"127.0.0.1:{port}"
    tasks = []
    client = simulated_delta_envoy if api == "delta" else simulated_envoy
    for i in range(first, first + count):
        tasks.append(asyncio.create_task(client(target, i)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # a gentle ramp, like Envoys starting over a few seconds
    await asyncio.gather(*tasks)


# --- the measuring server (parent process) ----------------------------------------------------------


class Tracker:
    """Counts nodes whose ACKed versions reached the target versions of every changed type."""

    def __init__(self) -> None:
        self.acked: dict[str, dict[str, str]] = {}
        self.target: dict[str, str] = {}
        self.pending: set[str] = set()
        self.done = asyncio.Event()

    def on_ack(self, node: str, type_url: str, version: str) -> None:
        self.acked.setdefault(node, {})[type_url] = version
        if node in self.pending and all(self.acked[node].get(t) == v for t, v in self.target.items()):
            self.pending.discard(node)
            if not self.pending:
                self.done.set()

    def expect(self, nodes: list[str], target: dict[str, str]) -> None:
        self.target = target
        self.pending = {n for n in nodes if any(self.acked.get(n, {}).get(t) != v for t, v in target.items())}
        self.done = asyncio.Event()
        if not self.pending:
            self.done.set()


def child_cpu(pid: int) -> float:
    """CPU seconds used so far by the simulated-Envoy process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def listen_port_for(i: int, envoys: bool) -> int:
    return free_port() if envoys else 15001


def start_simulated(port: int, n: int, api: str) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, __file__, "--_clients", str(n), "--_port", str(port), "--api", api]
    return [subprocess.Popen(argv)]


def start_envoys(port: int, nodes: list[str], workdir: Path, api: str) -> list[subprocess.Popen[bytes]]:
    """Real Envoys (stats pruned, one worker thread each), one per node id."""
    procs = []
    for i, node in enumerate(nodes):
        config = workdir / f"envoy-{i}.json"
        api_type = "DELTA_GRPC" if api == "delta" else "GRPC"
        config.write_text(json.dumps(ads_bootstrap(node, port, free_port(), token=TOKEN, api_type=api_type)))
        procs.append(
            subprocess.Popen(
                [
                    str(find_envoy()),
                    "-c",
                    str(config),
                    "--disable-hot-restart",
                    "--concurrency",
                    "1",
                    "-l",
                    "error",
                    "--log-path",
                    str(workdir / f"envoy-{i}.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


async def measure(n: int, services: int, repeats: int, change: str, envoys: bool, api: str) -> list[float]:
    cache, tracker = SnapshotCache(), Tracker()
    nodes = [node_id(i) for i in range(n)]
    ports = {node: listen_port_for(i, envoys) for i, node in enumerate(nodes)}

    def publish(rev: int) -> dict[str, Snapshot]:
        # Simulated proxies share one snapshot; real Envoys each need their own listener port, while
        # clusters, endpoints and routes are still encoded once and shared (the encoder's cache).
        built: dict[int, Snapshot] = {}
        for port in set(ports.values()):
            built[port] = build_snapshot(services, rev, change, port)
        return {node: built[ports[node]] for node in nodes}

    base = publish(0)
    for node in nodes:
        cache.set(node, base[node])
    server = XdsServer(cache, token=TOKEN, on_ack=tracker.on_ack)
    port = await server.start("127.0.0.1", 0)
    rss_before = rss_mb()
    workdir = tempfile.TemporaryDirectory(prefix="xds-fanout-")
    procs = start_envoys(port, nodes, Path(workdir.name), api) if envoys else start_simulated(port, n, api)
    kind = "Envoys" if envoys else "simulated Envoys"
    try:
        tracker.expect(nodes, {t: base[nodes[0]].version(t) for t in (CDS, EDS, RDS)})
        await asyncio.wait_for(tracker.done.wait(), timeout=60 + n / 10)
        rss = rss_mb()
        print(
            f"  {n} {kind} connected and synced; server RSS {rss:.0f} MB "
            f"({(rss - rss_before) * 1024 / n:.0f} KB per proxy)",
            flush=True,
        )
        samples, cpu, client_cpu = [], [], []
        sent_before = sum(server.metrics.resources.values())
        previous = base
        for rev in range(1, repeats + 1):
            snaps = publish(rev)
            some = snaps[nodes[0]]
            changed = {
                t: some.version(t)
                for t in some.type_urls
                if t != LDS and some.version(t) != previous[nodes[0]].version(t)
            }
            if CDS in changed:
                changed[EDS] = some.version(EDS)  # EDS is always re-sent after CDS
            tracker.expect(nodes, changed)
            t0, c0, k0 = time.perf_counter(), time.process_time(), sum(child_cpu(p.pid) for p in procs)
            for node in nodes:
                cache.set(node, snaps[node])
            await asyncio.wait_for(tracker.done.wait(), timeout=60)
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            client_cpu.append(sum(child_cpu(p.pid) for p in procs) - k0)
            previous = snaps
            await asyncio.sleep(0.05)
        print(
            f"  CPU per fan-out: server median {statistics.median(cpu) * 1000:.0f} ms, "
            f"{kind} median {statistics.median(client_cpu) * 1000:.0f} ms; "
            f"{(sum(server.metrics.resources.values()) - sent_before) / repeats / n:.1f} resources sent per proxy",
            flush=True,
        )
        return samples
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await server.stop(0)
        workdir.cleanup()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, nargs="*", default=[100, 1000], help="simulated ADS clients")
    parser.add_argument("--envoys", type=int, nargs="*", default=[], help="real Envoy processes (e.g. 10 50)")
    parser.add_argument("--services", type=int, default=50, help="services in each proxy's scope")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--change", choices=["route", "cluster", "endpoint"], default="route")
    parser.add_argument("--api", choices=["sotw", "delta"], default="sotw", help="the ADS variant the clients speak")
    parser.add_argument("--_clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._clients:
        asyncio.run(run_clients(args._port, args._clients, 0, args.api))
        return
    print(
        f"xds fan-out ({args.api}): {args.services} services per proxy, change={args.change}, {args.repeats} repeats, "
        f"{os.cpu_count()} CPUs"
    )
    runs = [(n, True) for n in args.envoys] + [(n, False) for n in args.proxies]
    for n, envoys in runs:
        samples = asyncio.run(measure(n, args.services, args.repeats, args.change, envoys, args.api))
        ms = [s * 1000 for s in samples]
        label = "Envoys" if envoys else "sim"
        print(
            f"N={n:5d} {label:6s} set->all ACKed  median {statistics.median(ms):7.1f} ms  p99 {p99(ms):7.1f} ms  "
            f"max {max(ms):7.1f} ms  min {min(ms):7.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
