"""Control-plane kill -9 and restart: how long until every real sidecar is SYNCED again, and whether traffic noticed.

    .venv/bin/python bench/resync.py [--workloads 6] [--repeats 5] [--down 1.0] [--before REF] [--after REF]

``--workloads`` ``mizzen run`` workloads (a client and echo servers, each a real Envoy behind its agent)
on one control plane; requests go through the client's sidecar every 20 ms all along. Each repeat
SIGKILLs the control plane, waits ``--down`` seconds (the proxies notice and retry), restarts it on the
same ports and times: restart -> control plane ready, and restart -> every proxy connected again and
SYNCED on every type. Issue 15's goal: every proxy SYNCED within 2.5 s, no request failing meanwhile.
``tests/e2e/test_resync.py`` asserts the resync and the requests; this prints the figures.

Before and after, interleaved: "before" is a git ref (default: where this branch left ``main``) and
"after" this tree (or ``--after REF``), each extracted with ``git archive`` and put first on
``PYTHONPATH`` for the control plane and the agents alike. The variants take turns, one mesh each per
round (``--rounds``), so a machine shared with other work slows both alike; ratios are after/before.
``--before ''`` measures this tree alone.

Bytecode: an installed ``mizzen`` has compiled ``.pyc`` files; this run gives both variants a bytecode
cache of their own (``PYTHONPYCACHEPREFIX`` in a temporary folder, warmed by the first start) even when
``PYTHONDONTWRITEBYTECODE`` is set; ``--source`` keeps the environment's setting (every start compiles).

``--down-idle S`` (after the repeats of the first round) keeps the control plane down ``S`` seconds and
prints the agents' wake-ups (context switches of every thread) per second and agent over the first 10 s
of the outage and over the rest: the reconnect must not become a hot loop.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchtools as bt
import httpx

from mizzen.testing.controlplane import restart, start_controlplane
from mizzen.testing.mesh import Mesh

REPO = Path(__file__).resolve().parent.parent
SERVICE = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
"""
STARTUP = re.compile(r"\(([0-9.]+ s after the process started: [^)]*)\)")


def say(text: str) -> None:
    print(text, flush=True)


class Traffic:
    """Requests through one sidecar every 20 ms in a thread; each outcome is kept."""

    def __init__(self, http_proxy: str) -> None:
        self.outcomes: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(http_proxy,), daemon=True)
        self._thread.start()

    def _run(self, http_proxy: str) -> None:
        with httpx.Client(proxy=http_proxy, trust_env=False, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    self.outcomes.append(client.get("http://echo:9080/").status_code)
                except httpx.HTTPError as exc:
                    self.outcomes.append(repr(exc))
                time.sleep(0.02)

    def stop(self) -> list[Any]:
        self._stop.set()
        self._thread.join(10)
        return self.outcomes


@dataclass(frozen=True)
class Variant:
    """One tree to measure: its name and the ``PYTHONPATH`` that selects it (None: the installed tree)."""

    name: str
    pythonpath: str | None


@dataclass
class Figures:
    """What one variant measured over every round."""

    ready: list[float] = field(default_factory=list)
    synced: list[float] = field(default_factory=list)
    requests: int = 0
    failed: list[Any] = field(default_factory=list)
    startups: list[str] = field(default_factory=list)
    wakeups: tuple[float, float] | None = None  # per agent and second: first 10 s of an outage, the rest


def all_synced(mesh: Mesh, ids: set[str]) -> bool:
    """Every proxy of ``ids`` connected to this control plane and ACKed every type it was sent."""
    try:
        items = {p["id"]: p for p in mesh.proxies()["items"] if p["connected"]}
    except (httpx.HTTPError, ValueError):
        return False
    if not ids <= items.keys():
        return False
    return all(
        items[i]["xds"][t]["status"] in ("SYNCED", "NOT SENT") for i in ids for t in ("CDS", "LDS", "EDS", "RDS")
    )


def repeat(mesh: Mesh, ids: set[str], down: float, timeout: float = 60.0) -> tuple[float, float, str]:
    """One kill -9 and restart; ``(restart -> ready, restart -> all SYNCED, start-up phases)``."""
    mesh.cp.kill()
    time.sleep(down)
    logged = len(mesh.cp.log())
    started = time.monotonic()
    mesh.cp = restart(mesh.cp, same_ports=True)
    ready = time.monotonic() - started
    while not all_synced(mesh, ids):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"proxies not all SYNCED {timeout:.0f} s after the restart")
        time.sleep(0.02)
    synced = time.monotonic() - started
    phases = STARTUP.search(mesh.cp.log()[logged:])
    return ready, synced, phases.group(1) if phases else ""


