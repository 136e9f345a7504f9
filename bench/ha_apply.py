"""Apply -> every proxy has the new routes: two replicas on one PostgreSQL vs one control plane on SQLite.

    .venv/bin/python bench/ha_apply.py [--proxies 100] [--services 20] [--repeats 20]

One run, the same mesh (``--services`` services with two WorkloadEntries each) and the same number of
simulated proxies (in-process ADS clients that subscribe like Envoy and ACK at once, as in
``apply_latency.py``), in two set-ups:

- ``sqlite``: one control plane on its SQLite file, every proxy connected to it;
- ``postgres-2``: two replicas on one throwaway PostgreSQL cluster, half the proxies on each; the
  VirtualService change is applied through replica A, so half the proxies get it through the database's
  change events (NOTIFY + catch-up read) on replica B.

Each sample is the time from just before the HTTP apply until every proxy has received the new route
configuration. The ratio of the medians is printed (issue 17's goal: below 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from apply_latency import SimProxy, applies_until_routed, mesh_yaml, proxy, report

from mizzen.config import load_text
from mizzen.testing.controlplane import RunningControlPlane, start_controlplane
from mizzen.testing.postgres import start_cluster


def _documents(text: str) -> list[dict[str, object]]:
    return [r.to_json(server_fields=False) for r in load_text(text).resources]


async def measure(replicas: list[RunningControlPlane], n: int, services: int, repeats: int) -> list[float]:
    """Apply through the first replica; proxies spread evenly over all of them."""
    first = replicas[0]
    http = httpx.AsyncClient(base_url=first.address, headers=first.headers(), timeout=60, trust_env=False)
    (await http.post("/api/mizzen/v1/apply", json={"documents": _documents(mesh_yaml(services))})).raise_for_status()
    sims = [SimProxy(replicas[i % len(replicas)], proxy(i)) for i in range(n)]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.synced.wait() for s in sims)), 180)
        return await applies_until_routed(http, sims, repeats, settle_s=0.2)
    finally:
        await http.aclose()
        for s in sims:
            s.task.cancel()
            await s.client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxies", type=int, default=100)
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    print(
        f"apply -> all {args.proxies} simulated proxies have the new routes, {args.services} services, "
        f"{args.repeats} applies per row (python {sys.version.split()[0]}, {os.cpu_count()} cpus)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cp = start_controlplane(Path(tmp) / "sqlite")
        try:
            sqlite = asyncio.run(measure([cp], args.proxies, args.services, args.repeats))
        finally:
            cp.stop()
    report("sqlite, one control plane", sqlite)
    pg = start_cluster()
    try:
        store = ("--store", pg.url(pg.create_database()), "--store-password-file", str(pg.password_file))
        with tempfile.TemporaryDirectory() as tmp:
            a = start_controlplane(Path(tmp) / "a", extra_args=store)
            try:
                b = start_controlplane(Path(tmp) / "b", extra_args=(*store, "--ca-dir", str(Path(tmp) / "a" / "ca")))
                try:
                    shared = asyncio.run(measure([a, b], args.proxies, args.services, args.repeats))
                finally:
                    b.stop()
            finally:
                a.stop()
    finally:
        pg.destroy()
    report("postgres, two replicas", shared)
    ratio = statistics.median(shared) / statistics.median(sqlite)
    print(f"ratio of medians (two replicas on PostgreSQL / one on SQLite): {ratio:.2f}x (goal < 2x)")


if __name__ == "__main__":
    main()
