"""Apply-to-all-proxies-acked latency through the real control plane.

    .venv/bin/python bench/apply_latency.py --envoys 10 50 --simulated 100 1000 --repeats 20 \
        [--xds-api GRPC DELTA_GRPC] [--services 20]

For each N: start a control plane (its own process and home), apply a Bookinfo-sized mesh (--services
services with two WorkloadEntries each), connect N proxies, then repeatedly apply a VirtualService change
and time from just before the HTTP apply until every proxy has ACKed the new route configuration.

- Real Envoys: Envoy 1.40 processes with Mizzen's bootstrap (as `mizzen run` writes it, no app), each
  reaching the control plane through the agent's real xDS proxy (one per Envoy, all in one helper thread
  here, where `mizzen run` gives each its own process); the time is when the control plane received the
  last proxy's ACK (recorded per ACK, read back from its API).
- Simulated proxies: in-process ADS clients that subscribe like Envoy (CDS/LDS wildcard, EDS for the
  clusters, RDS `http_proxy`) and ACK at once; the time is taken when each receives the new routes.

With real Envoys, two more figures per row: a new WorkloadEntry -> every Envoy ACKed the new endpoints
(``endpoint``), and one more Envoy started -> it ACKed CDS, EDS, LDS and RDS (``start``). ``--xds-api``
picks the ADS variant in the Envoys' bootstrap (State of the World ``GRPC`` or incremental ``DELTA_GRPC``).

Targets (issue "The mesh runs"): p50 <= 50 ms and p99 <= 200 ms at 50 proxies; <= 1 s at 1000 simulated.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from envoy.config.cluster.v3 import cluster_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchtools as bt

from mizzen.agent.bootstrap import AgentPaths, build_bootstrap
from mizzen.agent.envoy import find_envoy
from mizzen.agent.sds import SecretServer
from mizzen.agent.upstream import Upstream
from mizzen.agent.xdsproxy import XdsProxy
from mizzen.node import InboundPort, Proxy
from mizzen.security import sds, x509
from mizzen.testing.controlplane import RunningControlPlane, free_port, start_controlplane
from mizzen.xds import types as xt
from mizzen.xds.testing import AdsClient, FakeEnvoy


def mesh_yaml(services: int) -> str:
    docs = []
    for i in range(services):
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: svc{i}}}
spec: {{selector: {{app: svc{i}}}, ports: [{{name: http, port: 9080}}]}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc{i}}}
spec: {{host: svc{i}, subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]}}""")
        for v in ("v1", "v2"):
            docs.append(f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: svc{i}-{v}}}
spec: {{address: 127.0.0.1, ports: {{http: {20000 + i * 2 + (v == "v2")}}}, labels: {{app: svc{i}, version: {v}}}}}""")
    return "\n---\n".join(docs)


def vs_yaml(weight: int) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc0}}
spec:
  hosts: [svc0]
  http:
  - route:
    - {{destination: {{host: svc0, subset: v1}}, weight: {weight}}}
    - {{destination: {{host: svc0, subset: v2}}, weight: {100 - weight}}}
"""


def apply(http: httpx.Client, text: str) -> None:
    from mizzen.config import load_text

    docs = [r.to_json(server_fields=False) for r in load_text(text).resources]
    r = http.post("/api/mizzen/v1/apply", json={"documents": docs})
    r.raise_for_status()


def proxy(i: int) -> Proxy:
    return Proxy(
        id=f"bench-{i}.default",
        type="sidecar",
        name=f"bench-{i}",
        namespace="default",
        labels={"app": f"bench-{i}", "version": "v1"},
        http_proxy_port=free_port(),
        inbound=(InboundPort(9080, "http", "HTTP", free_port(), free_port()),),
    )