def wakeups(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of ``pid``."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            total += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
    return total


def down_idle(mesh: Mesh, agents: list[int], seconds: float) -> tuple[float, float]:
    """The control plane down ``seconds``: agents' wake-ups per second and agent, first 10 s and the rest."""
    mesh.cp.kill()
    t0, w0 = time.monotonic(), sum(wakeups(p) for p in agents)
    time.sleep(min(10.0, seconds))
    t1, w1 = time.monotonic(), sum(wakeups(p) for p in agents)
    time.sleep(max(0.0, seconds - 10.0))
    t2, w2 = time.monotonic(), sum(wakeups(p) for p in agents)
    mesh.cp = restart(mesh.cp, same_ports=True)
    n = len(agents)
    return (w1 - w0) / (t1 - t0) / n, (w2 - w1) / max(t2 - t1, 1e-9) / n


def measure(variant: Variant, args: argparse.Namespace, figures: Figures, idle: float) -> None:
    """One mesh with ``variant``'s control plane and agents: ``--repeats`` kill -9/restarts."""
    saved = os.environ.get("PYTHONPATH")
    if variant.pythonpath:  # the control plane and Mesh.run's workloads inherit it
        os.environ["PYTHONPATH"] = variant.pythonpath
    try:
        with tempfile.TemporaryDirectory(prefix="mz-resync-") as tmp:
            mesh = Mesh(start_controlplane(Path(tmp) / "home"))
            try:
                mesh.apply(SERVICE)
                client = mesh.run("client", {"app": "client"})
                echoes = [(f"echo-{i}", {"app": "echo", "version": f"v{i}"}) for i in range(1, args.workloads)]
                mesh.run_all(echoes)
                mesh.wait_synced(60)
                ids = {p["id"] for p in mesh.proxies()["items"]}
                traffic = Traffic(client.http_proxy)
                for _ in range(args.repeats):
                    ready, synced, phases = repeat(mesh, ids, args.down)
                    figures.ready.append(ready)
                    figures.synced.append(synced)
                    figures.startups.append(phases)
                    say(f"  {variant.name}: control plane ready {ready:.2f} s, all {len(ids)} proxies SYNCED "
                        f"{synced:.2f} s ({synced - ready:.2f} s after ready)")  # fmt: skip
                    time.sleep(1.0)
                outcomes = traffic.stop()
                figures.requests += len(outcomes)
                figures.failed += [o for o in outcomes if o != 200]
                if idle > 0:
                    agents = [int(w.state()["pid"]) for w in mesh.workloads]
                    figures.wakeups = down_idle(mesh, agents, idle)
            finally:
                mesh.close()
                mesh.cp.stop()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@contextmanager
def tree(ref: str) -> Iterator[Path]:
    """``ref``'s ``src`` in a temporary folder."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref}: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="mizzen-tree-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / "src"


def commit_of(ref: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], capture_output=True, text=True)
    return done.stdout.strip() or ref


def fork_point() -> str:
    """Where this branch left ``main`` (the default "before")."""
    done = subprocess.run(["git", "-C", str(REPO), "merge-base", "HEAD", "main"], capture_output=True, text=True)
    return done.stdout.strip() or "main"


def p50_max(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.2f} s, max {max(values):.2f} s"


def gaps(f: Figures) -> list[float]:
    """Control plane ready -> every proxy SYNCED, per restart (the agents' and proxies' part)."""
    return [s - r for s, r in zip(f.synced, f.ready, strict=True)]


def report(variants: list[Variant], results: dict[str, Figures], n_proxies: int) -> None:
    """Per variant: p50/max of each figure, failed requests; then after/before ratios."""
    for v in variants:
        f = results[v.name]
        after = gaps(f)
        say(f"\n{v.name} ({len(f.ready)} restarts)")
        say(f"  restart -> control plane ready: {p50_max(f.ready)}")
        say(f"  restart -> every proxy SYNCED ({n_proxies} real Envoys): {p50_max(f.synced)} (goal <= 2.5 s)")
        say(f"  control plane ready -> every proxy SYNCED: {p50_max(after)}")
        say(f"  requests through the client's sidecar meanwhile: {f.requests}, failed {len(f.failed)} {f.failed[:3]}")
        for phases in dict.fromkeys(p for p in f.startups if p):
            say(f"  start-up: {phases}")
        if f.wakeups is not None:
            say(f"  control plane down: agent wake-ups/s (per agent) {f.wakeups[0]:.1f} in the first 10 s, "
                f"{f.wakeups[1]:.1f} after")  # fmt: skip
    if len(variants) == 2:
        b, a = (results[v.name] for v in variants)
        for label, before, after in (
            ("restart -> ready", b.ready, a.ready),
            ("restart -> all SYNCED", b.synced, a.synced),
            ("ready -> all SYNCED", gaps(b), gaps(a)),
        ):
            ratio = statistics.median(after) / max(statistics.median(before), 1e-9)
            say(f"ratio after/before, {label} (p50): {ratio:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", type=int, default=6, help="mizzen run workloads (one is the client)")
    ap.add_argument("--repeats", type=int, default=5, help="kill -9/restarts per variant and round")
    ap.add_argument("--rounds", type=int, default=1, help="meshes per variant, taking turns")
    ap.add_argument("--down", type=float, default=1.0, help="seconds the control plane stays dead")
    ap.add_argument("--before", default=None, help="git ref of 'before' (default: the fork point from main)")
    ap.add_argument("--after", default=None, help="git ref of 'after' (default: this tree as it is)")
    ap.add_argument("--down-idle", type=float, default=0.0, help="seconds of outage to count wake-ups over")
    ap.add_argument("--source", action="store_true", help="no bytecode cache (see the module docstring)")
    args = ap.parse_args()
    before = fork_point() if args.before is None else args.before
    with ExitStack() as stack:
        if not args.source:
            os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            os.environ["PYTHONPYCACHEPREFIX"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="mz-pyc-"))
        variants = [Variant(f"before ({commit_of(before)})", str(stack.enter_context(tree(before))))] if before else []
        if args.after:
            variants.append(Variant(f"after ({commit_of(args.after)})", str(stack.enter_context(tree(args.after)))))
        else:
            variants.append(Variant("after (this tree)", None))
        bytecode = "none (--source)" if args.source else "cached"
        say(f"resync: {args.workloads} workloads, {args.repeats} kill -9/restarts x {args.rounds} round(s) per "
            f"variant, bytecode {bytecode}; load average {bt.load_average()}")  # fmt: skip
        results = {v.name: Figures() for v in variants}
        for r in range(args.rounds):
            for v in variants:
                measure(v, args, results[v.name], args.down_idle if r == 0 else 0.0)
        report(variants, results, args.workloads)
    say(f"load average at the end: {bt.load_average()}")


if __name__ == "__main__":
    main()
