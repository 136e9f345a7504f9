"""Control-plane scale: 1000 services, 2000 simulated proxies (SotW and delta), and the real-Envoy figures.

    .venv/bin/python bench/scale.py [--services 1000] [--proxies 2000] [--api mixed|sotw|delta]
                                    [--repeats 10] [--step-timeout 600] [--envoys 50] [--envoy-services 100]

Simulated part, through a real control plane process (its own home):

1. apply ``--services`` services (each: a Service, a DestinationRule with subsets v1/v2, two WorkloadEntries);
2. connect ``--proxies`` simulated Envoys (``bench/simclients.py``, 500 per process; with ``mixed``
   alternately State of the World and delta), each subscribing and ACKing like Envoy, until all synced;
3. control-plane RSS;
4. apply -> all updated: a VirtualService edit, until every proxy has received its new routes (p50/p99
   over ``--repeats``, per protocol);
5. new endpoint -> all updated: a new WorkloadEntry for ``svc0``, until every proxy has new endpoints;
6. where a push's time goes: the control plane's own push path (translate the shared part once per scope,
   then each proxy's own resources, encode, snapshot) run in this process under cProfile.

Real-Envoy part (``bench/apply_latency.py``'s measurements, both ADS variants): ``--envoys`` Envoys on a
``--envoy-services`` mesh: apply -> all ACKed, new endpoint -> all ACKed, one more Envoy started -> it
ACKed CDS/EDS/LDS/RDS.

Every step prints progress at least every 5 s and has a time limit (``--step-timeout``): a step that runs
out says so, with how far it got, and the bench goes on with what does not depend on it. Issue 15's goals:
apply p99 <= 1 s at 1000 and <= 2 s at 2000 simulated proxies; RSS <= 600 MB at 1000 services / 2000
proxies; 50 Envoys p50 <= 50 ms / p99 <= 150 ms; new endpoint p50 <= 30 ms; Envoy start <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import apply_latency as al
import benchtools as bt
import httpx

from mizzen.config import load_text
from mizzen.testing.controlplane import RunningControlPlane, start_controlplane

HERE = Path(__file__).resolve().parent
PER_PROCESS = 500
T = TypeVar("T")


class StepTimeout(Exception):
    """A step ran out of time (already reported)."""


@dataclass
class Child:
    """One simclients.py process."""

    count: int
    proc: asyncio.subprocess.Process
    synced: int = 0
    errors: int = 0
    error: list[str] = field(default_factory=list)
    replies: dict[tuple[str, int], asyncio.Future[Any]] = field(default_factory=dict)

    async def read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            if "synced" in msg:
                self.synced, self.errors, self.error = msg["synced"], msg["errors"], msg["error"]
            for key in ("armed", "done"):
                if key in msg:
                    self.reply(key, msg[key]).set_result(msg)

    def reply(self, key: str, k: int) -> asyncio.Future[Any]:
        return self.replies.setdefault((key, k), asyncio.get_running_loop().create_future())

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())


def say(text: str) -> None:
    print(text, flush=True)


async def step(name: str, timeout: float, work: Awaitable[T], progress: Callable[[], str]) -> T:
    """Run one step with a time limit, printing its progress every 5 s."""
    say(f"step: {name} (limit {timeout:.0f} s)")
    started = time.monotonic()
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=5)
        if done:
            result = task.result()
            say(f"  done in {time.monotonic() - started:.1f} s")
            return result
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            task.cancel()
            say(f"  STEP TIMED OUT after {elapsed:.0f} s: {progress()}")
            raise StepTimeout(name)
        say(f"  ... {elapsed:.0f} s: {progress()}")


def percentiles(samples: list[float]) -> str:
    ms = sorted(x * 1000 for x in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"n={len(ms)} p50={statistics.median(ms):.1f} ms p99={p99:.1f} ms max={ms[-1]:.1f} ms"


# --- simulated part ----------------------------------------------------------------------------------
async def start_children(cp: RunningControlPlane, proxies: int, api: str) -> list[Child]:
    """simclients.py processes of at most PER_PROCESS proxies each (``mixed``: SotW and delta interleaved)."""
    processes = -(-proxies // PER_PROCESS)
    children = []
    first = 0
    for n in range(processes):
        count = proxies // processes + (n < proxies % processes)
        argv = [sys.executable, str(HERE / "simclients.py"), "--target", cp.xds_address, "--token", cp.token]
        argv += ["--first", str(first), "--count", str(count), "--api", api]
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(*argv, stdin=pipe, stdout=pipe)
        children.append(Child(count, proc))
        first += count
    return children


async def wait_synced(children: list[Child], total: int) -> None:
    while sum(c.synced for c in children) < total:
        if any(c.errors for c in children):
            raise SystemExit(f"simulated proxies failed: {[c.error for c in children if c.errors]}")
        await asyncio.sleep(0.5)


async def change_and_wait(children: list[Child], k: int, kind: str, change: Awaitable[None]) -> dict[str, float]:
    """Arm every child for ``kind``, make the change, return per protocol the time until all had it (s)."""
    for c in children:
        c.send({"arm": k, "type": kind})
    await asyncio.gather(*(c.reply("armed", k) for c in children))
    t0 = time.time()
    await change  # a coroutine not yet started: the change happens only now
    replies = await asyncio.gather(*(c.reply("done", k) for c in children))
    out: dict[str, float] = {}
    for msg in replies:
        for api, last in msg["last"].items():
            out[api] = max(out.get(api, 0.0), last - t0)
    return out


_ARMS = iter(range(1, 1 << 30))  # a fresh id for every arm/done exchange


async def measure_change(
    args: argparse.Namespace,
    children: list[Child],
    label: str,
    kind: str,
    change: Callable[[int], Awaitable[None]],
    state: Callable[[], str],
) -> None:
    """Repeat one change; print per protocol how long until every simulated proxy had it."""
    samples: dict[str, list[float]] = {}

    async def repeat() -> None:
        for k in range(args.repeats):
            per_api = await change_and_wait(children, next(_ARMS), kind, change(k))
            for api, seconds in per_api.items():
                samples.setdefault(api, []).append(seconds)
            await asyncio.sleep(0.2)

    def progress() -> str:
        return f"{max((len(v) for v in samples.values()), default=0)}/{args.repeats} done; {state()}"

    with contextlib.suppress(StepTimeout):
        await step(label, args.step_timeout, repeat(), progress)
    for api, values in sorted(samples.items()):
        say(f"  {label} [{args.proxies} proxies, {api}]: {percentiles(values)}")


async def simulated(args: argparse.Namespace, work: Path) -> None:
    cp = start_controlplane(work / "home")
    children: list[Child] = []
    readers: list[asyncio.Task[None]] = []
    http = httpx.AsyncClient(base_url=cp.address, headers=cp.headers(), timeout=args.step_timeout, trust_env=False)

    async def apply(text: str) -> None:
        docs = [r.to_json(server_fields=False) for r in load_text(text).resources]
        (await http.post("/api/mizzen/v1/apply", json={"documents": docs})).raise_for_status()

    def cp_state() -> str:
        return f"control plane RSS {bt.rss_mb(cp.process.pid):.0f} MB, CPU {bt.cpu_seconds(cp.process.pid):.1f} s"

    try:
        await step(f"apply {args.services} services", args.step_timeout, apply(al.mesh_yaml(args.services)), cp_state)
        children = await start_children(cp, args.proxies, args.api)
        readers = [asyncio.create_task(c.read()) for c in children]
        t0 = time.monotonic()
        await step(f"connect and sync {args.proxies} proxies ({args.api})", args.step_timeout,
                   wait_synced(children, args.proxies),
                   lambda: f"{sum(c.synced for c in children)}/{args.proxies} synced; {cp_state()}")  # fmt: skip
        say(f"  all {args.proxies} synced {time.monotonic() - t0:.1f} s after the first connected; {cp_state()}")
        rss = bt.rss_mb(cp.process.pid)
        say(f"control-plane RSS with {args.services} services / {args.proxies} proxies: {rss:.0f} MB "
            f"({rss / args.proxies:.2f} MB per proxy)")  # fmt: skip
        await measure_change(args, children, "apply -> all updated (VirtualService edit)", "RDS",
                             lambda k: apply(al.vs_yaml(10 + k % 80)), cp_state)  # fmt: skip
        await measure_change(args, children, "new endpoint -> all updated (WorkloadEntry)", "EDS",
                             lambda k: apply(al.endpoint_yaml(k)), cp_state)  # fmt: skip
        say(f"after the runs: {cp_state()}")
    except StepTimeout:
        say("simulated part stopped: a step ran out of time (see above)")
    finally:
        for c in children:
            with contextlib.suppress(ProcessLookupError):
                c.proc.terminate()
        for c in children:
            await c.proc.wait()
        for r in readers:
            r.cancel()
        await http.aclose()
        cp.stop()


# --- where a push's time goes ------------------------------------------------------------------------
def profile_push(services: int, proxies: int, sample: int = 20) -> None:
    """The control plane's push path in this process: shared part once, each proxy's own part, under cProfile."""
    from mizzen.controlplane.mesh import MeshState, _SharedCache  # the push path itself, not a model of it
    from mizzen.translate.model import MeshConfig

    say(f"step: where a full push's time goes ({services} services, {sample} proxies profiled)")
    state = MeshState(MeshConfig())
    for r in load_text(al.mesh_yaml(services)).resources:
        state.apply("ADDED", r)
    mesh = state.snapshot()
    proxies_ = [al.proxy(i) for i in range(sample)]
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    cache = _SharedCache(mesh)
    cache.full(proxies_[0])
    first = time.perf_counter() - t0
    for p in proxies_[1:]:
        cache.full(p)
    profiler.disable()
    rest = (time.perf_counter() - t0 - first) / max(1, sample - 1)
    say(f"  first proxy (translates and encodes the shared scope): {first * 1000:.0f} ms")
    say(f"  each further proxy (its own listeners and inbound, merge, snapshot): {rest * 1000:.1f} ms")
    say(f"  => one full push to {proxies} proxies of one scope ~ {(first + rest * (proxies - 1)):.1f} s of CPU")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"mizzen|protobuf|json", 18)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip() and not ln.startswith(("   Ordered", "   List"))]
    for line in lines[:26]:
        say("  " + line)


# --- real Envoys -----------------------------------------------------------------------------------
def real_envoys(args: argparse.Namespace, work: Path) -> None:
    for api in ("GRPC", "DELTA_GRPC"):
        say(f"step: {args.envoys} real Envoys ({api}), {args.envoy_services} services, {args.repeats} repeats")
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            cp = start_controlplane(Path(tmp) / "home")
            try:
                with httpx.Client(base_url=cp.address, headers=cp.headers(), trust_env=False, timeout=60) as http:
                    al.apply(http, al.mesh_yaml(args.envoy_services))
                started = time.monotonic()
                results = al.measure_envoys(cp, args.envoys, args.repeats, Path(tmp), api)
                for what, samples in results.items():
                    say(f"  {args.envoys} Envoys {api} {what}: {percentiles(samples)}")
                say(f"  ({time.monotonic() - started:.0f} s; control plane RSS {bt.rss_mb(cp.process.pid):.0f} MB)")
            except SystemExit as exc:  # a wait inside ran out of time: report it and go on
                say(f"  STEP FAILED: {exc}")
            finally:
                cp.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--proxies", type=int, default=2000)
    ap.add_argument("--api", choices=["mixed", "sotw", "delta"], default="mixed")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--step-timeout", type=float, default=600.0)
    ap.add_argument("--envoys", type=int, default=50, help="real Envoys (0: skip that part)")
    ap.add_argument("--envoy-services", type=int, default=100)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    say(
        f"scale: {args.services} services, {args.proxies} simulated proxies ({args.api}); {os.cpu_count()} cpus, "
        f"load average {bt.load_average()}"
    )
    with tempfile.TemporaryDirectory(prefix="mizzen-scale-") as tmp:
        if args.proxies:
            asyncio.run(simulated(args, Path(tmp)))
        if not args.no_profile:
            profile_push(args.services, args.proxies)
        if args.envoys:
            real_envoys(args, Path(tmp))
    say(f"load average at the end: {bt.load_average()}")


if __name__ == "__main__":
    main()
