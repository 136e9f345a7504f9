"""The Telemetry API and MeshConfig telemetry settings through real Envoys (a control plane, three
``mizzen run`` workloads with the echo backend, requests from this test through the client's sidecar).

The mesh.yaml sets ``accessLogEncoding: JSON``, so every file log line is a JSON object. Each test applies
its Telemetry resources, waits until every proxy ACKed the push, sends traffic, reads the workloads' own
access-log files (what ``mizzen logs --proxy`` reads) and the control plane's trace store, and deletes its
resources again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec: {selector: {app: ratings}, ports: [{name: http, port: 9080}]}
"""
MESH_YAML = "accessLogEncoding: JSON\n"
REVIEWS = "http://reviews.default.svc.cluster.local:9080"
RATINGS = "http://ratings.default.svc.cluster.local:9080"
TELEMETRIES = "/apis/telemetry.istio.io/v1/namespaces/{ns}/telemetries/{name}"
# A changed listener keeps serving the connections it already has on its old filter chains (Envoy's drain;
# the agent runs Envoy with Istio's `--drain-time-s 45 --drain-strategy immediate`): the next response on a
# pooled connection is served with the old access-log config and tells the client to close it. So after a
# push the test sends one request to each upstream, then waits out Envoy's 1 s file-log flush, so that those
# requests' lines are written before the test counts lines.
FLUSH_S = 1.5


