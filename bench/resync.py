"""Control-plane kill -9 and restart: how long until every real sidecar is SYNCED again, and whether traffic noticed.

    .venv/bin/python bench/resync.py [--workloads 6] [--repeats 5] [--down 1.0]

``--workloads`` ``mizzen run`` workloads (a client and echo servers, each a real Envoy behind its agent)
on one control plane; requests go through the client's sidecar every 20 ms all along. Each repeat
SIGKILLs the control plane, waits ``--down`` seconds (the proxies notice and retry), restarts it on the
same ports and times: restart -> control plane ready, and restart -> every proxy connected again and
SYNCED on every type. Issue 15's goal: every proxy SYNCED within 2.5 s, no request failing meanwhile.
``tests/e2e/test_resync.py`` asserts the resync and the requests; this prints the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchtools as bt
import httpx

from mizzen.testing.controlplane import restart, start_controlplane
from mizzen.testing.mesh import Mesh

SERVICE = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
"""


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


def repeat(mesh: Mesh, ids: set[str], down: float, timeout: float = 60.0) -> tuple[float, float]:
    """One kill -9 and restart; ``(restart -> ready, restart -> all SYNCED)`` in seconds."""
    mesh.cp.kill()
    time.sleep(down)
    started = time.monotonic()
    mesh.cp = restart(mesh.cp, same_ports=True)
    ready = time.monotonic() - started
    while not all_synced(mesh, ids):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"proxies not all SYNCED {timeout:.0f} s after the restart")
        time.sleep(0.02)
    return ready, time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", type=int, default=6, help="mizzen run workloads (one is the client)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--down", type=float, default=1.0, help="seconds the control plane stays dead")
    args = ap.parse_args()
    say(f"resync: {args.workloads} workloads, {args.repeats} kill -9/restart; load average {bt.load_average()}")
    with tempfile.TemporaryDirectory(prefix="mz-resync-") as tmp:
        mesh = Mesh(start_controlplane(Path(tmp) / "home"))
        try:
            mesh.apply(SERVICE)
            client = mesh.run("client", {"app": "client"})
            mesh.run_all([(f"echo-{i}", {"app": "echo", "version": f"v{i}"}) for i in range(1, args.workloads)])
            mesh.wait_synced(60)
            ids = {p["id"] for p in mesh.proxies()["items"]}
            traffic = Traffic(client.http_proxy)
            readies, synced = [], []
            for n in range(args.repeats):
                ready, done = repeat(mesh, ids, args.down)
                readies.append(ready)
                synced.append(done)
                say(f"  repeat {n + 1}: control plane ready {ready:.2f} s, all {len(ids)} proxies SYNCED {done:.2f} s "
                    f"({done - ready:.2f} s after ready)")  # fmt: skip
                time.sleep(1.0)
            outcomes = traffic.stop()
            failed = [o for o in outcomes if o != 200]
            say(f"restart -> control plane ready: p50 {statistics.median(readies):.2f} s, max {max(readies):.2f} s")
            say(f"restart -> every proxy SYNCED ({len(ids)} real Envoys): p50 {statistics.median(synced):.2f} s, "
                f"max {max(synced):.2f} s (goal <= 2.5 s)")  # fmt: skip
            after = [s - r for s, r in zip(synced, readies, strict=True)]
            say(f"control plane ready -> every proxy SYNCED (the proxies' and agents' part): "
                f"p50 {statistics.median(after):.2f} s, max {max(after):.2f} s")  # fmt: skip
            say(f"requests through the client's sidecar meanwhile: {len(outcomes)}, failed {len(failed)} {failed[:3]}")
        finally:
            mesh.close()
            mesh.cp.stop()
    say(f"load average at the end: {bt.load_average()}")


if __name__ == "__main__":
    main()
