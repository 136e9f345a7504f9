"""Durability: SIGKILL in the middle of large applies loses nothing acknowledged and leaves no half batch."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen.store import SqliteStore
from mizzen.testing.controlplane import RunningControlPlane, restart, start_controlplane

BATCH = 2000

_WRITER = """
import sys
from mizzen.config.resource import Metadata, Resource
from mizzen.store import SqliteStore

store = SqliteStore(sys.argv[1])
batch, size = int(sys.argv[2]), int(sys.argv[3])
while True:
    docs = [Resource("networking.istio.io/v1", "VirtualService",
                     Metadata(name=f"b{batch}-{j}", labels={"batch": str(batch)}),
                     {"hosts": [f"h{j}.b{batch}"], "http": [{"route": [{"destination": {"host": f"h{j}"}}]}]})
            for j in range(size)]
    store.apply(docs)
    print(batch, flush=True)  # acknowledged: apply() returned, so the transaction is on disk
    batch += 1
"""


def _batches(objects: list[Any], label: Any) -> Counter[str]:
    return Counter(label(o) for o in objects)


def test_store_survives_sigkill_mid_transaction(tmp_path: Path) -> None:
    """A process killed while applying batches keeps every acknowledged batch whole and no partial one."""
    db = tmp_path / "mizzen.db"
    rng = random.Random(7)
    next_batch, size = 0, 500
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(next_batch), str(size)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        acked = [int(proc.stdout.readline()) for _ in range(2)]
        time.sleep(rng.uniform(0.0, 0.3))  # land somewhere inside a later transaction
        proc.kill()
        proc.wait()
        store = SqliteStore(db)
        try:
            counts = _batches(store.list("VirtualService"), lambda r: r.metadata.labels["batch"])
            for b in range(next_batch, acked[-1] + 1):
                assert counts[str(b)] == size, f"acknowledged batch {b} is incomplete"
            assert all(n == size for n in counts.values()), counts
            assert store.revision() == sum(counts.values()) == len(store.events_since(0))
            next_batch = max(int(b) for b in counts) + 1
        finally:
            store.close()


def _vs_batch(batch: int) -> dict[str, Any]:
    docs = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": f"b{batch}-{j}", "labels": {"batch": str(batch)}},
            "spec": {"hosts": [f"h{j}.b{batch}"], "http": [{"route": [{"destination": {"host": f"h{j}"}}]}]},
        }
        for j in range(BATCH)
    ]
    return {"documents": docs, "origins": [{"file": f"batch-{batch}.yaml", "lines": {}} for _ in docs]}


@pytest.mark.e2e
def test_controlplane_sigkill_during_large_apply(tmp_path: Path) -> None:
    """SIGKILL of the control plane during a 2000-document apply; after restart acknowledged files are whole."""
    cp = start_controlplane(tmp_path / "home")
    acked: list[int] = []
    sent: list[int] = []
    durations: list[float] = []
    stop = threading.Event()

    def writer(target: RunningControlPlane) -> None:
        with httpx.Client(base_url=target.address, headers=target.headers(), timeout=300) as client:
            batch = 0
            while not stop.is_set():
                sent.append(batch)
                started = time.monotonic()
                try:
                    r = client.post("/api/mizzen/v1/apply", json=_vs_batch(batch))
                except httpx.HTTPError:
                    return  # the control plane died under us: this batch is not acknowledged
                r.raise_for_status()
                durations.append(time.monotonic() - started)
                acked.append(batch)
                batch += 1

    thread = threading.Thread(target=writer, args=(cp,), daemon=True)
    thread.start()
    try:
        while len(acked) < 2 and thread.is_alive():
            time.sleep(0.05)
        assert len(acked) >= 2, cp.log()
        # Kill late in the next request, when the server is most likely inside the store transaction.
        in_flight = len(acked)
        while len(sent) <= in_flight:
            time.sleep(0.005)
        time.sleep(min(durations) * 0.8)
        cp.kill()
        stop.set()
        thread.join(60)
    finally:
        cp.kill()
    again = restart(cp)
    try:
        with httpx.Client(base_url=again.address, headers=again.headers(), timeout=60) as client:
            items = client.get("/apis/networking.istio.io/v1/virtualservices").json()["items"]
        counts = _batches(items, lambda o: o["metadata"]["labels"]["batch"])
        for b in acked:
            assert counts[str(b)] == BATCH, f"acknowledged batch {b} lost objects"
        assert set(counts) <= {str(b) for b in sent}
        assert all(n == BATCH for n in counts.values()), f"a half-applied batch: {counts}"
        one = next(o for o in items if o["metadata"]["name"] == "b0-7")
        assert one["spec"]["hosts"] == ["h7.b0"]
    finally:
        again.stop()