@dataclass
class World:
    mesh: Mesh
    client: Workload
    reviews: Workload
    ratings: Workload

    def apply(self, text: str) -> None:
        self.mesh.apply(text)
        self._pushed()

    def delete(self, namespace: str, name: str) -> None:
        self.mesh.delete(TELEMETRIES.format(ns=namespace, name=name))
        self._pushed()

    def _pushed(self) -> None:
        """Every proxy ACKed; the pooled connections on old filter chains are used once, and so closed."""
        self.mesh.wait_synced(30)
        for upstream in (REVIEWS, RATINGS):
            assert self.client.get(upstream + "/after-push").status_code == 200
        time.sleep(FLUSH_S)

    def get(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.get(url, headers=headers)
        body: dict[str, Any] = response.json()
        body["_status"] = response.status_code
        return body


def telemetry(name: str, namespace: str, spec: str) -> str:
    body = "\n".join("  " + line for line in spec.strip().splitlines())
    return (
        f"apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n{body}\n"
    )


def log_lines(w: Workload) -> list[str]:
    path = Path(w.state()["logs"]["access"])
    return path.read_text().splitlines() if path.exists() else []


def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not observed within {timeout:.0f}s")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("telemetry-api")
    (home / "mesh.yaml").write_text(MESH_YAML)
    with controlplane(home) as cp, Mesh(cp) as mesh:
        mesh.apply(SERVICES)
        client = mesh.run("client", {"app": "client"}, wait=False)
        reviews = mesh.run("reviews-v1", {"app": "reviews", "version": "v1"}, wait=False)
        ratings = mesh.run("ratings-v1", {"app": "ratings", "version": "v1"}, wait=False)
        mesh.wait_running(client, reviews, ratings)
        mesh.wait_synced(30)
        yield World(mesh, client, reviews, ratings)


def test_mesh_json_encoding_writes_json_lines(world: World) -> None:
    """MeshConfig accessLogEncoding JSON, no Telemetry: the proxies' own files get one JSON object a line."""
    before = len(log_lines(world.reviews))
    marker = f"/json-{uuid.uuid4().hex}"
    assert world.get(REVIEWS + marker)["_status"] == 200
    until(lambda: any(marker in line for line in log_lines(world.reviews)[before:]), "reviews' inbound log line")
    entries = [json.loads(line) for line in log_lines(world.reviews)[before:]]
    [entry] = [e for e in entries if e["path"] == marker]
    assert entry["response_code"] == 200 and entry["method"] == "GET"


def test_telemetry_is_stored_and_listed(world: World) -> None:
    """`mizzen get telemetry` lists an applied Telemetry (the kind is stored and served, no longer skipped)."""
    world.apply(telemetry("listed", "default", "tracing: [{randomSamplingPercentage: 100}]"))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "get", "telemetry", "-n", "default"],
            env={**os.environ, **world.mesh.cp.env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "listed" in done.stdout
    finally:
        world.delete("default", "listed")


def test_disabling_access_logs_for_one_workload(world: World) -> None:
    """Mesh-wide logging on the `envoy` provider, disabled for ratings only: ratings' file stays as it was
    while reviews' file gets the new lines."""
    world.apply(telemetry("mesh-logs", "istio-system", "accessLogging: [{providers: [{name: envoy}]}]"))
    world.apply(
        telemetry(
            "ratings-off", "default", "selector: {matchLabels: {app: ratings}}\naccessLogging: [{disabled: true}]"
        )
    )
    try:
        ratings_before, reviews_before = len(log_lines(world.ratings)), len(log_lines(world.reviews))
        marker = f"/off-{uuid.uuid4().hex}"
        assert world.get(RATINGS + marker)["_status"] == 200
        assert world.get(REVIEWS + marker)["_status"] == 200
        until(lambda: any(marker in line for line in log_lines(world.reviews)[reviews_before:]), "reviews' log line")
        time.sleep(2.0)  # Envoy flushes file logs every second: ratings had time to write, had it logged
        assert log_lines(world.ratings)[ratings_before:] == []
    finally:
        world.delete("default", "ratings-off")
        world.delete("istio-system", "mesh-logs")
    # Deleted: ratings logs again (the push re-translated it).
    before = len(log_lines(world.ratings))
    marker = f"/on-{uuid.uuid4().hex}"
    assert world.get(RATINGS + marker)["_status"] == 200
    until(lambda: any(marker in line for line in log_lines(world.ratings)[before:]), "ratings logging again")


def test_cel_filter_logs_only_errors(world: World) -> None:
    """filter.expression `response.code >= 400` (Envoy's CEL access-log filter): only the 500 is logged."""
    spec = "accessLogging:\n- providers: [{name: envoy}]\n  filter: {expression: 'response.code >= 400'}"
    world.apply(telemetry("errors-only", "default", spec))
    try:
        before = len(log_lines(world.reviews))
        ok, failed = f"/ok-{uuid.uuid4().hex}", f"/fail-{uuid.uuid4().hex}"
        assert world.get(REVIEWS + ok)["_status"] == 200
        assert world.get(REVIEWS + failed + "?status=500")["_status"] == 500
        until(lambda: any(failed in line for line in log_lines(world.reviews)[before:]), "the 500's log line")
        time.sleep(1.5)
        entries = [json.loads(line) for line in log_lines(world.reviews)[before:]]
        assert entries and all(e["response_code"] >= 400 for e in entries), entries
        assert not any(ok in str(e["path"]) for e in entries)
    finally:
        world.delete("default", "errors-only")


def _trace(world: World, trace_id: str) -> dict[str, Any] | None:
    response = world.mesh.http.get(f"/api/mizzen/v1/traces/{trace_id}")
    return dict(response.json()) if response.status_code == 200 else None


def test_tracing_sampling_and_custom_literal_tag(world: World) -> None:
    """randomSamplingPercentage 0: no trace; 100 with a literal custom tag: the spans reach the control
    plane's trace store carrying the tag."""
    world.apply(telemetry("sampling", "default", "tracing: [{randomSamplingPercentage: 0}]"))
    try:
        unsampled = world.get(REVIEWS + "/zero")["headers"]
        unsampled_id = unsampled["x-b3-traceid"]
        spec = "tracing:\n- randomSamplingPercentage: 100\n  customTags: {team: {literal: {value: books}}}"
        world.apply(telemetry("sampling", "default", spec))
        sampled_id = world.get(REVIEWS + "/hundred")["headers"]["x-b3-traceid"]
        found: dict[str, Any] = {}

        def arrived() -> bool:
            trace = _trace(world, sampled_id)
            if trace is not None and len(trace["spans"]) >= 2:  # the client's and reviews' spans
                found.update(trace)
                return True
            return False

        until(arrived, "the sampled trace in the control plane's store", timeout=30)
        assert all(span["tags"].get("team") == "books" for span in found["spans"]), found["spans"]
        # Spans flush in order, so the earlier request's would have arrived by now had it been sampled.
        assert _trace(world, unsampled_id) is None
        assert unsampled.get("x-b3-sampled") == "0"
    finally:
        world.delete("default", "sampling")
