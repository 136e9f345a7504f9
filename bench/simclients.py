"""Simulated Envoys for the scale bench: one process runs many ADS clients (SotW or delta) to a control plane.

    python bench/simclients.py --target 127.0.0.1:15010 --token T --first 0 --count 500 --api mixed

Each client identifies like a sidecar (Mizzen's node metadata), subscribes as Envoy does (CDS and LDS
wildcard; EDS for the EDS clusters it holds, RDS for the route configurations its listeners name), and
ACKs every response at once; with ``--api mixed`` even-numbered clients speak State of the World and odd
ones delta, so both kinds share every push alike. The process talks JSON lines:

- stdout, every 2 s: ``{"synced": n, "reconnects": n, "error": [...]}`` (synced: got CDS, EDS, LDS, RDS);
- stdin ``{"arm": k, "type": "RDS"}``: stdout ``{"armed": k}``, then note when each client next receives
  that type; when all have, stdout ``{"done": k, "last": {"sotw": epoch s, "delta": epoch s}}`` (the
  last arrival per protocol);
- stdin ``{"freeze": true}``: drop the clients not synced yet; stdout ``{"frozen": n}`` (how many remain).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

from mizzen.node import InboundPort, Proxy, node_metadata
from mizzen.xds import types
from mizzen.xds.testing import AdsClient, FakeEnvoy
from mizzen.xds.testing_delta import DeltaAdsClient, FakeDeltaEnvoy

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE
SHORT = {"CDS": CDS, "EDS": EDS, "LDS": LDS, "RDS": RDS}
HCM = "type.googleapis.com/" + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name
# Decoded once per distinct resource and shared by every client of the process.
_CLUSTERS: dict[bytes, tuple[str, str | None]] = {}  # cluster Any value -> (name, the EDS name it watches)
_LISTENERS: dict[bytes, tuple[str, tuple[str, ...]]] = {}  # listener Any value -> (name, route names)


def sim_proxy(i: int) -> Proxy:
    """The i-th simulated sidecar (its own name and ports, the same labels scope as its peers)."""
    return Proxy(
        id=f"sim-{i}.default",
        type="sidecar",
        name=f"sim-{i}",
        namespace="default",
        labels={"app": "sim", "version": "v1"},
        http_proxy_port=40000 + i,
        inbound=(InboundPort(9080, "http", "HTTP", 44000 + i, 48000 + i),),
    )


def cluster_info(value: bytes) -> tuple[str, str | None]:
    """A cluster's name and, for an EDS cluster, the ClusterLoadAssignment name it watches."""
    if value not in _CLUSTERS:
        c = cluster_pb2.Cluster.FromString(value)
        eds = (c.eds_cluster_config.service_name or c.name) if c.type == cluster_pb2.Cluster.EDS else None
        _CLUSTERS[value] = (c.name, eds)
    return _CLUSTERS[value]


def listener_info(value: bytes) -> tuple[str, tuple[str, ...]]:
    """A listener's name and the route configurations its HTTP connection managers name."""
    if value not in _LISTENERS:
        listener = listener_pb2.Listener.FromString(value)
        names = []
        for chain in [*listener.filter_chains, listener.default_filter_chain]:
            for f in chain.filters:
                if f.typed_config.type_url == HCM:
                    m = hcm_pb2.HttpConnectionManager.FromString(f.typed_config.value)
                    if m.HasField("rds"):
                        names.append(m.rds.route_config_name)
        _LISTENERS[value] = (listener.name, tuple(names))
    return _LISTENERS[value]


