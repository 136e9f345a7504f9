"""Per-workload overhead beyond Envoy (issue 15 item 4): the agent's private memory and its CPU at idle.

For 1 and for 10 workloads on one control plane, "before" (the agent of a git ref, default ``main``,
extracted with ``git archive`` and put first on ``PYTHONPATH``), "after" (this tree) and "host agent" (this
tree with ``MIZZEN_HOST_AGENT=1``: one agent process for every workload, each ``mizzen run`` a bare relay)
run interleaved in one run. Each workload is started the way the user's ``mizzen`` console script does
it, from that tree's ``pyproject.toml``. Per workload: USS (``Private_*``), PSS and anonymous memory from
``smaps_rollup`` of every process that is neither Envoy nor the app (the agents; or the host agent and the
relays), summed and divided by the number of workloads, plus any child of those that is neither an Envoy
nor an app; then, after the mesh settles, CPU (scheduler runtime of every thread) and wake-ups (context
switches of every thread) over an idle window, and the control plane's own CPU over that window (all
workloads together: the agents' keepalive pings, scrape answers and checks cost it too).

The interpreter baseline is a bare ``python -c`` that only sleeps. Attribution: the same interpreter imports
the agent's dependencies one by one and prints USS/anonymous memory after each, and ``tracemalloc`` ranks
Python-heap allocations of the agent's imports by top-level package.

``python bench/agent_overhead.py [--before REF] [--workloads 1 10] [--idle 60]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchtools as bt

from mizzen.testing.controlplane import start_controlplane
from mizzen.testing.mesh import Mesh

REPO = Path(__file__).resolve().parent.parent
SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: w}\n"
    "spec: {selector: {app: w}, ports: [{name: http, port: 9080}]}\n"
)
ATTRIBUTION = (
    "asyncio",
    "click",
    "httpx",
    "cryptography.x509",
    "grpc",
    "mizzen.agent.commands",
    "mizzen.agent.services",
)
_ATTRIBUTE = """
import importlib, sys, tracemalloc
def mem():
    d = {}
    for line in open("/proc/self/smaps_rollup"):
        p = line.split()
        if len(p) > 1 and p[1].isdigit():
            d[p[0].rstrip(":")] = int(p[1])
    return (d["Private_Clean"] + d["Private_Dirty"]) / 1024, d["Anonymous"] / 1024
print("interpreter", *mem())
for name in sys.argv[1:]:
    before = len(sys.modules)
    importlib.import_module(name)
    print(name, *mem(), len(sys.modules) - before)
"""
_HEAP = """
import importlib, sys, tracemalloc
tracemalloc.start(64)
for name in sys.argv[1:]:
    importlib.import_module(name)
top = {}
for stat in tracemalloc.take_snapshot().statistics("traceback"):
    # the innermost frame that is a module's own code (not the import machinery) owns the allocation
    frame = next((f for f in reversed(stat.traceback) if not f.filename.startswith("<")), stat.traceback[0])
    parts = frame.filename.split("/site-packages/")[-1].split("/src/")[-1].split("/lib/python")[-1].split("/")
    if parts[0][:1].isdigit():  # the standard library: lib/python3.X/<module>
        parts = ["stdlib:" + parts[1].removesuffix(".py")]
    key = parts[0] if parts[0] != "mizzen" else "/".join(parts[:2]).removesuffix(".py")
    top[key] = top.get(key, 0) + stat.size
for key, size in sorted(top.items(), key=lambda kv: -kv[1])[:12]:
    print(key, size)
"""


@dataclass(frozen=True)
class Variant:
    """One agent to measure: its name, the console-script launcher, the environment it runs with."""

    name: str
    launcher: tuple[str, ...]
    pythonpath: str | None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Sample:
    """One variant at one workload count: per-workload figures (every agent-side process, summed, / n)."""

    uss: float
    pss: float
    anon: float
    others: float  # private MB of the agents' children other than Envoy and the app (per workload)
    cpu_ms_per_s: float  # per workload
    wakeups_per_s: float  # per workload
    processes: int  # agent-side processes in all
    cp_ms_per_s: float  # the control plane's idle CPU over the same window (all workloads, not per workload)


def smaps(pid: int) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` as field -> kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 1 and parts[1].isdigit():
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def wakeups(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of ``pid``."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            total += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
    return total


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def launcher_of(tree: Path) -> tuple[str, ...]:
    """How that tree's ``mizzen`` console script starts: ``python -c 'from MODULE import FUNC; FUNC()'``."""
    for line in (tree / "pyproject.toml").read_text().splitlines():
        if line.startswith("mizzen = "):
            module, func = line.split("=", 1)[1].strip().strip('"').split(":")
            code = f"import sys; sys.argv[0] = 'mizzen'; from {module} import {func}; {func}()"
            return (sys.executable, "-c", code)
    raise SystemExit(f"{tree}/pyproject.toml has no mizzen console script")