# --- real Envoys ---------------------------------------------------------------------------------
class Agents:
    """The agents' xDS proxies and SDS servers (real :class:`XdsProxy` and :class:`SecretServer` objects, one
    each per Envoy) on an event loop in a helper thread: each Envoy reaches the control plane through an agent
    and gets its workload certificate from it, as under `mizzen run`. Without SDS, every cluster with auto mTLS
    (all of them) waits for its secrets and Envoy never finishes warming: CDS stays un-ACKed and LDS is never
    asked for. The certificate is from a throwaway CA (no traffic flows; Envoy only needs the secrets)."""

    def __init__(self, cp: RunningControlPlane) -> None:
        self.cp = cp
        self.folder = Path(tempfile.mkdtemp(prefix="mz-bench-"))  # short: UNIX socket paths are limited
        self.loop = asyncio.new_event_loop()
        self._proxies: list[XdsProxy] = []
        self._secrets: list[SecretServer] = []
        self._ca_key = x509.generate_key()
        self._ca = x509.create_root("mizzen-bench", self._ca_key, days=1)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _workload_secrets(self, i: int) -> dict[str, dict[str, object]]:
        key = x509.generate_key()
        now = datetime.datetime.now(datetime.UTC)
        leaf = x509.sign_leaf(
            self._ca,
            self._ca_key,
            key,
            uris=[f"spiffe://cluster.local/ns/default/sa/bench-{i}"],
            not_before=now - datetime.timedelta(minutes=1),
            not_after=now + datetime.timedelta(hours=1),
        )
        return {
            sds.DEFAULT_SECRET: sds.tls_certificate_secret(leaf, key),
            sds.ROOT_SECRET: sds.validation_context_secret(self._ca),
        }

    def add(self, i: int) -> AgentPaths:
        """Start the agent of proxy ``i``; the socket paths its Envoy's bootstrap names."""
        paths = AgentPaths(*(str(self.folder / f"{kind}-{i}.sock") for kind in ("xds", "sds", "spans", "admin")))

        async def start() -> None:
            relay = XdsProxy(Upstream([("127.0.0.1", self.cp.xds_port)], None), lambda: self.cp.token)
            await relay.start(paths.xds)
            self._proxies.append(relay)
            secrets = SecretServer()
            await secrets.start(paths.sds)
            secrets.publish(proxy(i).node_id, self._workload_secrets(i))
            self._secrets.append(secrets)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(60)
        return paths

    def stop(self) -> None:
        async def stop_all() -> None:
            for proxy in self._proxies:
                await proxy.stop()
            for secrets in self._secrets:
                await secrets.stop()

        asyncio.run_coroutine_threadsafe(stop_all(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_envoys(
    agents: Agents, n: int, workdir: Path, api: str = "GRPC", first: int = 0
) -> list[subprocess.Popen[bytes]]:
    envoy = str(find_envoy())
    procs = []
    for i in range(first, first + n):
        boot = build_bootstrap(proxy(i), paths=agents.add(i), api_type=api)
        path = workdir / f"envoy-{i}.json"
        path.write_text(json.dumps(boot))
        procs.append(
            subprocess.Popen(
                [
                    envoy,
                    "-c",
                    str(path),
                    "--concurrency",
                    "1",
                    "-l",
                    "error",
                    "--disable-hot-restart",
                    "--drain-time-s",
                    "1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def all_acked(http: httpx.Client, n: int, kinds: tuple[str, ...] = ("RDS",)) -> float | None:
    """The time the last proxy ACKed the current config of ``kinds`` (epoch s), or None while some have not."""
    data = http.get("/api/mizzen/v1/proxies").json()
    items = data["items"]
    if not data["converged"] or len(items) != n:
        return None
    rows = [p["xds"][kind] for p in items for kind in kinds]
    if not all(r["status"] == "SYNCED" and (r["current"] or r["versionAcked"] == r["snapshotVersion"]) for r in rows):
        return None
    return max(float(r["lastAckTime"] or 0) for r in rows)


def not_synced(http: httpx.Client) -> str:
    """What keeps proxies from counting as synced: (kind, status, current) -> how many, and the push state."""
    data = http.get("/api/mizzen/v1/proxies").json()
    rows = [(kind, r.get("status"), r.get("current")) for p in data["items"] for kind, r in p["xds"].items()]
    counts: dict[str, int] = {}
    for kind, status, current in rows:
        if kind in ("CDS", "EDS", "LDS", "RDS") and (status != "SYNCED" or not current):
            key = f"{kind} {status} current={current}"
            counts[key] = counts.get(key, 0) + 1
    return f"{len(data['items'])} proxies, converged={data['converged']}, {counts}"


def endpoint_yaml(k: int) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: svc0-extra-{k}}}
spec: {{address: 127.0.0.1, ports: {{http: {30000 + k}}}, labels: {{app: svc0, version: v1}}}}
"""


def wait_acked(http: httpx.Client, n: int, kinds: tuple[str, ...] = ("RDS",), timeout: float = 120) -> float:
    """Poll gently (the poll itself costs the control plane CPU) until ``all_acked``; the ACK times are exact."""
    deadline = time.monotonic() + timeout
    while (last := all_acked(http, n, kinds)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"{n} proxies did not all ACK {'/'.join(kinds)} within {timeout:.0f} s")
        time.sleep(0.2)  # the figure is the last ACK's own time, so a slower poll only lengthens the run
    return last


def measure_envoys(
    cp: RunningControlPlane, n: int, repeats: int, workdir: Path, api: str = "GRPC"
) -> dict[str, list[float]]:
    """``apply``, ``endpoint`` and ``start`` latencies (s) with ``n`` real Envoys, and the control plane's CPU
    seconds per apply and per endpoint change (``apply cpu``, ``endpoint cpu``; the status polls included)."""
    agents = Agents(cp)
    procs = start_envoys(agents, n, workdir, api)
    http = httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=30, trust_env=False)
    try:
        deadline = time.monotonic() + 60
        while all_acked(http, n) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"{n} Envoys did not all sync within 60 s: {not_synced(http)}")
            time.sleep(0.2)
        samples: dict[str, list[float]] = {k: [] for k in ("apply", "endpoint", "start", "apply cpu", "endpoint cpu")}
        for k in range(repeats):
            time.sleep(0.2)  # let the previous change settle everywhere
            c0, t0 = bt.cpu_seconds(cp.process.pid), time.time()
            apply(http, vs_yaml(10 + k % 80))
            samples["apply"].append(wait_acked(http, n) - t0)
            samples["apply cpu"].append(bt.cpu_seconds(cp.process.pid) - c0)
        for k in range(repeats):
            time.sleep(0.2)
            c0, t0 = bt.cpu_seconds(cp.process.pid), time.time()
            apply(http, endpoint_yaml(k))
            samples["endpoint"].append(wait_acked(http, n, ("EDS",)) - t0)
            samples["endpoint cpu"].append(bt.cpu_seconds(cp.process.pid) - c0)
        for k in range(min(repeats, 10)):
            time.sleep(0.2)
            t0 = time.time()
            (extra,) = start_envoys(agents, 1, workdir, api, first=n + k)
            try:
                samples["start"].append(wait_acked(http, n + 1, ("CDS", "EDS", "LDS", "RDS")) - t0)
            finally:
                extra.terminate()
                extra.wait(10)
            deadline = time.monotonic() + 30
            while len(http.get("/api/mizzen/v1/proxies").json()["items"]) > n and time.monotonic() < deadline:
                time.sleep(0.05)
        return samples
    finally:
        http.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        agents.stop()


# --- simulated proxies -----------------------------------------------------------------------------
class SimProxy:
    """Subscribes like Envoy and ACKs everything; records when new routes arrive."""

    def __init__(self, cp: RunningControlPlane, p: Proxy) -> None:
        from mizzen.node import node_metadata

        meta = node_metadata(p, admin="unix:/nonexistent", version="bench")
        self.client = AdsClient(f"127.0.0.1:{cp.xds_port}", token=cp.token, envoy=FakeEnvoy(p.node_id, metadata=meta))
        self.route_version = ""
        self.route_changed = asyncio.Event()
        self.synced = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        c = self.client
        c.subscribe(xt.CLUSTER)
        c.subscribe(xt.LISTENER)
        while True:
            resp = await c.receive(timeout=3600)
            c.send(c.envoy.ack(resp))
            if resp.type_url == xt.CLUSTER:
                names = []
                for any_ in resp.resources:
                    cl = cluster_pb2.Cluster()
                    any_.Unpack(cl)
                    if cl.type == cluster_pb2.Cluster.EDS:
                        names.append(cl.name)
                c.subscribe(xt.ENDPOINT, names)
            elif resp.type_url == xt.LISTENER:
                c.subscribe(xt.ROUTE, ["http_proxy"])
            elif resp.type_url == xt.ROUTE:
                self.route_version = resp.version_info
                self.synced.set()
                self.route_changed.set()


async def applies_until_routed(
    http: httpx.AsyncClient, sims: list[SimProxy], repeats: int, settle_s: float = 0.0
) -> list[float]:
    """Seconds from each VirtualService apply until every simulated proxy received the new routes."""
    from mizzen.config import load_text

    samples = []
    for k in range(repeats):
        await asyncio.sleep(settle_s)  # let the previous change settle everywhere
        for s in sims:
            s.route_changed.clear()
        docs = [r.to_json(server_fields=False) for r in load_text(vs_yaml(10 + k % 80)).resources]
        t0 = time.perf_counter()
        (await http.post("/api/mizzen/v1/apply", json={"documents": docs})).raise_for_status()
        await asyncio.wait_for(asyncio.gather(*(s.route_changed.wait() for s in sims)), 120)
        samples.append(time.perf_counter() - t0)
    return samples


async def measure_simulated(cp: RunningControlPlane, n: int, repeats: int) -> list[float]:
    sims = [SimProxy(cp, proxy(i)) for i in range(n)]
    http = httpx.AsyncClient(base_url=cp.address, headers=cp.headers(), timeout=60, trust_env=False)
    try:
        await asyncio.wait_for(asyncio.gather(*(s.synced.wait() for s in sims)), 120)
        return await applies_until_routed(http, sims, repeats)
    finally:
        await http.aclose()
        for s in sims:
            s.task.cancel()
            await s.client.close()


def report(label: str, samples: list[float]) -> None:
    if not samples:
        return
    ms = sorted(x * 1000 for x in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(
        f"{label:<34} n={len(ms):<3} p50={statistics.median(ms):7.1f} ms  p99={p99:7.1f} ms  max={ms[-1]:7.1f} ms",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envoys", type=int, nargs="*", default=[10, 50])
    ap.add_argument("--simulated", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--xds-api", nargs="*", default=["GRPC"], choices=["GRPC", "DELTA_GRPC"])
    args = ap.parse_args()
    print(
        f"apply -> all proxies ACKed, {args.services} services, {args.repeats} applies per row "
        f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {bt.load_average()})"
    )
    for api in args.xds_api:
        for n in args.envoys:
            with tempfile.TemporaryDirectory() as tmp:
                cp = start_controlplane(Path(tmp) / "home")
                try:
                    with httpx.Client(base_url=cp.address, headers=cp.headers(), trust_env=False) as http:
                        apply(http, mesh_yaml(args.services))
                    for what, samples in measure_envoys(cp, n, args.repeats, Path(tmp), api).items():
                        report(f"{n} Envoys {api}: {what}", samples)
                finally:
                    cp.stop()
    for n in args.simulated:
        with tempfile.TemporaryDirectory() as tmp:
            cp = start_controlplane(Path(tmp) / "home")
            try:
                with httpx.Client(base_url=cp.address, headers=cp.headers(), trust_env=False) as http:
                    apply(http, mesh_yaml(args.services))
                report(f"simulated proxies: {n}", asyncio.run(measure_simulated(cp, n, args.repeats)))
            finally:
                cp.stop()


if __name__ == "__main__":
    main()
