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
   then each proxy's own resources, encode, snapshot) run in this process under cProfile, and what one
   connecting proxy costs (time, and memory the controller keeps for it).

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
import gc
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import tracemalloc
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
    reconnects: int = 0
    error: list[str] = field(default_factory=list)
    replies: dict[tuple[str, int], asyncio.Future[Any]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None
    dead: bool = False

    async def read(self) -> None:
        assert self.proc.stdout is not None
        try:
            await self._read_lines()
        finally:  # the process ended: nothing it owes will come, so fail what is awaited instead of hanging
            self.dead = True
            for future in self.replies.values():
                if not future.done():
                    future.set_exception(RuntimeError(f"simclients.py exited ({await self.proc.wait()})"))

    async def _read_lines(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            if "synced" in msg:
                self.synced, self.reconnects, self.error = msg["synced"], msg["reconnects"], msg["error"]
            for key in ("armed", "done"):
                if key in msg:
                    self.reply(key, msg[key]).set_result(msg)
            if "frozen" in msg:
                self.synced = int(msg["frozen"])
                self.reply("frozen", 0).set_result(msg)

    def reply(self, key: str, k: int) -> asyncio.Future[Any]:
        future = self.replies.setdefault((key, k), asyncio.get_running_loop().create_future())
        if self.dead and not future.done():
            future.set_exception(RuntimeError("simclients.py has exited"))
        return future

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
async def add_children(cp: RunningControlPlane, children: list[Child], first: int, target: int, api: str) -> None:
    """Start simclients.py processes for proxies ``first..target`` (at most PER_PROCESS each)."""
    total = target - first
    processes = -(-total // PER_PROCESS)
    for n in range(processes):
        count = total // processes + (n < total % processes)
        argv = [sys.executable, str(HERE / "simclients.py"), "--target", cp.xds_address, "--token", cp.token]
        argv += ["--first", str(first), "--count", str(count), "--api", api]
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(*argv, stdin=pipe, stdout=pipe)
        child = Child(count, proc)
        child.reader = asyncio.create_task(child.read())
        children.append(child)
        first += count


class MemoryGuard(Exception):
    """The control plane grew past ``--max-rss`` (the machine is shared: stop before it hurts)."""


async def wait_synced(children: list[Child], total: int, cp: RunningControlPlane, max_rss: float) -> None:
    while sum(c.synced for c in children) < total:
        if any(c.dead for c in children):
            raise RuntimeError("a simclients.py process exited (its error is above)")
        rss = bt.rss_mb(cp.process.pid)
        if rss > max_rss:
            raise MemoryGuard(f"control-plane RSS {rss:.0f} MB passed --max-rss {max_rss:.0f} MB")
        await asyncio.sleep(0.5)


async def freeze(children: list[Child]) -> int:
    """Drop the simulated proxies not synced yet; return how many remain."""
    for c in children:
        c.send({"freeze": True})
    replies = await asyncio.gather(*(c.reply("frozen", 0) for c in children))
    return sum(int(r["frozen"]) for r in replies)


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
    proxies = sum(c.synced for c in children)

    async def repeat() -> None:
        for _ in range(args.repeats):
            per_api = await change_and_wait(children, next(_ARMS), kind, change(next(_CHANGES)))
            for api, seconds in per_api.items():
                samples.setdefault(api, []).append(seconds)
            await asyncio.sleep(0.2)

    def progress() -> str:
        return f"{max((len(v) for v in samples.values()), default=0)}/{args.repeats} done; {state()}"

    with contextlib.suppress(StepTimeout):
        await step(f"{label} at {proxies} proxies", args.step_timeout, repeat(), progress)
    for api, values in sorted(samples.items()):
        say(f"  {label} [{args.services} services, {proxies} proxies, {api}]: {percentiles(values)}")


_CHANGES = iter(range(1 << 30))  # distinct VirtualService weights / WorkloadEntry names across stages


class Simulation:
    """A control plane, its mesh, and the simulated proxies connected to it so far."""

    def __init__(self, args: argparse.Namespace, cp: RunningControlPlane) -> None:
        self.args, self.cp = args, cp
        self.children: list[Child] = []
        self.http = httpx.AsyncClient(
            base_url=cp.address, headers=cp.headers(), timeout=args.step_timeout, trust_env=False
        )

    async def apply(self, text: str) -> None:
        docs = [r.to_json(server_fields=False) for r in load_text(text).resources]
        (await self.http.post("/api/mizzen/v1/apply", json={"documents": docs})).raise_for_status()

    def cp_state(self) -> str:
        pid = self.cp.process.pid
        return f"control plane RSS {bt.rss_mb(pid):.0f} MB, CPU {bt.cpu_seconds(pid):.1f} s"

    def progress(self, target: int) -> str:
        synced = sum(c.synced for c in self.children)
        reconnects = sum(c.reconnects for c in self.children)
        errors = next((c.error[0] for c in self.children if c.error), "")
        return f"{synced}/{target} synced, {reconnects} reconnects {errors[:160]}; {self.cp_state()}"

    async def stage(self, first: int, target: int) -> str:
        """Connect proxies up to ``target`` and measure; return why connecting stopped early ("" if it did not)."""
        args = self.args
        await add_children(self.cp, self.children, first, target, args.api)
        stopped, t0 = "", time.monotonic()
        try:
            synced = wait_synced(self.children, target, self.cp, args.max_rss)
            await step(f"connect and sync {target} proxies ({args.api})", args.step_timeout, synced,
                       lambda: self.progress(target))  # fmt: skip
            say(f"  {target} synced {time.monotonic() - t0:.1f} s after the stage began; {self.progress(target)}")
        except (StepTimeout, MemoryGuard) as exc:
            stopped = str(exc) if isinstance(exc, MemoryGuard) else "time limit"
            remaining = await freeze(self.children)
            say(f"  stopped connecting ({stopped}): measuring with the {remaining} synced proxies")
        rss, synced = bt.rss_mb(self.cp.process.pid), sum(c.synced for c in self.children)
        say(f"control-plane RSS with {args.services} services / {synced} proxies: {rss:.0f} MB "
            f"({rss / max(1, synced):.2f} MB per proxy)")  # fmt: skip
        if synced:
            await measure_change(args, self.children, "apply -> all updated (VirtualService edit)", "RDS",
                                 lambda k: self.apply(al.vs_yaml(10 + k % 80)), self.cp_state)  # fmt: skip
            await measure_change(args, self.children, "new endpoint -> all updated (WorkloadEntry)", "EDS",
                                 lambda k: self.apply(al.endpoint_yaml(k)), self.cp_state)  # fmt: skip
        return stopped

    async def close(self) -> None:
        for c in self.children:
            with contextlib.suppress(ProcessLookupError):
                c.proc.terminate()
        for c in self.children:
            await c.proc.wait()
            if c.reader is not None:
                c.reader.cancel()
        await self.http.aclose()
        self.cp.stop()


async def simulated(args: argparse.Namespace, work: Path) -> None:
    sim = Simulation(args, start_controlplane(work / "home"))
    try:
        mesh = al.mesh_yaml(args.services)
        await step(f"apply {args.services} services", args.step_timeout, sim.apply(mesh), sim.cp_state)
        first = 0
        for target in sorted(args.proxies):
            stopped = await sim.stage(first, target)
            first = target
            if stopped:
                say(f"simulated part: later stages skipped ({stopped})")
                break
        say(f"after the runs: {sim.cp_state()}")
    except RuntimeError as exc:
        say(f"simulated part stopped: {exc}")
    finally:
        await sim.close()


# --- where a push's time goes ------------------------------------------------------------------------
def profile_push(services: int, proxies: int, sample: int = 20) -> None:
    """The control plane's push path in this process, each half under its own cProfile: the shared scope
    (translated and encoded once per push) and each further proxy's own part (times ``proxies``)."""
    from mizzen.controlplane.mesh import MeshState
    from mizzen.controlplane.outputs import PushOutputs  # the push path itself, not a model of it
    from mizzen.translate.model import MeshConfig

    say(f"step: where a full push's time goes ({services} services, {sample} proxies profiled)")
    state = MeshState(MeshConfig())
    for r in load_text(al.mesh_yaml(services)).resources:
        state.apply("ADDED", r)
    mesh = state.snapshot()
    proxies_ = [al.proxy(i) for i in range(sample)]
    outputs = PushOutputs(mesh)
    first, shared = _profiled(lambda: outputs.full(proxies_[0]))
    rest, own = _profiled(lambda: [outputs.full(p) for p in proxies_[1:]])
    rest /= max(1, sample - 1)
    say(f"  the shared scope, once per push (translate + encode; under cProfile): {first * 1000:.0f} ms")
    say(f"  each further proxy (its own listeners and inbound, merge, snapshot; under cProfile): {rest * 1000:.1f} ms")
    for n in sorted({1000, 2000, proxies} - {0}):
        say(f"  => a full push to {n} proxies of one scope ~ {first + rest * (n - 1):.1f} s of CPU (under cProfile)")
    for label, stats in (("shared scope", shared), ("per proxy", own)):
        say(f"  profile, {label} (cumulative):")
        for line in stats[:16]:
            say("    " + line)
    connect_path(mesh, proxies_)


def _profiled(work: Callable[[], object]) -> tuple[float, list[str]]:
    """Seconds ``work`` took under cProfile, and the profile's top lines (Mizzen, protobuf, json)."""
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.runcall(work)
    elapsed = time.perf_counter() - t0
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"mizzen|protobuf|json|builtins", 24)
    lines = [ln for ln in out.getvalue().splitlines() if ln.lstrip()[:1].isdigit() or "ncalls" in ln]
    return elapsed, lines


def connect_path(mesh: Any, proxies: list[Any], sample: int = 20) -> None:
    """A connecting proxy: MeshController.on_connect reuses the snapshot's shared outputs (built once)."""
    from mizzen.controlplane.outputs import PushOutputs

    outputs = PushOutputs(mesh)
    outputs.full(proxies[0])  # the shared part, as the first proxy of the scope pays it
    t0 = time.perf_counter()
    for p in proxies[1:sample]:
        outputs.full(p)
    each = (time.perf_counter() - t0) / max(1, sample - 1)
    gc.collect()
    tracemalloc.start()
    kept = [outputs.full(p) for p in proxies[1:sample]]  # the controller keeps both parts and the snapshot
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] / max(1, sample - 1) / 1e6
    tracemalloc.stop()
    say(f"  a connecting proxy (on_connect, the snapshot's shared outputs reused): {each * 1000:.1f} ms of CPU, "
        f"{retained:.2f} MB kept per proxy ({len(kept)} measured)")  # fmt: skip


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
    ap.add_argument("--proxies", type=int, nargs="+", default=[1000, 2000], help="stages: connect up to each")
    ap.add_argument("--max-rss", type=float, default=6000, help="stop connecting when the control plane passes it (MB)")
    ap.add_argument("--api", choices=["mixed", "sotw", "delta"], default="mixed")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--step-timeout", type=float, default=600.0)
    ap.add_argument("--envoys", type=int, default=50, help="real Envoys (0: skip that part)")
    ap.add_argument("--envoy-services", type=int, default=100)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--workdir", type=Path, help="keep control-plane homes and logs here (default: a temp dir)")
    args = ap.parse_args()
    say(
        f"scale: {args.services} services, {'/'.join(map(str, args.proxies))} simulated proxies ({args.api}); "
        f"{os.cpu_count()} cpus, "
        f"load average {bt.load_average()}"
    )
    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mizzen-scale-")))
        work.mkdir(parents=True, exist_ok=True)
        if max(args.proxies) > 0:
            asyncio.run(simulated(args, work))
        if not args.no_profile:
            profile_push(args.services, max(args.proxies))
        if args.envoys:
            real_envoys(args, work)
    say(f"load average at the end: {bt.load_average()}")


if __name__ == "__main__":
    main()