class Sim:
    """One simulated Envoy; ``seen`` is when each type last arrived. It reconnects like Envoy when its
    stream ends (Envoy's default back-off), a delta one reporting what it holds in initial_resource_versions."""

    def __init__(self, target: str, token: str, i: int, api: str) -> None:
        p = sim_proxy(i)
        meta = node_metadata(p, admin="unix:/nonexistent", version="bench")
        self.target, self.token, self.api, self.delta = target, token, api, api == "delta"
        self.node_id, self.meta = p.node_id, meta
        self.sotw_envoy = FakeEnvoy(p.node_id, metadata=meta)
        self.delta_envoy = FakeDeltaEnvoy(p.node_id, metadata=meta)
        self.client: AdsClient | DeltaAdsClient | None = None
        self.seen: dict[str, float] = {}
        self.reconnects = 0
        self.last_error = ""
        self.clusters: dict[str, str | None] = {}  # cluster -> EDS name
        self.listeners: dict[str, tuple[str, ...]] = {}  # listener -> route names
        self.watching: dict[str, set[str]] = {EDS: set(), RDS: set()}

    async def run(self) -> None:
        failures = 0
        while True:
            got = len(self.seen)
            try:
                await self._stream()
            except (grpc.aio.AioRpcError, EOFError, TimeoutError) as exc:
                self.reconnects += 1
                self.last_error = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            if self.client is not None:
                await self.client.close()
                self.client = None
            failures = 0 if len(self.seen) > got else failures + 1
            # Envoy's default ADS retry: jittered exponential back-off, 0.5 s base, 30 s cap.
            await asyncio.sleep(random.uniform(0, min(30.0, 0.5 * 2**failures)))

    async def _stream(self) -> None:
        if self.delta:
            self.delta_envoy.reconnect()
            client: AdsClient | DeltaAdsClient = DeltaAdsClient(self.target, token=self.token, envoy=self.delta_envoy)
            for type_url in (CDS, LDS):
                client.send(self.delta_envoy.resume(type_url))
            for type_url in (EDS, RDS):
                if self.watching[type_url]:
                    client.send(self.delta_envoy.resume(type_url, sorted(self.watching[type_url])))
        else:
            self.sotw_envoy = FakeEnvoy(self.node_id, metadata=self.meta)  # a new stream: node first, no nonces
            client = AdsClient(self.target, token=self.token, envoy=self.sotw_envoy)
            client.subscribe(CDS)
            client.subscribe(LDS)
            self.watching = {EDS: set(), RDS: set()}
        self.client = client
        while True:
            resp = await client.receive(timeout=3600)
            client.send(client.envoy.ack(resp))  # type: ignore[arg-type]
            self.seen[resp.type_url] = time.time()
            if resp.type_url in (CDS, LDS):
                self._follow(client, resp)

    def _follow(self, client: AdsClient | DeltaAdsClient, resp: Any) -> None:
        """Track clusters and listeners; (un)subscribe EDS and RDS names as Envoy would."""
        held = self.clusters if resp.type_url == CDS else self.listeners
        if not self.delta:
            held.clear()
        for r in resp.resources:
            value = r.resource.value if self.delta else r.value
            if resp.type_url == CDS:
                name, eds = cluster_info(value)
                self.clusters[name] = eds
            else:
                name, routes = listener_info(value)
                self.listeners[name] = routes
        for name in getattr(resp, "removed_resources", ()):
            held.pop(name, None)
        kind = EDS if resp.type_url == CDS else RDS
        wanted = (
            {n for n in self.clusters.values() if n}
            if kind == EDS
            else {n for names in self.listeners.values() for n in names}
        )
        if wanted == self.watching[kind]:
            return
        if isinstance(client, DeltaAdsClient):
            added, gone = wanted - self.watching[kind], self.watching[kind] - wanted
            client.send(client.envoy.request(kind, sorted(added), sorted(gone)))
        else:
            client.subscribe(kind, sorted(wanted))
        self.watching[kind] = wanted

    @property
    def synced(self) -> bool:
        return all(t in self.seen for t in (CDS, LDS)) and all(
            not self.watching[t] or t in self.seen for t in (EDS, RDS)
        )


class Fleet:
    """The clients of this process and the commands the bench sends them (see the module docstring)."""

    def __init__(self) -> None:
        self.sims: list[Sim] = []
        self.tasks: dict[Sim, asyncio.Task[None]] = {}

    async def start(self, args: argparse.Namespace) -> None:
        for i in range(args.first, args.first + args.count):
            api = args.api if args.api != "mixed" else ("sotw", "delta")[i % 2]
            sim = Sim(args.target, args.token, i, api)
            self.sims.append(sim)
            self.tasks[sim] = asyncio.create_task(sim.run())
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # a gentle ramp, like Envoys starting over a few seconds

    async def status(self) -> None:
        while True:
            errors = [s.last_error for s in self.sims if s.last_error]
            reconnects = sum(s.reconnects for s in self.sims)
            say({"synced": sum(s.synced for s in self.sims), "reconnects": reconnects, "error": errors[:1]})
            await asyncio.sleep(2)

    async def armed(self, k: int, type_url: str) -> None:
        t0 = time.time()
        say({"armed": k})
        while not all(s.seen.get(type_url, 0) > t0 for s in self.sims):
            await asyncio.sleep(0.005)
        last: dict[str, float] = {}
        for s in self.sims:
            last[s.api] = max(last.get(s.api, 0.0), s.seen[type_url])
        say({"done": k, "last": last})

    async def freeze(self) -> None:
        """Drop the clients that are not synced yet (the bench measures with those that are)."""
        for sim in [s for s in self.sims if not s.synced]:
            self.tasks.pop(sim).cancel()
            self.sims.remove(sim)
            if sim.client is not None:
                await sim.client.close()
        say({"frozen": len(self.sims)})


def say(msg: dict[str, Any]) -> None:
    print(json.dumps(msg), flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--api", choices=["sotw", "delta", "mixed"], default="mixed")
    args = ap.parse_args()
    fleet = Fleet()
    await fleet.start(args)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    background = [asyncio.create_task(fleet.status())]
    while line := await reader.readline():
        cmd = json.loads(line)
        work = fleet.freeze() if "freeze" in cmd else fleet.armed(cmd["arm"], SHORT[cmd["type"]])
        background.append(asyncio.create_task(work))
    for t in [*fleet.tasks.values(), *background]:
        t.cancel()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    asyncio.run(main())