@contextmanager
def before_tree(ref: str) -> Iterator[Path]:
    """``ref``'s ``src`` and ``pyproject.toml`` in a temporary folder."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src", "pyproject.toml"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref}: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="mizzen-before-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


def measure(variant: Variant, count: int, idle_s: float) -> Sample:
    """Start ``count`` workloads with ``variant``'s agent, let them settle, measure memory then idle CPU."""
    cp = start_controlplane()  # this tree's control plane for every variant
    extra = {**dict(variant.env), **({"PYTHONPATH": variant.pythonpath} if variant.pythonpath else {})}
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)  # Mesh.run passes os.environ on to the workloads
    host_agents: set[int] = set()
    try:
        with Mesh(cp) as mesh:
            mesh.launcher = variant.launcher
            mesh.apply(SERVICE)
            loads = mesh.run_all([(f"w{i}", {"app": "w"}) for i in range(count)])
            mesh.wait_synced(120)
            time.sleep(5)  # certificates, first probes, first refresh: done before measuring
            states = [w.state() for w in loads]
            host_agents = {int(s["agentPid"]) for s in states if s.get("agentPid", s["pid"]) != s["pid"]}
            agents = sorted({int(s["pid"]) for s in states} | host_agents)
            mem = [smaps(p) for p in agents]
            known = {int(s["envoyPid"]) for s in states} | {int(s["appPid"]) for s in states}
            others = [c for p in agents for c in children(p) if c not in known]
            cp_pid = cp.process.pid
            cpu0, wake0, t0 = [bt.cpu_seconds(p) for p in agents], [wakeups(p) for p in agents], time.monotonic()
            cp0 = bt.cpu_seconds(cp_pid)
            time.sleep(idle_s)
            span = time.monotonic() - t0
            cp_cpu = (bt.cpu_seconds(cp_pid) - cp0) / span
            cpu = sum(bt.cpu_seconds(p) - c for p, c in zip(agents, cpu0, strict=True)) / span / count
            wake = sum(wakeups(p) - w for p, w in zip(agents, wake0, strict=True)) / span / count
    finally:
        cp.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for pid in host_agents:  # it leaves by itself once idle; never let it outlive the bench
            _stop_host_agent(pid)

    def mean(field: str) -> float:
        return sum(m[field] for m in mem) / 1024 / count

    return Sample(
        uss=mean("Private_Clean") + mean("Private_Dirty"),
        pss=mean("Pss"),
        anon=mean("Anonymous"),
        others=sum(bt.private_mb(c) for c in others) / count,
        cpu_ms_per_s=cpu * 1000,
        wakeups_per_s=wake,
        processes=len(agents),
        cp_ms_per_s=cp_cpu * 1000,
    )


def _stop_host_agent(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, 9)


def baseline() -> dict[str, int]:
    """The interpreter alone: a ``python -c`` that only sleeps."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.5)
        return smaps(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def attribution(variant: Variant) -> None:
    """Memory after each of the agent's big imports, and the Python heap of the agent's imports by package."""
    env = {**os.environ, **({"PYTHONPATH": variant.pythonpath} if variant.pythonpath else {})}
    print(f"\n{variant.name}: memory after each import (USS MB, anonymous MB, new modules)")
    steps = subprocess.run([sys.executable, "-c", _ATTRIBUTE, *ATTRIBUTION], env=env, capture_output=True, text=True)
    for line in steps.stdout.splitlines():
        name, *figures = line.split()
        print(f"  {name:<26} " + "  ".join(f"{float(x):7.1f}" if "." in x else f"{x:>5}" for x in figures))
    heap = subprocess.run([sys.executable, "-c", _HEAP, *ATTRIBUTION], env=env, capture_output=True, text=True)
    print(f"{variant.name}: Python heap after those imports, by package (tracemalloc, top 12)")
    for line in heap.stdout.splitlines():
        name, size = line.rsplit(" ", 1)
        print(f"  {name:<26} {int(size) / 2**20:7.2f} MB")


def main() -> None:
    """Measure, interleaved, and print before/after per workload count."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="main", help="git ref of the 'before' agent (default: main)")
    ap.add_argument("--workloads", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--idle", type=float, default=60.0, help="idle window in seconds (default 60)")
    args = ap.parse_args()
    base = baseline()
    print(
        "interpreter baseline (python -c, sleeping): "
        f"USS {(base['Private_Clean'] + base['Private_Dirty']) / 1024:.1f} MB, "
        f"PSS {base['Pss'] / 1024:.1f} MB, anonymous {base['Anonymous'] / 1024:.1f} MB"
    )
    with before_tree(args.before) as tree:
        variants = [
            Variant(f"before ({args.before})", launcher_of(tree), str(tree / "src")),
            Variant("after (this tree)", launcher_of(REPO), None),
            Variant(
                "host agent (this tree)",
                launcher_of(REPO),
                None,
                (("MIZZEN_HOST_AGENT", "1"), ("MIZZEN_HOST_AGENT_IDLE_SECONDS", "1")),
            ),
        ]
        results: dict[tuple[str, int], Sample] = {}
        for count in args.workloads:
            for variant in variants:  # interleaved: both variants at one count before the next count
                print(f"measuring {variant.name} with {count} workload(s) ...", flush=True)
                results[variant.name, count] = measure(variant, count, args.idle)
        print(f"\nper workload beyond Envoy (agent-side processes / n; idle window {args.idle:.0f} s)")
        heads = ("USS MB", "PSS MB", "anon MB", "others MB", "CPU ms/s", "wakeups/s", "procs", "CP ms/s")
        print(f"  {'variant':<22} {'n':>3} " + " ".join(f"{h:>9}" for h in heads))
        for count in args.workloads:
            for variant in variants:
                s = results[variant.name, count]
                print(
                    f"  {variant.name:<22} {count:>3} {s.uss:8.1f} {s.pss:8.1f} {s.anon:8.1f} {s.others:9.1f} "
                    f"{s.cpu_ms_per_s:9.2f} {s.wakeups_per_s:9.1f} {s.processes:9d} {s.cp_ms_per_s:9.2f}"
                )
        for variant in variants[:2]:  # the host agent imports what "after" imports
            attribution(variant)
    print("\ngoal (issue 15 item 4): <= 10 MB private per workload beyond Envoy, no CPU at idle")


if __name__ == "__main__":
    main()
